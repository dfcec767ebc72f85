"""What the official OpenAI and Anthropic SDKs have in common, for their providers.

Both SDKs ship the same HTTP client classes (`DefaultAioHttpClient`, `DefaultAsyncHttpxClient`) and
raise the same family of exceptions (timeout, connection, status, validation), so one builder and one
mapping to error kinds serve both. The SDK module is passed in: this module imports neither SDK, and
no provider needs another provider's module.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Literal

from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.secrets import SecretScrubber
from apigen_pipeline.llm.types import ErrorKind

logger = logging.getLogger(__name__)

HttpTransport = Literal["aiohttp", "httpx"]
DEFAULT_HTTP_TRANSPORT: HttpTransport = "aiohttp"
PLACEHOLDER_API_KEY = "not-needed"  # local OpenAI-compatible servers ignore the key but the SDK wants one
MAX_DETAIL_CHARS = 400
# A provider knows its own key for certain, so even a short one is scrubbed from what it reports.
_MIN_PROVIDER_KEY_LENGTH = 4
_CONTEXT_LENGTH_WORDS = ("context_length", "context length", "maximum context", "too many tokens", "prompt is too long")


def detail_scrubber(api_key: str | None) -> Callable[[str], str]:
    """Error details as a provider may report them: its key replaced, cut to `MAX_DETAIL_CHARS`."""
    scrubber = SecretScrubber([api_key if api_key != PLACEHOLDER_API_KEY else None],
                              min_length=_MIN_PROVIDER_KEY_LENGTH)
    return lambda text: scrubber(text)[:MAX_DETAIL_CHARS]


# ---- the SDKs' HTTP clients --------------------------------------------------------------------------

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


# ---- error classification -------------------------------------------------------------------

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


def error_kind_for_status(status: int) -> ErrorKind:
    if status == 429:
        return ErrorKind.RATE_LIMIT
    # 408 (request timeout) and 409 (conflict / lock) are the 4xx codes that succeed when re-sent.
    if status >= 500 or status in (408, 409):
        return ErrorKind.TRANSIENT
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


def status_error(provider: str, status: int, headers: Mapping[str, str], detail: str) -> ProviderError:
    kind = error_kind_for_status(status)
    label = "rate limited" if kind is ErrorKind.RATE_LIMIT else f"HTTP {status}"
    if status == 400 and mentions_context_length(detail):
        label = "context length exceeded"
    elif status in (401, 403):
        label = f"authentication failed (HTTP {status})"
    elif status == 404:
        label = "unknown model or endpoint (HTTP 404)"
    retry_after = retry_after_from_headers(headers) if kind is not ErrorKind.PERMANENT else None
    return ProviderError(kind, f"{provider}: {label}: {detail}", retry_after=retry_after, status_code=status)


def classify_sdk_error(provider_name: str, sdk: Any, base_error: type[Exception], exc: Exception,
                       scrub: Callable[[str], str], reply_kind: str) -> ProviderError:
    """Both official SDKs raise the same family of exceptions (timeout, connection, status, validation):
    one mapping to error kinds serves both. Anything else is not an SDK error and propagates."""
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(ErrorKind.TRANSIENT, f"{provider_name}: request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(ErrorKind.TRANSIENT, f"{provider_name}: connection failed: {scrub(str(exc))}")
    if isinstance(exc, sdk.APIStatusError):
        detail = scrub(error_detail_from_body(exc.body, exc.message))
        return status_error(provider_name, exc.status_code, exc.response.headers, detail)
    if isinstance(exc, sdk.APIResponseValidationError | json.JSONDecodeError):
        return ProviderError(ErrorKind.TRANSIENT, f"{provider_name}: the response body is not a valid {reply_kind}")
    if isinstance(exc, base_error):
        return ProviderError(ErrorKind.PERMANENT, f"{provider_name}: {scrub(str(exc))}")
    raise exc
