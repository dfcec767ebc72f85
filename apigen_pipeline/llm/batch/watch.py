"""Which partitions' provider batches have all ended, asked of the providers with no step waiting on them:
what the ended-batches sensor relaunches (`apigen_pipeline.defs.automation.provider_batches`).

A partition is ready when every open batch it holds (items not yet read into the request log) has ended
at its provider. A batch whose model is no longer configured for batches, or whose poll fails, keeps its
partition waiting (it is reported, and asked again at the next evaluation).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from apigen_pipeline.llm.batch.api import BatchAPI, batch_api_for
from apigen_pipeline.llm.batch.store import BatchStore, OpenBatch, endpoint_of
from apigen_pipeline.llm.capabilities import EndpointCapabilities
from apigen_pipeline.llm.config import LLMSettings, ModelRef
from apigen_pipeline.llm.errors import ProviderError

logger = logging.getLogger(__name__)

Target = tuple[str, str, str]  # provider, model, endpoint (as `llm_batch_items` holds them)


@dataclass
class BatchWatch:
    """Per partition (domain, batch): the ids of its open batches, once all of them ended (`ready`), and
    why the others wait."""

    ready: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    waiting: dict[tuple[str, str], str] = field(default_factory=dict)


def batch_targets(settings: LLMSettings) -> dict[Target, ModelRef]:
    """The models routed through a provider batch, by what a batch item records of them."""
    return {(route.target.provider, route.target.model, endpoint_of(route.target)): route.target
            for route in settings.all_routes() if route.batch}


def default_api_for(target: ModelRef) -> BatchAPI:
    return batch_api_for(target, EndpointCapabilities())  # polling needs no detected capability


def watch_batches(store: BatchStore, settings: LLMSettings,
                  api_for: Callable[[ModelRef], BatchAPI] = default_api_for) -> BatchWatch:
    """Poll every open batch once (on a private event loop) and sort the partitions into ready and waiting."""
    return asyncio.run(_watch(store.open_batches(), batch_targets(settings), api_for))


async def _watch(batches: list[OpenBatch], targets: dict[Target, ModelRef],
                 api_for: Callable[[ModelRef], BatchAPI]) -> BatchWatch:
    by_target: dict[Target, list[OpenBatch]] = {}
    for batch in batches:
        by_target.setdefault((batch.provider, batch.model, batch.endpoint), []).append(batch)
    why_not: dict[str, str] = {}  # provider batch id -> why its partition waits
    for target, members in by_target.items():
        why_not.update(await _poll(targets.get(target), members, api_for))
    watch = BatchWatch()
    for batch in batches:
        partition = (batch.domain, batch.batch)
        if partition in watch.waiting:
            continue
        if batch.provider_batch_id in why_not:
            watch.waiting[partition] = f"{batch.provider_batch_id}: {why_not[batch.provider_batch_id]}"
            watch.ready.pop(partition, None)
        else:
            watch.ready.setdefault(partition, []).append(batch.provider_batch_id)
    return watch


async def _poll(target: ModelRef | None, batches: list[OpenBatch],
                api_for: Callable[[ModelRef], BatchAPI]) -> dict[str, str]:
    """Why each of these batches (of one model) is not known to have ended; absent when it ended."""
    if target is None:
        return {b.provider_batch_id: f"{b.provider}:{b.model} at {b.endpoint} is not configured for batches"
                for b in batches}
    try:
        api = api_for(target)
    except ProviderError as error:
        return {b.provider_batch_id: str(error) for b in batches}
    why: dict[str, str] = {}
    try:
        for batch in batches:
            try:
                if not await api.ended(batch.provider_batch_id):
                    why[batch.provider_batch_id] = "still running"
            except ProviderError as error:
                logger.warning("provider batch %s cannot be polled: %s", batch.provider_batch_id, error)
                why[batch.provider_batch_id] = f"poll failed: {error}"
    finally:
        await api.aclose()
    return why
