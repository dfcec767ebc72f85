"""What the official OpenAI and Anthropic SDKs have in common, for their providers.

Both SDKs ship the same HTTP client classes (`DefaultAioHttpClient`, `DefaultAsyncHttpxClient`) and
raise the same family of exceptions (timeout, connection, status, validation), so one builder and one
mapping to error kinds serve both. The SDK module is passed in: this module imports neither SDK, and
no provider needs another provider's module.
"""

from __future__ import annotations

import email.utils
import errno
import functools
import importlib
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

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
# Connecting is quick or hopeless: a dead endpoint must not cost the whole (long) reply timeout per attempt.
CONNECT_TIMEOUT_S = 10.0
# What the SDKs' transports (httpx, aiohttp) call a timeout while connecting, as opposed to one while waiting
# for the reply. The aiohttp transport reports every connect failure, refusals included, as a ConnectTimeout:
# the causes underneath say what really happened.
_CONNECT_TIMEOUT_NAMES = frozenset({"ConnectTimeout", "ConnectionTimeoutError"})
_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH: "host unreachable", errno.ENETUNREACH: "network unreachable"}


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
            return sdk.DefaultAioHttpClient(limits=limits, verify=tls_context()), "aiohttp"
        except (AttributeError, RuntimeError):  # an SDK without the class, or without its aiohttp extra
            if sdk.__name__ not in _warned_missing_aiohttp:
                _warned_missing_aiohttp.add(sdk.__name__)
                logger.warning("%s: aiohttp transport unavailable (install %s[aiohttp]); using httpx",
                               sdk.__name__, sdk.__name__)
    return sdk.DefaultAsyncHttpxClient(limits=limits, verify=tls_context()), "httpx"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context the SDKs' clients would each build for themselves (their HTTP layer's default:
    the CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR as set when first asked), built once per process.
    Loading the CA bundle costs some 30 ms of CPU, and a gateway builds its SDK clients anew for every
    batch (they belong to its event loop); one context serves any number of connections."""
    return importlib.import_module("httpx2").create_ssl_context()


def sdk_timeout(sdk: ModuleType, timeout_s: float) -> Any:
    """The SDK's timeout: `timeout_s` for the reply, at most `CONNECT_TIMEOUT_S` to connect."""
    return sdk.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S))


def endpoint_label(base_url: str | None, default: str) -> str:
    """The endpoint as it may be shown: scheme, host, port and path; never user info or a query."""
    if not base_url:
        return default
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


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
