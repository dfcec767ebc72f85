"""Submit, resume and collect provider batches for one model: the core the gateway drives.

`collect` takes the requests a call could not answer from the request log, polls the batches that
already hold some of them (a crashed or earlier attempt submitted them: their ids are in
`llm_batch_items`), submits the rest as one new batch and waits for every batch to end, at most
`max_wait_s`; past that it raises `BatchPendingError` and the batches stay open for the next attempt.
The caller logs the answers, then `mark_collected`.

A submission is paid for once: its intent (a submission id and the request keys) is written before
the provider is asked, and the batch's items with the intent resolved in one transaction after. An intent
still open (the process died in between, or the provider's answer to the create was lost) is looked up
at the provider first: adopted when found, abandoned (its requests submitted again) only when the
provider provably holds no such batch, and left open, the step pending, while that cannot be told yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from apigen_pipeline.llm.batch.api import BatchAPI, ItemOutcome
from apigen_pipeline.llm.batch.store import BatchStore, Submission, SubmissionIntent
from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.types import ErrorKind, LLMRequest

logger = logging.getLogger(__name__)

# Poll failures that pass: the batch is asked again at the next poll.
_POLL_AGAIN = frozenset({ErrorKind.TRANSIENT, ErrorKind.TIMEOUT, ErrorKind.RATE_LIMIT, ErrorKind.UNREACHABLE})
# Submit failures after which the provider may still have created the batch (the request went out, the
# answer was lost): the batch is looked up before its requests go anywhere else.
_MAYBE_CREATED = frozenset({ErrorKind.TRANSIENT, ErrorKind.TIMEOUT})

# Before a submission: (the fresh requests, the ones already in open batches) -> why not to submit the
# fresh ones (the budget), or None. Called once per `collect`.
Admit = Callable[[Mapping[str, LLMRequest], Mapping[str, LLMRequest]], Awaitable[str | None]]

__all__ = ["BatchPendingError", "BatchRunner", "Collected", "Submission"]


class BatchPendingError(RuntimeError):
    """A provider batch did not end within the step's wait (or a submission could not be confirmed at the
    provider yet): retry the step later, it polls the same batch."""

    def __init__(self, message: str, provider_batch_ids: list[str]):
        super().__init__(message)
        self.provider_batch_ids = provider_batch_ids


@dataclass
class Collected:
    """Every requested key's outcome, and the provider batches to mark collected once the answers are logged."""

    outcomes: dict[str, ItemOutcome] = field(default_factory=dict)
    provider_batch_ids: list[str] = field(default_factory=list)


@dataclass
class _Plan:
    """Which batch holds each request before waiting: open batches by id, and the undecided submissions."""

    by_batch: dict[str, dict[str, LLMRequest]] = field(default_factory=dict)
    undecided: list[str] = field(default_factory=list)  # submission ids, each with why it is undecided
    held: set[str] = field(default_factory=set)  # keys in an open batch or an undecided submission


class BatchRunner:
    def __init__(self, store: BatchStore, api_for: Callable[[ModelRef], BatchAPI], *, max_wait_s: float,
                 poll_interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self._api_for = api_for
        self.max_wait_s = max_wait_s
        self.poll_interval_s = poll_interval_s
        self._clock = clock

    async def collect(self, target: ModelRef, requests: Mapping[str, LLMRequest], who: Submission,
                      admit: Admit | None = None) -> Collected:
        """`requests` by request key (the custom id). Raises `BatchPendingError` past the wait."""
        started = self._clock()
        collected = Collected()
        try:
            api = self._api_for(target)
        except ProviderError as error:  # no key: the live path fails the same way, loudly
            collected.outcomes.update({key: ItemOutcome(problem=str(error)) for key in requests})
            return collected
        try:
            plan = await self._plan(api, target, requests, who)
            fresh = {key: request for key, request in requests.items() if key not in plan.held}
            resumed = {key: requests[key] for members in plan.by_batch.values() for key in members}
            refusal = await admit(fresh, resumed) if admit is not None and (fresh or resumed) else None
            if fresh and refusal is not None:
                logger.warning("provider batch not submitted (%s): %d %s requests", refusal, len(fresh), who.role)
                collected.outcomes.update({key: ItemOutcome(problem=refusal, refused=ErrorKind.BUDGET)
                                           for key in fresh})
            elif fresh:
                await self._submit(api, target, fresh, who, plan, collected)
            await self._read(api, target, plan, started, collected)
            if plan.undecided:
                raise BatchPendingError(
                    f"provider batch submission(s) to {target.label} neither found nor provably absent at the "
                    f"provider yet ({'; '.join(plan.undecided)}); a retry of the step looks again", list(plan.by_batch))
        finally:
            await api.aclose()
        return collected

    async def _read(self, api: BatchAPI, target: ModelRef, plan: _Plan, started: float, collected: Collected) -> None:
        """Wait for each planned batch to end and read its results (raises `BatchPendingError` past the wait)."""
        all_ids = list(plan.by_batch)
        for batch_id, members in plan.by_batch.items():
            outcomes: dict[str, ItemOutcome] | None = None
            if await self._wait(api, batch_id, started, all_ids):
                try:
                    outcomes = await api.results(batch_id, members, target.model)
                except ProviderError as error:
                    logger.warning("results of provider batch %s unreadable: %s", batch_id, error)
            # A batch that cannot be read: its items take the live path, and it is done with.
            collected.outcomes.update(outcomes if outcomes is not None else
                                      {key: ItemOutcome(problem=f"batch {batch_id} unreadable") for key in members})
            collected.provider_batch_ids.append(batch_id)

    async def _plan(self, api: BatchAPI, target: ModelRef, requests: Mapping[str, LLMRequest],
                    who: Submission) -> _Plan:
        """The open batches holding these requests, after resolving the open intents that hold any of them."""
        plan = _Plan()
        intents = await asyncio.to_thread(self.store.open_intents, target)
        for intent in (intent for intent in intents if requests.keys() & set(intent.request_keys)):
            batch_id = await self._resolve(api, target, intent, plan)
            if batch_id is None:
                plan.held.update(key for key in intent.request_keys if key in requests)
        open_items = await asyncio.to_thread(self.store.open_items, list(requests), target)
        for key, item in open_items.items():
            plan.by_batch.setdefault(item.provider_batch_id, {})[key] = requests[key]
            plan.held.add(key)
        for batch_id, members in plan.by_batch.items():
            logger.info("resuming provider batch %s: %d %s requests submitted earlier", batch_id, len(members),
                        who.role)
        return plan

    async def _resolve(self, api: BatchAPI, target: ModelRef, intent: SubmissionIntent,
                       plan: _Plan) -> str | bool | None:
        """Look an open intent up at the provider: its batch id once adopted (the items recorded), False once
        abandoned (the provider provably holds no such batch), None while undecided (the lookup failed, or a
        candidate cannot be told apart yet: noted in the plan)."""
        try:
            lookup = await api.find(intent.submission_id, frozenset(intent.request_keys), intent.created_at)
        except ProviderError as error:
            logger.warning("provider batch submission %s could not be looked up: %s", intent.submission_id, error)
            plan.undecided.append(f"{intent.submission_id}: lookup failed: {error}")
            return None
        if not lookup.decided:
            logger.info("provider batch submission %s: a candidate batch is still running", intent.submission_id)
            plan.undecided.append(f"{intent.submission_id}: a candidate batch is still running")
            return None
        recorded = await asyncio.to_thread(self.store.recorded_batches, lookup.batch_ids, target)
        found = [batch_id for batch_id in lookup.batch_ids if batch_id not in recorded]
        if not found:
            await asyncio.to_thread(self.store.abandon, intent)
            logger.info("provider batch submission %s: the provider holds no such batch; its %d requests may be "
                        "submitted again", intent.submission_id, len(intent.request_keys))
            return False
        if len(found) > 1:
            logger.warning("provider batch submission %s matches %d batches (%s); adopting the newest",
                           intent.submission_id, len(found), ", ".join(found))
        await asyncio.to_thread(self.store.record, intent, found[0], target)
        logger.info("adopted provider batch %s of submission %s (%d requests), created before it was recorded",
                    found[0], intent.submission_id, len(intent.request_keys))
        return found[0]

    async def _submit(self, api: BatchAPI, target: ModelRef, fresh: Mapping[str, LLMRequest], who: Submission,
                      plan: _Plan, collected: Collected) -> None:
        """Submit the fresh requests as one batch, its intent written first and resolved after."""
        intent = await asyncio.to_thread(self.store.begin, list(fresh), target, who)
        try:
            batch_id = await api.submit(list(fresh.items()), target.model, intent.submission_id)
        except ProviderError as error:
            # A lost answer may hide a created batch: look before sending these requests anywhere else.
            if error.kind in _MAYBE_CREATED:
                resolved = await self._resolve(api, target, intent, plan)
            else:
                await asyncio.to_thread(self.store.abandon, intent)
                resolved = False
            if isinstance(resolved, str):
                plan.by_batch[resolved] = dict(fresh)
            elif resolved is False:  # not submitted: these requests take the live path
                logger.warning("provider batch not submitted (%s); %d requests go live", error, len(fresh))
                collected.outcomes.update({key: ItemOutcome(problem=str(error)) for key in fresh})
            return
        await asyncio.to_thread(self.store.record, intent, batch_id, target)
        plan.by_batch[batch_id] = dict(fresh)
        logger.info("submitted provider batch %s: %d %s requests to %s", batch_id, len(fresh), who.role, target.label)

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
