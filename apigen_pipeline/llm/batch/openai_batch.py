"""OpenAI Batch over the official SDK: a JSONL input file (`files.create`), `batches.create/retrieve`,
and the output and error files read back with `files.content`. Each batch carries its submission id in
`metadata` (`apigen_submission`), so a submission whose batch id was never recorded (a crash right after
`batches.create`) is found again with `batches.list`.

Each input line is `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}` with the body
the live provider would send; each output line is `{"custom_id", "response": {"status_code", "body"},
"error"}`, and items that failed are in the error file in the same shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import openai

from apigen_pipeline.llm.batch.api import LOOKUP_SKEW, ItemOutcome, Lookup, api_key_for
from apigen_pipeline.llm.capabilities import DetectedStructuredMode, EndpointCapabilities
from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.providers.openai_provider import chat_completion_params, llm_response_from_completion
from apigen_pipeline.llm.sdk_common import classify_sdk_error, detail_scrubber, endpoint_label, sdk_timeout
from apigen_pipeline.llm.tool_call_modes import from_json_mode, json_mode_applies, to_json_mode
from apigen_pipeline.llm.types import LLMRequest

CHAT_COMPLETIONS = "/v1/chat/completions"
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
SUBMISSION_METADATA = "apigen_submission"


class OpenAIBatchAPI:
    def __init__(self, target: ModelRef, capabilities: EndpointCapabilities):
        api_key = api_key_for(target, "OPENAI_BASE_URL")
        self._target = target
        self._scrub = detail_scrubber(api_key)
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=target.base_url, max_retries=0,
                                          timeout=sdk_timeout(openai, target.timeout_s))
        self._endpoint = str(self._client.base_url)
        self._capabilities = capabilities

    def _structured_mode(self) -> DetectedStructuredMode:
        # What the live provider sends: the configured mode, else the one detected at this endpoint; a
        # batch cannot probe, and an endpoint with a batch API takes a json_schema response format.
        if self._target.structured_mode != "auto":
            return self._target.structured_mode
        return self._capabilities.structured_mode(self._endpoint) or "json_schema"

    def body(self, request: LLMRequest, model: str) -> dict[str, object]:
        wire = to_json_mode(request) if self._target.tool_call_mode == "json" else request
        structured = self._structured_mode() if wire.response_schema is not None else None
        return chat_completion_params(wire, model, structured)

    async def submit(self, items: Sequence[tuple[str, LLMRequest]], model: str, submission_id: str) -> str:
        lines = [json.dumps({"custom_id": custom_id, "method": "POST", "url": CHAT_COMPLETIONS,
                             "body": self.body(request, model)}, ensure_ascii=False)
                 for custom_id, request in items]
        try:
            uploaded = await self._client.files.create(file=("apigen-batch.jsonl", "\n".join(lines).encode()),
                                                       purpose="batch")
            batch = await self._client.batches.create(input_file_id=uploaded.id, endpoint=CHAT_COMPLETIONS,
                                                      completion_window="24h",
                                                      metadata={SUBMISSION_METADATA: submission_id})
        except Exception as exc:  # noqa: BLE001 - every SDK failure must come out classified
            raise self._classify(exc) from None
        return batch.id

    async def find(self, submission_id: str, custom_ids: frozenset[str], since: datetime) -> Lookup:
        """The batches carrying the submission id in their metadata, listed newest first back to `since`."""
        earliest = (since.replace(tzinfo=UTC) - LOOKUP_SKEW).timestamp()
        found: list[str] = []
        try:
            async for batch in self._client.batches.list(limit=100):
                if (batch.metadata or {}).get(SUBMISSION_METADATA) == submission_id:
                    found.append(batch.id)
                if batch.created_at < earliest:
                    break
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc) from None
        return Lookup(tuple(found))

    async def ended(self, provider_batch_id: str) -> bool:
        try:
            batch = await self._client.batches.retrieve(provider_batch_id)
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc) from None
        return batch.status in ENDED

    async def results(self, provider_batch_id: str, requests: Mapping[str, LLMRequest],
                      model: str) -> dict[str, ItemOutcome]:
        try:
            batch = await self._client.batches.retrieve(provider_batch_id)
            texts = [(await self._client.files.content(file_id)).text
                     for file_id in (batch.output_file_id, batch.error_file_id) if file_id]
        except Exception as exc:  # noqa: BLE001
            raise self._classify(exc) from None
        outcomes: dict[str, ItemOutcome] = {}
        for line in "\n".join(texts).splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            request = requests.get(entry.get("custom_id", ""))
            if request is not None:
                outcomes[entry["custom_id"]] = self._outcome(entry, request)
        for custom_id in requests.keys() - outcomes.keys():
            outcomes[custom_id] = ItemOutcome(problem=f"no result in batch {provider_batch_id} ({batch.status})")
        return outcomes

    def _outcome(self, entry: dict[str, object], request: LLMRequest) -> ItemOutcome:
        response = entry.get("response") if isinstance(entry.get("response"), dict) else None
        if entry.get("error") or response is None or response.get("status_code") != 200:
            detail = entry.get("error") or (response or {}).get("body")
            return ItemOutcome(problem=self._scrub(f"batch item failed: {json.dumps(detail)[:300]}"))
        try:
            reply = llm_response_from_completion(response["body"])  # the body as it came off the wire
            if self._target.tool_call_mode == "json" and json_mode_applies(request):
                reply = from_json_mode(reply, [tool.name for tool in request.tools])
        except (ProviderError, ValueError) as exc:
            return ItemOutcome(problem=f"batch item unreadable: {exc}")
        return ItemOutcome(response=reply)

    async def aclose(self) -> None:
        await self._client.close()

    def _classify(self, exc: Exception) -> ProviderError:
        return classify_sdk_error("openai", openai, openai.OpenAIError, exc, self._scrub, "batch",
                                  endpoint=endpoint_label(self._endpoint, "default OpenAI endpoint"),
                                  timeout_s=self._target.timeout_s)
