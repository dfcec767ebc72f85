"""What the batch runner needs from a provider's batch API, and what one item of a batch came back as."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from apigen_pipeline.llm.capabilities import EndpointCapabilities
from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.sdk_common import PLACEHOLDER_API_KEY
from apigen_pipeline.llm.types import ErrorKind, LLMRequest, LLMResponse


@dataclass(frozen=True)
class ItemOutcome:
    """One request's result in a batch: the provider's reply, or why there is none (errored, expired,
    cancelled, a malformed line). A failed item goes back to the live path."""

    response: LLMResponse | None = None
    problem: str | None = None
    # Not submitted and not to be sent live either (the budget): logged as not sent with this kind.
    refused: ErrorKind | None = None


# How much earlier than the intent's own clock a provider's `created_at` of its batch may read (clock skew):
# a lookup lists the provider's batches back to the intent's creation minus this.
LOOKUP_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class Lookup:
    """What a provider holds of one submission: the ids of its batches (normally one). `decided` is False
    while a candidate cannot be told apart yet (an Anthropic batch still running: its custom ids are only
    readable once it ended); with no batch found and `decided`, the provider provably holds none."""

    batch_ids: tuple[str, ...] = ()
    decided: bool = True


class BatchAPI(Protocol):
    """One provider endpoint's batch API. Items are (custom id, request); the custom id is the request key."""

    async def submit(self, items: Sequence[tuple[str, LLMRequest]], model: str, submission_id: str) -> str: ...

    async def find(self, submission_id: str, custom_ids: frozenset[str], since: datetime) -> Lookup:
        """The batch a submission created, if any; `since` is the intent's creation (naive UTC)."""
        ...

    async def ended(self, provider_batch_id: str) -> bool: ...

    async def results(self, provider_batch_id: str, requests: Mapping[str, LLMRequest],
                      model: str) -> dict[str, ItemOutcome]: ...

    async def aclose(self) -> None: ...


def api_key_for(target: ModelRef, base_url_env: str) -> str:
    """The key as the live providers find it: the named variable, or a placeholder for a custom endpoint."""
    key_env = target.key_env or ""
    custom_endpoint = target.base_url or os.environ.get(base_url_env)
    api_key = os.environ.get(key_env) or (PLACEHOLDER_API_KEY if custom_endpoint else None)
    if api_key is None:
        raise ProviderError(ErrorKind.AUTH, f"{target.provider}: {key_env} is not set")
    return api_key


def batch_api_for(target: ModelRef, capabilities: EndpointCapabilities) -> BatchAPI:
    """The batch API of the target's provider; its SDK is imported only when that provider is used."""
    if target.provider == "openai":
        from apigen_pipeline.llm.batch.openai_batch import OpenAIBatchAPI

        return OpenAIBatchAPI(target, capabilities)
    if target.provider == "anthropic":
        from apigen_pipeline.llm.batch.anthropic_batch import AnthropicBatchAPI

        return AnthropicBatchAPI(target)
    raise ValueError(f"provider '{target.provider}' has no batch API")
