"""Submit, resume and collect provider batches for one model: the core the gateway drives.

`collect` takes the requests a call could not answer from the request log, polls the batches that
already hold some of them (a crashed or earlier attempt submitted them: their ids are in
`llm_batch_items`), submits the rest as one new batch (recorded before anything waits on it), and
waits for every batch to end, at most `max_wait_s`; past that it raises `BatchPendingError` and the
batches stay open for the next attempt. The caller logs the answers, then `mark_collected`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from apigen_pipeline.llm.batch.api import BatchAPI, ItemOutcome
from apigen_pipeline.llm.batch.store import BatchStore, SubmittedItem
from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.types import ErrorKind, LLMRequest

logger = logging.getLogger(__name__)

# Poll failures that pass: the batch is asked again at the next poll.
_POLL_AGAIN = frozenset({ErrorKind.TRANSIENT, ErrorKind.TIMEOUT, ErrorKind.RATE_LIMIT, ErrorKind.UNREACHABLE})


class BatchPendingError(RuntimeError):
    """A provider batch did not end within the step's wait: retry the step later, it polls the same batch."""

    def __init__(self, message: str, provider_batch_ids: list[str]):
        super().__init__(message)
        self.provider_batch_ids = provider_batch_ids


@dataclass(frozen=True)
class Submission:
    """Who the batch items belong to (written with each submitted item)."""

    role: str
    domain: str
    batch: str
    run_id: str
    asset: str


@dataclass
class Collected:
    """Every requested key's outcome, and the provider batches to mark collected once the answers are logged."""

    outcomes: dict[str, ItemOutcome] = field(default_factory=dict)
    provider_batch_ids: list[str] = field(default_factory=list)


class BatchRunner:
    def __init__(self, store: BatchStore, api_for: Callable[[ModelRef], BatchAPI], *, max_wait_s: float,
                 poll_interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self._api_for = api_for
        self.max_wait_s = max_wait_s
        self.poll_interval_s = poll_interval_s
        self._clock = clock

    async def collect(self, target: ModelRef, requests: Mapping[str, LLMRequest], who: Submission) -> Collected:
        """`requests` by request key (the custom id). Raises `BatchPendingError` past the wait."""
        started = self._clock()
        collected = Collected()
        try:
            api = self._api_for(target)
        except ProviderError as error:  # no key: the live path fails the same way, loudly
            collected.outcomes.update({key: ItemOutcome(problem=str(error)) for key in requests})
            return collected
        try:
            open_items = await asyncio.to_thread(self.store.open_items, list(requests), target)
            by_batch: dict[str, dict[str, LLMRequest]] = {}
            for key, item in open_items.items():
                by_batch.setdefault(item.provider_batch_id, {})[key] = requests[key]
            for batch_id, members in by_batch.items():
                logger.info("resuming provider batch %s: %d %s requests submitted earlier", batch_id, len(members),
                            who.role)
            fresh = {key: request for key, request in requests.items() if key not in open_items}
            if fresh:
                try:
                    batch_id = await api.submit(list(fresh.items()), target.model)
                except ProviderError as error:  # not submitted: these requests take the live path
                    logger.warning("provider batch not submitted (%s); %d requests go live", error, len(fresh))
                    collected.outcomes.update({key: ItemOutcome(problem=str(error)) for key in fresh})
                else:
                    await asyncio.to_thread(
                        self.store.record, [SubmittedItem(request_key=key, custom_id=key, provider_batch_id=batch_id)
                                            for key in fresh],
                        target, who.role, who.domain, who.batch, who.run_id, who.asset)
                    by_batch[batch_id] = fresh
                    logger.info("submitted provider batch %s: %d %s requests to %s", batch_id, len(fresh),
                                who.role, target.label)
            for batch_id, members in by_batch.items():
                outcomes: dict[str, ItemOutcome] | None = None
                if await self._wait(api, batch_id, started, list(by_batch)):
                    try:
                        outcomes = await api.results(batch_id, members, target.model)
                    except ProviderError as error:
                        logger.warning("results of provider batch %s unreadable: %s", batch_id, error)
                # A batch that cannot be read: its items take the live path, and it is done with.
                collected.outcomes.update(outcomes if outcomes is not None else
                                          {key: ItemOutcome(problem=f"batch {batch_id} unreadable") for key in members})
                collected.provider_batch_ids.append(batch_id)
        finally:
            await api.aclose()
        return collected

    def mark_collected(self, collected: Collected) -> None:
        for batch_id in collected.provider_batch_ids:
            self.store.mark_collected(batch_id)

    async def _wait(self, api: BatchAPI, batch_id: str, started: float, all_ids: list[str]) -> bool:
        """True once the batch ended; False when polling it fails for good (not a passing error)."""
        while True:
            try:
                if await api.ended(batch_id):
                    return True
            except ProviderError as error:
                if error.kind not in _POLL_AGAIN:
                    logger.warning("provider batch %s cannot be polled: %s", batch_id, error)
                    return False
                logger.info("polling provider batch %s failed (%s); polling again", batch_id, error)
            waited = self._clock() - started
            if waited >= self.max_wait_s:
                raise BatchPendingError(
                    f"provider batch {batch_id} not ended after {waited:.1f} s (batch_max_wait_s "
                    f"{self.max_wait_s:g}); a retry of the step polls it again", all_ids)
            await asyncio.sleep(min(self.poll_interval_s, self.max_wait_s - waited))
