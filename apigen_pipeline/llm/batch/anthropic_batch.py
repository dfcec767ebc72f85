"""Anthropic Message Batches over the official SDK: `messages.batches.create/retrieve/results`.

Each request is `{"custom_id", "params"}` with the parameters the live provider would send; each
results line is `{"custom_id", "result": {"type": "succeeded", "message"}}` or a result of type
`errored`, `expired` or `canceled`.

Message Batches carry no metadata, so a submission whose batch id was never recorded (a crash right after
`messages.batches.create`) is found by what it holds: `messages.batches.list` back to the intent's
creation, the batches with as many requests as the intent, and of those the ended ones whose results
hold exactly the intent's custom ids (its request keys: no other submission holds the same set while
this one is open). A candidate still running cannot be told apart yet: the lookup is undecided.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from apigen_pipeline.llm.batch.api import LOOKUP_SKEW, ItemOutcome, Lookup, api_key_for
from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.providers.anthropic_provider import llm_response_from_message, messages_create_params
from apigen_pipeline.llm.sdk_common import classify_sdk_error, detail_scrubber, endpoint_label, sdk_timeout
from apigen_pipeline.llm.types import LLMRequest


class AnthropicBatchAPI:
    def __init__(self, target: ModelRef):
        api_key = api_key_for(target, "ANTHROPIC_BASE_URL")
        self._sdk = importlib.import_module("anthropic")  # seconds to import: only runs that use it pay
        self._target = target
        self._scrub = detail_scrubber(api_key)
        self._client = self._sdk.AsyncAnthropic(api_key=api_key, base_url=target.base_url, max_retries=0,
                                                timeout=sdk_timeout(self._sdk, target.timeout_s))

    async def submit(self, items: Sequence[tuple[str, LLMRequest]], model: str, submission_id: str) -> str:
        requests = [{"custom_id": custom_id, "params": messages_create_params(request, model)[0]} for custom_id, request in items]
        try:
            batch = await self._client.messages.batches.create(requests=requests)
        except Exception as exc:  # noqa: BLE001 - every SDK failure must come out classified
            raise self._classify(exc) from None
        return batch.id

    async def find(self, submission_id: str, custom_ids: frozenset[str], since: datetime) -> Lookup:
        earliest = since.replace(tzinfo=UTC) - LOOKUP_SKEW
        found: list[str] = []
        undecided = False
        try:
            async for batch in self._client.messages.batches.list(limit=100):
                if batch.created_at < earliest:
                    break
                counts = batch.request_counts
                held = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
                if held != len(custom_ids):
                    continue
                if batch.processing_status != "ended":
                    undecided = True
                    continue
                results = await self._client.messages.batches.results(batch.id)
                if {entry.custom_id async for entry in results} == custom_ids:
                    found.append(batch.id)
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc) from None
        return Lookup(tuple(found), decided=bool(found) or not undecided)

    async def ended(self, provider_batch_id: str) -> bool:
        try:
            batch = await self._client.messages.batches.retrieve(provider_batch_id)
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc) from None
        return batch.processing_status == "ended"

    async def results(self, provider_batch_id: str, requests: Mapping[str, LLMRequest],
                      model: str) -> dict[str, ItemOutcome]:
        outcomes: dict[str, ItemOutcome] = {}
        try:
            async for entry in await self._client.messages.batches.results(provider_batch_id):
                request = requests.get(entry.custom_id)
                if request is not None:
                    outcomes[entry.custom_id] = self._outcome(entry.result, request, model)
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc) from None
        for custom_id in requests.keys() - outcomes.keys():
            outcomes[custom_id] = ItemOutcome(problem=f"no result in batch {provider_batch_id}")
        return outcomes

    def _outcome(self, result: Any, request: LLMRequest, model: str) -> ItemOutcome:
        if result.type != "succeeded":
            error = getattr(result, "error", None)
            detail = getattr(getattr(error, "error", None), "message", None) if error is not None else None
            return ItemOutcome(problem=self._scrub(f"batch item {result.type}" + (f": {detail}" if detail else "")))
        schema_tool = request.response_schema_name if request.response_schema is not None else None
        try:
            reply = llm_response_from_message(result.message.to_dict(), schema_tool, messages_create_params(request, model)[1])
        except ProviderError as exc:
            return ItemOutcome(problem=f"batch item unreadable: {exc}")
        return ItemOutcome(response=reply)

    async def aclose(self) -> None:
        await self._client.close()

    def _classify(self, exc: Exception) -> ProviderError:
        return classify_sdk_error("anthropic", self._sdk, self._sdk.AnthropicError, exc, self._scrub, "batch",
                                  endpoint=endpoint_label(str(self._client.base_url), "default Anthropic endpoint"),
                                  timeout_s=self._target.timeout_s)
