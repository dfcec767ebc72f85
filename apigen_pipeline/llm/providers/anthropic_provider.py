"""Anthropic messages API over the official SDK.

Anthropic has no JSON-schema response format: structured output is a forced tool whose input schema
is the response schema, and its input comes back as `LLMResponse.text`. The static prefix (tool
schemas + policy) is marked for prompt caching. Like every provider it never retries and never lets
the API key into an error message.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import TYPE_CHECKING, Any

from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.sdk_common import (
    DEFAULT_HTTP_TRANSPORT,
    PLACEHOLDER_API_KEY,
    HttpTransport,
    classify_sdk_error,
    detail_scrubber,
    endpoint_label,
    sdk_http_client,
    sdk_timeout,
)
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest, LLMResponse, ToolCallData, Usage

if TYPE_CHECKING:
    import anthropic

EPHEMERAL_CACHE = {"type": "ephemeral"}
MAX_CACHE_BREAKPOINTS = 4  # Anthropic rejects requests with more cache_control blocks than this
_WRAPPED_VALUE_KEY = "value"
# `messages.create` is the SDK's `post` of this path: its params checked against the model tables (a
# default timeout scaled to max_tokens, deprecation warnings) and its reply parsed into a typed model.
# The provider gives the client its own timeout, sends plain JSON with the wire's key names and reads
# only a few fields of the reply (`llm_response_from_message`), so it calls the SDK's documented `post`
# itself: the same body, headers, auth, timeout and classified errors, the reply as the HTTP response.
MESSAGES_PATH = "/v1/messages"

# Anthropic's stop reasons in the vocabulary the rest of the pipeline uses (OpenAI's finish_reason).
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}

_TOOL_CHOICES = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}


def _text_block(text: str, cacheable: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if cacheable:
        block["cache_control"] = dict(EPHEMERAL_CACHE)
    return block


def _blocks_for(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id or "",
            "content": message.content or "",
        }
        if message.cacheable:
            block["cache_control"] = dict(EPHEMERAL_CACHE)
        return [block]
    # Anthropic rejects empty text blocks, so an assistant turn that only calls tools has none.
    blocks = [_text_block(message.content, message.cacheable)] if message.content else []
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
    return blocks


def anthropic_system_and_messages(messages: list[ChatMessage]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System text as top-level blocks; tool results as user turns; consecutive same-role turns merged."""
    system = [_text_block(m.content, m.cacheable) for m in messages if m.role == "system" and m.content]
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks_for(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _schema_tool_input(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A tool's input must be an object: other schemas are wrapped in one and unwrapped on the way back."""
    if schema.get("type") == "object":
        return schema, False
    wrapped = {"type": "object", "properties": {_WRAPPED_VALUE_KEY: schema}, "required": [_WRAPPED_VALUE_KEY]}
    return wrapped, True


def _limit_cache_breakpoints(tools: list[dict[str, Any]], system: list[dict[str, Any]],
                             turns: list[dict[str, Any]]) -> None:
    """Keep the last breakpoints (they cover the longest prefix) when more are marked than allowed."""
    marked = [block for block in tools if "cache_control" in block]
    marked += [block for block in system if "cache_control" in block]
    marked += [block for turn in turns for block in turn["content"] if "cache_control" in block]
    for block in marked[: max(0, len(marked) - MAX_CACHE_BREAKPOINTS)]:
        del block["cache_control"]


def messages_create_params(request: LLMRequest, model: str) -> tuple[dict[str, Any], bool]:
    """The Messages API request body as posted (`POST /v1/messages`, also a batch item's `params`), and
    whether the schema tool wraps a non-object value."""
    system, turns = anthropic_system_and_messages(request.messages)
    tools: list[dict[str, Any]] = [
        {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
        for tool in request.tools
    ]
    tool_choice: dict[str, Any] | None = _TOOL_CHOICES[request.tool_choice] if tools else None
    wrapped = False
    if request.response_schema is not None:
        input_schema, wrapped = _schema_tool_input(request.response_schema)
        tools.append(
            {
                "name": request.response_schema_name,
                "description": "Give your final answer by calling this tool; its input is the answer.",
                "input_schema": input_schema,
            }
        )
        tool_choice = {"type": "tool", "name": request.response_schema_name}
    if tools and any(message.cacheable for message in request.messages):
        # Tools come first in Anthropic's prompt order: a breakpoint on the last one caches all schemas.
        tools[-1]["cache_control"] = dict(EPHEMERAL_CACHE)
    _limit_cache_breakpoints(tools, system, turns)
    params: dict[str, Any] = {"model": model, "max_tokens": request.sampling.max_tokens, "messages": turns}
    if system:
        params["system"] = system
    if tools:
        params["tools"] = tools
    if tool_choice is not None:
        params["tool_choice"] = tool_choice
    for field in ("temperature", "top_p"):  # Anthropic has no seed
        value = getattr(request.sampling, field)
        if value is not None:
            params[field] = value
    return params, wrapped


def llm_response_from_message(message: Any, schema_tool: str | None, wrapped: bool) -> LLMResponse:
    """Map a message body as it came off the wire (parsed JSON, not the SDK's typed model); with
    `schema_tool`, that tool's input is the structured answer, in `text`."""
    if not isinstance(message, dict):
        raise ProviderError(ErrorKind.TRANSIENT, "the server answered with a body that is not a JSON object")
    try:
        texts: list[str] = []
        tool_calls: list[ToolCallData] = []
        structured: str | None = None
        for block in message["content"]:
            if block["type"] == "text":
                texts.append(block["text"])
            elif block["type"] == "tool_use":
                name, arguments = block["name"], block["input"]
                if not isinstance(arguments, dict):
                    raise ProviderError(ErrorKind.INVALID_OUTPUT, f"input for tool {name!r} is not a JSON object")
                if schema_tool is not None and name == schema_tool:
                    value = arguments.get(_WRAPPED_VALUE_KEY) if wrapped else arguments
                    structured = json.dumps(value, ensure_ascii=False)
                else:
                    tool_calls.append(ToolCallData(id=block["id"], name=name, arguments=arguments))
        usage = message["usage"]
        cache_read = usage.get("cache_read_input_tokens") or 0
        cache_creation = usage.get("cache_creation_input_tokens") or 0
        stop_reason = message.get("stop_reason")
        finish_reason = _FINISH_REASONS.get(stop_reason, stop_reason)
        if structured is not None and not tool_calls:
            finish_reason = "stop"  # the forced answer tool is how the model stops, not a tool call
        return LLMResponse(
            text=structured if structured is not None else ("".join(texts) if texts else None),
            tool_calls=tool_calls,
            finish_reason=finish_reason,
            # input_tokens counts the whole prompt as OpenAI's prompt_tokens does; Anthropic reports
            # cache reads and cache writes apart from the uncached remainder.
            usage=Usage(
                input_tokens=(usage.get("input_tokens") or 0) + cache_creation + cache_read,
                output_tokens=usage.get("output_tokens") or 0,
                cached_input_tokens=cache_read,
                cache_write_input_tokens=cache_creation,
            ),
            model=message.get("model"),
        )
    except (AttributeError, TypeError, KeyError) as exc:
        raise ProviderError(ErrorKind.TRANSIENT, f"malformed message ({type(exc).__name__})") from None


class AnthropicProvider:
    """`Provider` over `anthropic.AsyncAnthropic` messages."""

    def __init__(
        self,
        name: str = "anthropic",
        base_url: str | None = None,
        api_key_env: str = "ANTHROPIC_API_KEY",
        timeout_s: float = 60.0,
        http_transport: HttpTransport = DEFAULT_HTTP_TRANSPORT,
        max_connections: int | None = None,
    ):
        self.name = name
        self._api_key_env = api_key_env
        custom_endpoint = base_url or os.environ.get("ANTHROPIC_BASE_URL")
        api_key = os.environ.get(api_key_env) or (PLACEHOLDER_API_KEY if custom_endpoint else None)
        self._scrub = detail_scrubber(api_key)
        # Imported here: the SDK takes seconds to import, a cost only runs that use Anthropic should pay.
        self._sdk = importlib.import_module("anthropic")
        self._http_response = importlib.import_module("httpx2").Response  # the SDK's HTTP layer
        self._client: anthropic.AsyncAnthropic | None = None
        self.http_transport: HttpTransport | None = None  # what is in use; None without a client
        self.timeout_s = timeout_s
        if api_key is not None:
            http_client, self.http_transport = sdk_http_client(self._sdk, http_transport, max_connections)
            # The key is passed explicitly so the SDK never goes looking for profiles or other credentials.
            self._client = self._sdk.AsyncAnthropic(
                api_key=api_key, base_url=base_url, timeout=sdk_timeout(self._sdk, timeout_s), max_retries=0,
                http_client=http_client
            )
        self.endpoint = endpoint_label(str(self._client.base_url) if self._client else custom_endpoint,
                                       "default Anthropic endpoint")

    async def send(self, request: LLMRequest, model: str) -> LLMResponse:
        if self._client is None:
            raise ProviderError(ErrorKind.AUTH, f"{self.name}: {self._api_key_env} is not set")
        params, wrapped = messages_create_params(request, model)
        schema_tool = request.response_schema_name if request.response_schema is not None else None
        try:
            # The SDK's own lower-level `post` of what `messages.create` posts (see MESSAGES_PATH).
            response = await self._client.post(MESSAGES_PATH, body=params, cast_to=self._http_response)
            message = json.loads(response.content)
        except Exception as exc:  # noqa: BLE001 - every SDK failure must come out classified
            raise self._classify(exc) from None
        return llm_response_from_message(message, schema_tool, wrapped)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()

    def _classify(self, exc: Exception) -> ProviderError:
        return classify_sdk_error(self.name, self._sdk, self._sdk.AnthropicError, exc, self._scrub, "message",
                                  endpoint=self.endpoint, timeout_s=self.timeout_s)
