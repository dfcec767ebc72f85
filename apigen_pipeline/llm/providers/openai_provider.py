"""OpenAI chat completions over the official SDK; also any OpenAI-compatible server (vLLM, llama.cpp, Ollama).

The provider maps one `LLMRequest` to one HTTP request and classifies every failure. It never retries
(the gateway does), and the API key never leaves the SDK client: error messages are scrubbed of it.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import json
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import openai

from apigen_pipeline.llm.providers.base import ProviderError
from apigen_pipeline.llm.tool_call_modes import ToolCallMode, from_json_mode, json_mode_applies, to_json_mode
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest, LLMResponse, ToolCallData, Usage

logger = logging.getLogger(__name__)

StructuredMode = Literal["auto", "json_schema", "json_object", "prompt"]
DetectedStructuredMode = Literal["json_schema", "json_object", "prompt"]
HttpTransport = Literal["aiohttp", "httpx"]
DEFAULT_HTTP_TRANSPORT: HttpTransport = "aiohttp"

PLACEHOLDER_API_KEY = "not-needed"  # local OpenAI-compatible servers ignore the key but the SDK wants one
DEFAULT_ENDPOINT_LABEL = "default OpenAI endpoint"
_MAX_DETAIL_CHARS = 400
_STRUCTURED_MODE_WORDS = ("response_format", "json_schema", "json_object", "schema")
_CONTEXT_LENGTH_WORDS = ("context_length", "context length", "maximum context", "too many tokens", "prompt is too long")
# Connecting is quick or hopeless: a dead endpoint must not cost the whole (long) reply timeout per attempt.
CONNECT_TIMEOUT_S = 10.0
# What the SDKs' transports (httpx, aiohttp) call a timeout while connecting, as opposed to one while waiting
# for the reply. The aiohttp transport reports every connect failure, refusals included, as a ConnectTimeout:
# the causes underneath say what really happened.
_CONNECT_TIMEOUT_NAMES = frozenset({"ConnectTimeout", "ConnectionTimeoutError"})
_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH: "host unreachable", errno.ENETUNREACH: "network unreachable"}

# What each endpoint turned out to accept, shared by every provider instance in the process so that
# detection happens once per endpoint, not once per role or model.
_detected_structured_modes: dict[str, DetectedStructuredMode] = {}


def detected_structured_mode(endpoint: str) -> DetectedStructuredMode | None:
    return _detected_structured_modes.get(endpoint)


def forget_detected_structured_modes() -> None:
    """Drop what was learned about endpoints (tests; or after a server was upgraded)."""
    _detected_structured_modes.clear()


# ---- the SDKs' HTTP clients, shared with the other SDK providers --------------------------------------

_warned_missing_aiohttp: set[str] = set()  # SDK module names, so the fallback is reported once


def sdk_http_client(sdk: ModuleType, transport: HttpTransport, max_connections: int | None) -> tuple[Any, HttpTransport]:
    """The SDK's own async HTTP client for `transport` and the transport actually used.

    Both the OpenAI and the Anthropic SDK ship `DefaultAioHttpClient` (their `aiohttp` extra) next to
    the httpx default; aiohttp costs a fraction of httpx's CPU per request. Without the extra the
    httpx client is used. The pool keeps at least `max_connections` connections alive, so a full set
    of concurrent requests reuses connections instead of reconnecting.
    """
    if transport not in ("aiohttp", "httpx"):
        raise ValueError(f"unknown http_transport {transport!r}")
    defaults = sdk.DEFAULT_CONNECTION_LIMITS
    keep_alive = max(max_connections or 0, defaults.max_keepalive_connections or 0)
    limits = type(defaults)(max_connections=max(keep_alive, defaults.max_connections or 0),
                            max_keepalive_connections=keep_alive, keepalive_expiry=defaults.keepalive_expiry)
    if transport == "aiohttp":
        try:
            return sdk.DefaultAioHttpClient(limits=limits), "aiohttp"
        except (AttributeError, RuntimeError):  # an SDK without the class, or without its aiohttp extra
            if sdk.__name__ not in _warned_missing_aiohttp:
                _warned_missing_aiohttp.add(sdk.__name__)
                logger.warning("%s: aiohttp transport unavailable (install %s[aiohttp]); using httpx",
                               sdk.__name__, sdk.__name__)
    return sdk.DefaultAsyncHttpxClient(limits=limits), "httpx"


def sdk_timeout(sdk: ModuleType, timeout_s: float) -> Any:
    """The SDK's timeout: `timeout_s` for the reply, at most `CONNECT_TIMEOUT_S` to connect."""
    return sdk.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S))


# ---- error classification shared with the other SDK providers --------------------------------------

def retry_after_from_headers(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait, from `retry-after-ms`, or `retry-after` as seconds or as an HTTP date."""
    if not headers:
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def error_kind_for_status(status: int, detail: str = "") -> ErrorKind:
    if status == 429:
        return ErrorKind.RATE_LIMIT
    # 408 (request timeout) and 409 (conflict / lock) are the 4xx codes that succeed when re-sent.
    if status >= 500 or status in (408, 409):
        return ErrorKind.TRANSIENT
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 404 and "model" in detail.lower():
        return ErrorKind.UNKNOWN_MODEL  # a 404 that does not name a model is a wrong path (base URL)
    return ErrorKind.PERMANENT


def mentions_context_length(detail: str) -> bool:
    lowered = detail.lower()
    return any(word in lowered for word in _CONTEXT_LENGTH_WORDS)


def error_detail_from_body(body: object, fallback: str) -> str:
    """The human-readable message of an error body in OpenAI (`error.message`) or Anthropic shape."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            message = error.get("message")
            code = error.get("code") or error.get("type")
            if isinstance(message, str):
                return f"{message} [{code}]" if isinstance(code, str) and code else message
        elif isinstance(error, str):
            return error
    return fallback


class SecretScrubber:
    """Removes the API key from any text that may end up in an exception, a log line or the request log."""

    def __init__(self, secret: str | None):
        self._secret = secret if secret and secret != PLACEHOLDER_API_KEY and len(secret) >= 4 else None

    def __call__(self, text: str) -> str:
        if self._secret:
            text = text.replace(self._secret, "[redacted]")
        return text[:_MAX_DETAIL_CHARS]


def endpoint_label(base_url: str | None, default: str = DEFAULT_ENDPOINT_LABEL) -> str:
    """The endpoint as it may be shown: scheme, host, port and path; never user info or a query."""
    if not base_url:
        return default
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _provider_at(provider: str, endpoint: str | None) -> str:
    return f"{provider} at {endpoint}" if endpoint else provider


def status_error(provider: str, status: int, headers: Mapping[str, str], detail: str,
                 endpoint: str | None = None) -> ProviderError:
    kind = error_kind_for_status(status, detail)
    label = "rate limited" if kind is ErrorKind.RATE_LIMIT else f"HTTP {status}"
    if status == 400 and mentions_context_length(detail):
        label = "context length exceeded"
    elif kind is ErrorKind.AUTH:
        label = f"authentication failed (HTTP {status})"
    elif kind is ErrorKind.UNKNOWN_MODEL:
        label = "unknown model (HTTP 404)"
    elif status == 404:
        label = "no such path (HTTP 404; is the base URL right?)"
    retry_after = retry_after_from_headers(headers) if kind in (ErrorKind.RATE_LIMIT, ErrorKind.TRANSIENT) else None
    where = _provider_at(provider, endpoint) if kind in (ErrorKind.AUTH, ErrorKind.UNKNOWN_MODEL) or status == 404 \
        else provider
    return ProviderError(kind, f"{where}: {label}: {detail}", retry_after=retry_after, status_code=status)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def connection_problem(exc: BaseException, timed_out: bool, timeout_s: float | None = None) -> tuple[ErrorKind, str]:
    """What went wrong on the way to the server, from the OS-level causes the SDK wrapped.

    The SDKs report a refused connection as "Request timed out." (aiohttp transport) or "Connection
    error." (httpx): only the causes tell a dead endpoint (refused, no such host, TLS, no connection at
    all) from a server that accepted the request and then was slow or hung up.
    """
    chain = list(_causes(exc))
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return ErrorKind.UNREACHABLE, f"DNS lookup failed ({cause.strerror or cause})"
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return ErrorKind.UNREACHABLE, "connection refused (nothing listening?)"
        if isinstance(cause, ssl.SSLError):
            return ErrorKind.UNREACHABLE, f"TLS handshake failed ({getattr(cause, 'reason', None) or cause})"
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE_ERRNOS:
            return ErrorKind.UNREACHABLE, _UNREACHABLE_ERRNOS[cause.errno]
    if any(type(cause).__name__ in _CONNECT_TIMEOUT_NAMES for cause in chain):
        return ErrorKind.UNREACHABLE, "no connection within the connect timeout"
    if timed_out:
        within = f" within {timeout_s:g} s" if timeout_s else ""
        return ErrorKind.TIMEOUT, f"request timed out (no reply{within})"
    return ErrorKind.TRANSIENT, "connection failed"


# ---- request and response mapping ---------------------------------------------------------------------

def _schema_instruction(schema: dict[str, Any]) -> str:
    return (
        "Answer with a single JSON object and nothing else. It must conform to this JSON schema:\n"
        + json.dumps(schema, ensure_ascii=False, sort_keys=True)
    )


def _with_system_text(messages: list[ChatMessage], extra: str) -> list[ChatMessage]:
    if messages and messages[0].role == "system":
        first = messages[0]
        joined = f"{first.content}\n\n{extra}" if first.content else extra
        return [first.model_copy(update={"content": joined}), *messages[1:]]
    return [ChatMessage(role="system", content=extra), *messages]


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
        messages = _with_system_text(messages, _schema_instruction(schema))
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


def presented_as_json(params: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    """`create` keyword arguments that send `params` exactly as they are, through `extra_body`.

    The OpenAI SDK walks named arguments through a TypedDict transform (renaming aliased keys,
    formatting dates and files) in which every chat message is matched against each of six message
    types and the model name against a Literal of every known model: a third of the SDK's CPU per
    request, growing with the history. Our params are plain JSON with the wire's own key names,
    which that walk leaves unchanged. So the required arguments are named but `omit`ted (the walk
    skips them) and `extra_body`, which the SDK merges into the body and sends as is, carries
    every value: the same body on the wire, through the same `create`.
    """
    return {**dict.fromkeys(required, openai.omit), "extra_body": params}


def _tool_call_from_wire(call: Any) -> ToolCallData:
    function = call.function
    name = function.name
    raw = function.arguments
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
    return ToolCallData(id=call.id or "", name=name, arguments=arguments)


def llm_response_from_completion(completion: Any) -> LLMResponse:
    """Map a chat.completion object; a body without the expected shape is a transient server fault."""
    try:
        choices = completion.choices
        if not choices:
            raise ProviderError(ErrorKind.TRANSIENT, "malformed chat completion: no choices")
        choice = choices[0]
        message = choice.message
        tool_calls = [
            _tool_call_from_wire(call)
            for call in (message.tool_calls or [])
            if getattr(call, "type", "function") == "function"
        ]
        usage = Usage()
        if completion.usage is not None:
            details = getattr(completion.usage, "prompt_tokens_details", None)
            usage = Usage(
                input_tokens=completion.usage.prompt_tokens or 0,
                output_tokens=completion.usage.completion_tokens or 0,
                cached_input_tokens=(getattr(details, "cached_tokens", None) or 0) if details else 0,
            )
        return LLMResponse(
            text=message.content,
            tool_calls=tool_calls,
            finish_reason=choice.finish_reason,
            usage=usage,
            model=completion.model,
        )
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise ProviderError(ErrorKind.TRANSIENT, f"malformed chat completion ({type(exc).__name__})") from None


def _rejects_structured_mode(exc: openai.APIStatusError) -> bool:
    """An endpoint refusing a response_format: llama.cpp's Python server says so with a 500, others with a 400."""
    if exc.status_code not in (400, 422, 500, 501):
        return False
    text = f"{exc.message} {error_detail_from_body(exc.body, '')}".lower()
    return any(word in text for word in _STRUCTURED_MODE_WORDS)


def classify_sdk_error(provider_name: str, sdk: Any, base_error: type[Exception], exc: Exception,
                       scrub: Callable[[str], str], reply_kind: str, *, endpoint: str | None = None,
                       timeout_s: float | None = None) -> ProviderError:
    """Both official SDKs raise the same family of exceptions (timeout, connection, status, validation):
    one mapping to error kinds serves both. Anything else is not an SDK error and propagates.
    `endpoint` (see `endpoint_label`) is named in the errors that are about the endpoint itself."""
    if isinstance(exc, sdk.APIConnectionError):  # APITimeoutError included
        kind, problem = connection_problem(exc, isinstance(exc, sdk.APITimeoutError), timeout_s)
        if kind is ErrorKind.TRANSIENT:
            problem = f"{problem}: {scrub(str(exc))}"
        where = _provider_at(provider_name, endpoint) if kind is ErrorKind.UNREACHABLE else provider_name
        return ProviderError(kind, f"{where}: {problem}")
    if isinstance(exc, sdk.APIStatusError):
        detail = scrub(error_detail_from_body(exc.body, exc.message))
        return status_error(provider_name, exc.status_code, exc.response.headers, detail, endpoint)
    if isinstance(exc, sdk.APIResponseValidationError | json.JSONDecodeError):
        return ProviderError(ErrorKind.TRANSIENT, f"{provider_name}: the response body is not a valid {reply_kind}")
    if isinstance(exc, base_error):
        return ProviderError(ErrorKind.PERMANENT, f"{provider_name}: {scrub(str(exc))}")
    raise exc


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
        self._scrub = SecretScrubber(api_key)
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
        return _detected_structured_modes.get(self.endpoint)

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
        if _detected_structured_modes.get(self.endpoint) != mode:
            logger.info("endpoint %s: structured output via %s", self.endpoint, mode)
        _detected_structured_modes[self.endpoint] = mode

    async def _complete(
        self,
        client: openai.AsyncOpenAI,
        request: LLMRequest,
        model: str,
        structured: DetectedStructuredMode | None,
    ) -> LLMResponse:
        completion = await client.chat.completions.create(**presented_as_json(
            chat_completion_params(request, model, structured), required=("model", "messages")))
        if isinstance(completion, str):
            # The SDK hands back raw text when the body was not JSON.
            raise ProviderError(ErrorKind.TRANSIENT, "the server answered with a body that is not JSON")
        return llm_response_from_completion(completion)

    # ---- errors ----

    def _classify(self, exc: Exception) -> ProviderError:
        return classify_sdk_error(self.name, openai, openai.OpenAIError, exc, self._scrub, "completion",
                                  endpoint=endpoint_label(self.endpoint), timeout_s=self.timeout_s)
