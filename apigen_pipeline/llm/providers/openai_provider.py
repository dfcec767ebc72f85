"""OpenAI chat completions over the official SDK; also any OpenAI-compatible server (vLLM, llama.cpp, Ollama).

The provider maps one `LLMRequest` to one HTTP request and classifies every failure. It never retries
(the gateway does), and the API key never leaves the SDK client: error messages are scrubbed of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from typing import Any

import httpx2
import openai

from apigen_pipeline.llm.capabilities import DetectedStructuredMode, EndpointCapabilities, StructuredMode
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.messages import with_system_text
from apigen_pipeline.llm.sdk_common import (
    DEFAULT_HTTP_TRANSPORT,
    PLACEHOLDER_API_KEY,
    HttpTransport,
    classify_sdk_error,
    detail_scrubber,
    endpoint_label,
    error_detail_from_body,
    sdk_http_client,
    sdk_timeout,
)
from apigen_pipeline.llm.tool_call_modes import ToolCallMode, from_json_mode, json_mode_applies, to_json_mode
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest, LLMResponse, ToolCallData, Usage

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT_LABEL = "default OpenAI endpoint"
# `chat.completions.create` is the SDK's `post` of this path with bearer auth, its named params walked
# through a TypedDict transform first (every message matched against six message types, the model name
# against a Literal of every known model) and its reply parsed into a typed model after. Our params are
# plain JSON with the wire's own key names, which the walk leaves unchanged, and only a few fields of
# the reply are read (`llm_response_from_completion`). So the provider calls the SDK's documented
# lower-level `post` (its way to any endpoint): the same body, headers, auth, timeout and classified
# errors, the reply as the HTTP response (`cast_to`). bench/llm_gateway.py measures what it saves.
CHAT_COMPLETIONS_PATH = "/chat/completions"
_STRUCTURED_MODE_WORDS = ("response_format", "json_schema", "json_object", "schema")


# ---- request and response mapping ---------------------------------------------------------------------

def _schema_instruction(schema: dict[str, Any]) -> str:
    return (
        "Answer with a single JSON object and nothing else. It must conform to this JSON schema:\n"
        + json.dumps(schema, ensure_ascii=False, sort_keys=True)
    )


def _schema_name(name: str) -> str:
    # OpenAI accepts [a-zA-Z0-9_-]{1,64} as a json_schema name.
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64]
    return cleaned or "response"


def openai_message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content or ""}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
            }
            for call in message.tool_calls
        ]
    elif wire["content"] is None:
        wire["content"] = ""
    return wire


def chat_completion_params(
    request: LLMRequest, model: str, structured: DetectedStructuredMode | None
) -> dict[str, Any]:
    """Keyword arguments for `chat.completions.create`; `structured` is None when there is no response schema."""
    messages = list(request.messages)
    schema = request.response_schema
    if schema is not None and structured in ("json_object", "prompt"):
        # json_object alone does not carry the schema on every server, and OpenAI demands the word JSON.
        messages = with_system_text(messages, _schema_instruction(schema))
    params: dict[str, Any] = {
        "model": model,
        "messages": [openai_message(message) for message in messages],
        "max_tokens": request.sampling.max_tokens,
    }
    for field in ("temperature", "top_p", "seed"):
        value = getattr(request.sampling, field)
        if value is not None:
            params[field] = value
    if request.tools:
        params["tools"] = [
            {
                "type": "function",
                "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
            }
            for tool in request.tools
        ]
        params["tool_choice"] = request.tool_choice
    if schema is not None and structured == "json_schema":
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": _schema_name(request.response_schema_name), "schema": schema, "strict": False},
        }
    elif schema is not None and structured == "json_object":
        params["response_format"] = {"type": "json_object", "schema": schema}
    return params


def _tool_call_from_wire(call: dict[str, Any]) -> ToolCallData:
    function = call["function"]
    name = function["name"]
    raw = function.get("arguments")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        arguments: Any = {}  # some servers send "" for a tool without parameters
    elif isinstance(raw, dict):
        arguments = raw
    else:
        try:
            arguments = json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            raise ProviderError(
                ErrorKind.INVALID_OUTPUT, f"arguments for tool {name!r} are not valid JSON"
            ) from None
    if not isinstance(arguments, dict):
        raise ProviderError(ErrorKind.INVALID_OUTPUT, f"arguments for tool {name!r} are not a JSON object")
    return ToolCallData(id=call.get("id") or "", name=name, arguments=arguments)


def _usage_from_wire(usage: dict[str, Any] | None) -> Usage:
    if usage is None:
        return Usage()
    details = usage.get("prompt_tokens_details")
    return Usage(
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cached_input_tokens=(details.get("cached_tokens") or 0) if details else 0,
    )


def llm_response_from_completion(completion: Any) -> LLMResponse:
    """Map a chat.completion body as it came off the wire (parsed JSON, not the SDK's typed model: only
    the fields used are read); a body without the expected shape is a transient server fault."""
    if not isinstance(completion, dict):
        raise ProviderError(ErrorKind.TRANSIENT, "the server answered with a body that is not a JSON object")
    try:
        choices = completion.get("choices")
        if not choices:
            raise ProviderError(ErrorKind.TRANSIENT, "malformed chat completion: no choices")
        choice = choices[0]
        message = choice["message"]
        tool_calls = [
            _tool_call_from_wire(call)
            for call in (message.get("tool_calls") or [])
            if call.get("type", "function") == "function"
        ]
        return LLMResponse(
            text=message.get("content"),
            tool_calls=tool_calls,
            finish_reason=choice.get("finish_reason"),
            usage=_usage_from_wire(completion.get("usage")),
            model=completion.get("model"),
        )
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise ProviderError(ErrorKind.TRANSIENT, f"malformed chat completion ({type(exc).__name__})") from None


def _rejects_structured_mode(exc: openai.APIStatusError) -> bool:
    """An endpoint refusing a response_format: llama.cpp's Python server says so with a 500, others with a 400."""
    if exc.status_code not in (400, 422, 500, 501):
        return False
    text = f"{exc.message} {error_detail_from_body(exc.body, '')}".lower()
    return any(word in text for word in _STRUCTURED_MODE_WORDS)


class OpenAIProvider:
    """`Provider` over `openai.AsyncOpenAI` chat completions."""

    def __init__(
        self,
        name: str = "openai",
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        structured_mode: StructuredMode = "auto",
        tool_call_mode: ToolCallMode = "native",
        http_transport: HttpTransport = DEFAULT_HTTP_TRANSPORT,
        max_connections: int | None = None,
        capabilities: EndpointCapabilities | None = None,
    ):
        if structured_mode not in ("auto", "json_schema", "json_object", "prompt"):
            raise ValueError(f"unknown structured_mode {structured_mode!r}")
        if tool_call_mode not in ("native", "json"):
            raise ValueError(f"unknown tool_call_mode {tool_call_mode!r}")
        self.name = name
        self.structured_mode: StructuredMode = structured_mode
        self.tool_call_mode: ToolCallMode = tool_call_mode
        self._api_key_env = api_key_env
        custom_endpoint = base_url or os.environ.get("OPENAI_BASE_URL")
        api_key = os.environ.get(api_key_env) or (PLACEHOLDER_API_KEY if custom_endpoint else None)
        self._scrub = detail_scrubber(api_key)
        # What endpoints accept: shared with the other providers of the same gateway, else this one's own.
        self.capabilities = capabilities if capabilities is not None else EndpointCapabilities()
        self._client: openai.AsyncOpenAI | None = None
        self.http_transport: HttpTransport | None = None  # what is in use; None without a client
        self.timeout_s = timeout_s
        if api_key is not None:
            http_client, self.http_transport = sdk_http_client(openai, http_transport, max_connections)
            self._client = openai.AsyncOpenAI(
                api_key=api_key, base_url=base_url, timeout=sdk_timeout(openai, timeout_s), max_retries=0,
                http_client=http_client
            )
        self.endpoint = str(self._client.base_url) if self._client else DEFAULT_ENDPOINT_LABEL
        self._detection_lock = asyncio.Lock()

    async def send(self, request: LLMRequest, model: str) -> LLMResponse:
        if self._client is None:
            raise ProviderError(ErrorKind.AUTH, f"{self.name}: {self._api_key_env} is not set")
        try:
            wire_request = to_json_mode(request) if self.tool_call_mode == "json" else request
        except ValueError as exc:
            raise ProviderError(ErrorKind.PERMANENT, str(exc)) from None
        try:
            response = await self._send_structured(self._client, wire_request, model)
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - every SDK failure must come out classified
            raise self._classify(exc) from None
        if self.tool_call_mode == "json" and json_mode_applies(request):
            response = from_json_mode(response, [tool.name for tool in request.tools])
        return response

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()

    # ---- structured output and capability detection ----

    def _known_structured_mode(self) -> DetectedStructuredMode | None:
        if self.structured_mode != "auto":
            return self.structured_mode
        return self.capabilities.structured_mode(self.endpoint)

    async def _send_structured(self, client: openai.AsyncOpenAI, request: LLMRequest, model: str) -> LLMResponse:
        if request.response_schema is None:
            return await self._complete(client, request, model, None)
        mode = self._known_structured_mode()
        if mode is None:
            # One request probes the endpoint while the others wait, so detection happens once.
            async with self._detection_lock:
                mode = self._known_structured_mode()
                if mode is None:
                    return await self._detect_and_send(client, request, model)
        return await self._complete(client, request, model, mode)

    async def _detect_and_send(self, client: openai.AsyncOpenAI, request: LLMRequest, model: str) -> LLMResponse:
        """Try json_schema, then json_object, then the prompt. Each step asks something different: not a retry."""
        for mode in ("json_schema", "json_object"):
            try:
                response = await self._complete(client, request, model, mode)
            except openai.APIStatusError as exc:
                if not _rejects_structured_mode(exc):
                    raise
                logger.info(
                    "endpoint %s rejected response_format %s (HTTP %s); falling back",
                    self.endpoint, mode, exc.status_code,
                )
                continue
            self._remember(mode)
            return response
        response = await self._complete(client, request, model, "prompt")
        self._remember("prompt")
        return response

    def _remember(self, mode: DetectedStructuredMode) -> None:
        if self.capabilities.remember_structured_mode(self.endpoint, mode):
            logger.info("endpoint %s: structured output via %s", self.endpoint, mode)

    async def _complete(
        self,
        client: openai.AsyncOpenAI,
        request: LLMRequest,
        model: str,
        structured: DetectedStructuredMode | None,
    ) -> LLMResponse:
        response = await client.post(CHAT_COMPLETIONS_PATH, body=chat_completion_params(request, model, structured),
                                     cast_to=httpx2.Response, options={"security": {"bearer_auth": True}})
        return llm_response_from_completion(json.loads(response.content))

    # ---- errors ----

    def _classify(self, exc: Exception) -> ProviderError:
        return classify_sdk_error(self.name, openai, openai.OpenAIError, exc, self._scrub, "completion",
                                  endpoint=endpoint_label(self.endpoint, DEFAULT_ENDPOINT_LABEL),
                                  timeout_s=self.timeout_s)
