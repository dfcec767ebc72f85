"""Local HTTP servers that speak the OpenAI and Anthropic wire formats, for tests that drive the real SDKs.

Each server listens on 127.0.0.1 (a free port by default), answers every request through a
`responder(request_body, call_index) -> WireReply` callable, and records what it received (never the
value of an auth header). Requests are served concurrently, one thread per connection, so a slow
reply never holds up the others:

    with OpenAIWireServer(lambda body, i: WireReply.of_text("hi")) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")

`deterministic_responder` answers the same body with the same reply (schema-conforming JSON from the
simulated backend's `value_for_schema`, a tool call, or text), and `FaultPlan` injects 429s, 500s, timeouts and broken JSON by deterministic draws
per (body, attempt), so a retried request can succeed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import multiprocessing.process
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from apigen_pipeline.llm.prompt_cache import OPENAI_RULE, CacheRule, PrefixCache, PromptBlock, anthropic_rule
from apigen_pipeline.llm.tokens import estimate_tokens, json_text
from apigen_pipeline.llm.tool_call_modes import tool_call_id_for
from apigen_pipeline.simulated.schema_values import value_for_schema

BodyMode = Literal["complete", "truncated", "invalid_json"]
FaultKind = Literal["rate_limit", "server_error", "timeout", "invalid_json"]


@dataclass(frozen=True)
class WireToolCall:
    name: str
    # A string is sent as-is, to script malformed arguments.
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class WireUsage:
    """Token counts as they go on the wire.

    OpenAI: prompt_tokens = input_tokens, prompt_tokens_details.cached_tokens = cached_input_tokens.
    Anthropic: input_tokens (the uncached part), cache_read_input_tokens = cached_input_tokens,
    cache_creation_input_tokens.
    With both cache counts None, `input_tokens` is the whole prompt and the server splits it by the
    provider's prompt-cache rule over the prompts it has received (`llm.prompt_cache`).
    """

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


@dataclass(frozen=True)
class WireReply:
    """What the server answers to one request, in provider-neutral terms."""

    text: str | None = None
    tool_calls: tuple[WireToolCall, ...] = ()
    status: int = 200
    error_message: str | None = None
    error_type: str | None = None  # the wire's error type; derived from the status when None
    error_code: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body_mode: BodyMode = "complete"
    usage: WireUsage | None = None  # estimated from the sizes of request and reply when None
    finish_reason: str | None = None
    model: str | None = None

    @staticmethod
    def of_text(text: str) -> WireReply:
        return WireReply(text=text)

    @staticmethod
    def of_json(value: Any) -> WireReply:
        return WireReply(text=json.dumps(value, ensure_ascii=False))

    @staticmethod
    def of_tool_call(name: str, arguments: dict[str, Any] | str, id: str | None = None) -> WireReply:
        return WireReply(tool_calls=(WireToolCall(name=name, arguments=arguments, id=id),))

    @staticmethod
    def of_tool_calls(*calls: WireToolCall, text: str | None = None) -> WireReply:
        return WireReply(text=text, tool_calls=tuple(calls))

    @staticmethod
    def http_error(status: int, message: str, *, error_type: str | None = None, code: str | None = None,
                   headers: Mapping[str, str] | None = None) -> WireReply:
        return WireReply(status=status, error_message=message, error_type=error_type, error_code=code,
                         headers=dict(headers or {}))

    @staticmethod
    def rate_limited(retry_after: str | float | None = 1, retry_after_ms: float | None = None) -> WireReply:
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        return WireReply.http_error(429, "Rate limit reached. Please try again later.", headers=headers)

    @staticmethod
    def server_error(message: str = "The server had an error while processing your request.") -> WireReply:
        return WireReply.http_error(500, message)

    @staticmethod
    def overloaded() -> WireReply:
        return WireReply.http_error(529, "Overloaded", error_type="overloaded_error")

    @staticmethod
    def unauthorized() -> WireReply:
        return WireReply.http_error(401, "Invalid API key provided.", code="invalid_api_key")

    @staticmethod
    def model_not_found(model: str) -> WireReply:
        return WireReply.http_error(404, f"The model `{model}` does not exist or you do not have access to it.",
                                    code="model_not_found")

    @staticmethod
    def context_length_exceeded() -> WireReply:
        return WireReply.http_error(
            400, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens.",
            code="context_length_exceeded",
        )

    @property
    def scripts_cache(self) -> bool:
        """The reply states its own cache counts (sent as given); otherwise the server's cache rule decides."""
        usage = self.usage
        return usage is not None and (usage.cached_input_tokens is not None
                                      or usage.cache_creation_input_tokens is not None)

    def delayed(self, seconds: float) -> WireReply:
        return dataclasses.replace(self, delay_s=self.delay_s + seconds)

    def truncated(self) -> WireReply:
        """The connection closes mid-body (the declared Content-Length is never reached)."""
        return dataclasses.replace(self, body_mode="truncated")

    def with_invalid_json(self) -> WireReply:
        """A complete HTTP response whose JSON body is cut short."""
        return dataclasses.replace(self, body_mode="invalid_json")

    def with_usage(self, input_tokens: int, output_tokens: int, cached_input_tokens: int | None = None,
                   cache_creation_input_tokens: int | None = None) -> WireReply:
        return dataclasses.replace(self, usage=WireUsage(input_tokens, output_tokens, cached_input_tokens,
                                                         cache_creation_input_tokens))


Responder = Callable[[dict[str, Any], int], WireReply]


class MountedEndpoints(Protocol):
    """More endpoints served by a wire server (the batch APIs: `wire_batches.mount_batches`)."""

    def serve(self, handler: Any) -> bool: ...


@dataclass(frozen=True)
class RecordedRequest:
    call_index: int
    path: str
    body: dict[str, Any]
    body_hash: str
    received_at: float  # time.time()
    auth_header_present: bool  # the key's value is never stored
    auth_matched: bool | None  # None unless the server was given an expected key
    status: int
    answered: bool  # a complete 200 reply was sent


def body_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


# ---- deterministic replies ------------------------------------------------------------------------------


def _tool_schemas(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """name -> parameter schema, from OpenAI function tools or Anthropic tools."""
    schemas: dict[str, Mapping[str, Any]] = {}
    for tool in body.get("tools") or []:
        if "function" in tool:
            schemas[tool["function"]["name"]] = tool["function"].get("parameters") or {}
        elif "name" in tool:
            schemas[tool["name"]] = tool.get("input_schema") or {}
    return schemas


def _requested_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    response_format = body.get("response_format")
    if not isinstance(response_format, Mapping):
        return None
    if response_format.get("type") == "json_schema":
        return response_format.get("json_schema", {}).get("schema") or {"type": "object"}
    if response_format.get("type") == "json_object":
        return response_format.get("schema") or {"type": "object"}
    return None


def _forced_tool(body: Mapping[str, Any], tools: Mapping[str, Any], rng: random.Random) -> str | None:
    choice = body.get("tool_choice")
    if not tools:
        return None
    if choice == "required" or (isinstance(choice, Mapping) and choice.get("type") == "any"):
        return rng.choice(sorted(tools))
    if isinstance(choice, Mapping) and choice.get("type") == "tool":  # Anthropic
        return choice.get("name")
    if isinstance(choice, Mapping) and choice.get("type") == "function":  # OpenAI
        return choice.get("function", {}).get("name")
    return None


def deterministic_responder(body: dict[str, Any], call_index: int) -> WireReply:
    """The same body always gets the same reply, whatever the call index.

    A requested JSON schema gets a conforming JSON text; a forced tool choice gets a call with
    schema-conforming arguments; anything else gets a short text derived from the body hash.
    """
    digest = body_hash(body)
    rng = random.Random(int(digest[:16], 16))
    schema = _requested_schema(body)
    if schema is not None:
        return WireReply.of_json(value_for_schema(schema, rng))
    tools = _tool_schemas(body)
    forced = _forced_tool(body, tools, rng)
    if forced is not None and forced in tools:
        return WireReply.of_tool_call(forced, value_for_schema(tools[forced], rng))
    return WireReply.of_text(f"Deterministic reply {digest[:12]}.")


@dataclass(frozen=True)
class FaultPlan:
    """Shares of requests that fail, drawn per (body hash, attempt for that body) so re-sends can succeed."""

    rate_limit: float = 0.0
    server_error: float = 0.0
    timeout: float = 0.0
    invalid_json: float = 0.0
    seed: int = 0
    retry_after_s: float = 1.0
    timeout_delay_s: float = 30.0  # longer than any sane client timeout in a test

    def __post_init__(self) -> None:
        shares = (self.rate_limit, self.server_error, self.timeout, self.invalid_json)
        if any(share < 0 for share in shares) or sum(shares) > 1:
            raise ValueError("fault shares must be non-negative and sum to at most 1")

    def draw(self, request_body_hash: str, attempt: int) -> FaultKind | None:
        digest = hashlib.sha256(f"{self.seed}|{request_body_hash}|{attempt}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        bound = 0.0
        for kind, share in (("rate_limit", self.rate_limit), ("server_error", self.server_error),
                            ("timeout", self.timeout), ("invalid_json", self.invalid_json)):
            bound += share
            if point < bound:
                return kind  # type: ignore[return-value]
        return None

    def wrap(self, responder: Responder) -> Responder:
        """A responder that injects this plan's faults around `responder`; attempts are counted per body."""
        attempts: Counter[str] = Counter()
        lock = threading.Lock()

        def faulty(body: dict[str, Any], call_index: int) -> WireReply:
            digest = body_hash(body)
            with lock:
                attempt = attempts[digest]
                attempts[digest] += 1
            fault = self.draw(digest, attempt)
            if fault == "rate_limit":
                return WireReply.rate_limited(retry_after=self.retry_after_s)
            if fault == "server_error":
                return WireReply.server_error()
            reply = responder(body, call_index)
            if fault == "timeout":
                return reply.delayed(self.timeout_delay_s)
            if fault == "invalid_json":
                return reply.with_invalid_json()
            return reply

        return faulty


# ---- the servers ------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDKs reuse pooled connections
    disable_nagle_algorithm = True  # small replies must not wait for delayed ACKs
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # one stderr line per request would dominate the cost of a load test

    def setup(self) -> None:
        super().setup()
        self.server.wire.track_connection(self.connection, opened=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.wire.track_connection(self.connection, opened=False)

    def do_POST(self) -> None:  # noqa: N802 - the base class's naming
        self.server.wire.handle(self)

    def do_GET(self) -> None:  # noqa: N802
        mounted = self.server.wire.batch_endpoints
        if mounted is None or not mounted.serve(self):
            self.server.wire.handle_get(self)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a burst of concurrent connects must not overflow the listen backlog
    wire: WireServer


class WireServer:
    """The shared machinery; `OpenAIWireServer` and `AnthropicWireServer` add the wire format."""

    paths: tuple[str, ...] = ()
    default_model = "wire-test-model"

    def __init__(self, responder: Responder | None = None, *, latency_s: float = 0.0,
                 fault_plan: FaultPlan | None = None, expected_api_key: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, isolated: bool = False):
        """`isolated=True` serves from a forked child process, so the server's CPU work does not compete
        with the client for the GIL (load tests). The responder then runs in the child: state it keeps
        is not visible to the test process, but the records are (fetched over a pipe)."""
        base = responder or deterministic_responder
        self.responder: Responder = fault_plan.wrap(base) if fault_plan else base
        self.latency_s = latency_s
        self._expected_api_key = expected_api_key
        self._host = host
        self._port = port
        self._isolated = isolated
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._records: list[RecordedRequest] = []
        self._next_index = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._child: multiprocessing.process.BaseProcess | None = None
        self._child_pipe: Connection | None = None
        self._child_port: int | None = None
        self._prompt_caches: dict[str, PrefixCache] = {}  # per model, as providers cache
        self.batch_endpoints: MountedEndpoints | None = None

    # ---- lifecycle ----

    def start(self) -> Self:
        if self._isolated:
            return self._start_child()
        httpd = _HTTPServer((self._host, self._port), _Handler)
        httpd.wire = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
                                        name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, wake delayed replies, close open connections and join the serving thread."""
        if self._child is not None:
            self._stop_child(timeout_s)
            return
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout_s)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._connections:
                    break
            time.sleep(0.01)
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._child_port is not None:
            return self._child_port
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return self._httpd.server_address[1]

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass as the SDK's base_url."""
        return self.root_url

    # ---- the isolated child process ----

    def _start_child(self) -> Self:
        # fork, not spawn: responders are often closures or lambdas, which cannot be pickled.
        context = multiprocessing.get_context("fork")
        parent_end, child_end = context.Pipe()
        self._child = context.Process(target=self._serve_in_child, args=(child_end,), daemon=True,
                                      name=f"{type(self).__name__}-child")
        self._child.start()
        child_end.close()
        self._child_pipe = parent_end
        self._child_port = parent_end.recv()
        return self

    def _serve_in_child(self, pipe: Connection) -> None:
        self._isolated, self._child = False, None  # in here, this is the plain in-process server
        self.start()
        pipe.send(self.port)
        try:
            while True:
                command = pipe.recv()
                if command == "stop":
                    break
                if command == "clear":
                    self.clear_records()
                pipe.send(self._snapshot())
        except EOFError:
            pass  # the parent went away
        finally:
            self.stop()
            with contextlib.suppress(OSError):
                pipe.send(None)

    def _ask_child(self, command: str) -> Any:
        assert self._child_pipe is not None
        with self._lock:  # one question and its answer at a time on the pipe
            self._child_pipe.send(command)
            return self._child_pipe.recv()

    def _stop_child(self, timeout_s: float) -> None:
        assert self._child is not None and self._child_pipe is not None
        with contextlib.suppress(OSError, EOFError):
            self._ask_child("stop")
        self._child.join(timeout_s)
        if self._child.is_alive():
            self._child.kill()
            self._child.join(timeout_s)
        self._child_pipe.close()
        self._child = None
        self._child_pipe = None
        self._child_port = None

    # ---- records ----

    def _snapshot(self) -> tuple[list[RecordedRequest], int]:
        if self._child_pipe is not None:
            return self._ask_child("snapshot")
        with self._lock:
            return list(self._records), self._max_in_flight

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._snapshot()[0]

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def max_in_flight(self) -> int:
        """The most requests the server was handling at once: proof that it did not serialize them."""
        return self._snapshot()[1]

    def count_by_body_hash(self) -> dict[str, int]:
        return dict(Counter(record.body_hash for record in self.requests))

    def answers_by_body_hash(self) -> dict[str, int]:
        return dict(Counter(record.body_hash for record in self.requests if record.answered))

    def bodies_answered_more_than_once(self) -> list[str]:
        return sorted(digest for digest, count in self.answers_by_body_hash().items() if count > 1)

    def note_request(self, path: str, body: dict[str, Any], status: int, answered: bool,
                     auth_header_present: bool) -> None:
        """Record a request answered outside `handle` (a batch item) among the server's requests."""
        with self._lock:
            call_index = self._next_index
            self._next_index += 1
            self._records.append(RecordedRequest(call_index, path, body, body_hash(body), time.time(),
                                                 auth_header_present, None, status, answered))

    def clear_records(self) -> None:
        if self._child_pipe is not None:
            self._ask_child("clear")
            return
        with self._lock:
            self._records.clear()
            self._max_in_flight = 0

    def track_connection(self, connection: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    # ---- request handling ----

    def handle(self, handler: _Handler) -> None:
        if self.batch_endpoints is not None and self.batch_endpoints.serve(handler):
            return
        received_at = time.time()
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = handler.path.split("?", 1)[0]
        if path not in self.paths:
            self.send_error_reply(handler, WireReply.http_error(404, f"unknown path {path}"))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self.send_error_reply(handler, WireReply.http_error(400, "the request body is not valid JSON"))
            return
        unknown = sorted(set(body) - self.body_fields) if isinstance(body, dict) and self.body_fields else []
        if unknown:  # as the providers do: a misspelt or SDK-only keyword in the body is a 400, never ignored
            self.send_error_reply(handler, WireReply.http_error(400, self.unknown_field_message(unknown[0])))
            return
        presented = self.presented_key(handler.headers)
        matched = None if self._expected_api_key is None else presented == self._expected_api_key
        with self._lock:
            call_index = self._next_index
            self._next_index += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            if matched is False:
                reply = WireReply.unauthorized()
            else:
                try:
                    reply = self.responder(body, call_index)
                except Exception as exc:  # noqa: BLE001 - a broken responder must show up as a 500, not a hang
                    reply = WireReply.server_error(f"responder failed: {type(exc).__name__}: {exc}")
            answered = reply.status == 200 and reply.body_mode == "complete"
            record = RecordedRequest(call_index, path, body, body_hash(body), received_at, presented is not None,
                                     matched, reply.status, answered)
            with self._lock:
                self._records.append(record)
            wait_s = self.latency_s + reply.delay_s
            if wait_s > 0 and self._stopping.wait(wait_s):
                handler.close_connection = True
                return
            if reply.status == 200:
                self._send(handler, 200, self.render_success(reply, body, call_index, len(raw)), reply)
            else:
                self.send_error_reply(handler, reply)
        finally:
            with self._lock:
                self._in_flight -= 1

    # The request body's top-level fields the provider accepts (empty: any).
    body_fields: frozenset[str] = frozenset()

    def unknown_field_message(self, field: str) -> str:
        return f"{field}: Extra inputs are not permitted"

    def handle_get(self, handler: _Handler) -> None:
        """Metadata endpoints (none here; see `OpenAIWireServer`). Not recorded as requests."""
        self.send_error_reply(handler, WireReply.http_error(404, f"unknown path {handler.path}"))

    def send_error_reply(self, handler: _Handler, reply: WireReply) -> None:
        self._send(handler, reply.status, self.render_error(reply), reply)

    def _send(self, handler: _Handler, status: int, payload: dict[str, Any], reply: WireReply) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        declared = len(body)
        if reply.body_mode == "invalid_json":
            body = body[: max(1, len(body) // 2)]
            declared = len(body)
        elif reply.body_mode == "truncated":
            body = body[: max(1, len(body) // 2)]
        headers = {"content-type": "application/json", "content-length": str(declared),
                   "x-request-id": f"req_{handler.server.wire.port}_{time.monotonic_ns()}", **reply.headers}
        reason = self._reason(status)
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            # One write: headers and body in a single segment.
            handler.wfile.write(head.encode("latin-1") + body)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True  # the client gave up (timeout) before the reply
            return
        if reply.body_mode == "truncated":
            handler.close_connection = True

    @staticmethod
    def _reason(status: int) -> str:
        return handler_responses.get(status, ("Unknown",))[0]

    # ---- per wire format ----

    def presented_key(self, headers: Mapping[str, str]) -> str | None:
        raise NotImplementedError

    def render_success(self, reply: WireReply, body: Mapping[str, Any], call_index: int,
                       request_size: int) -> dict[str, Any]:
        raise NotImplementedError

    def render_error(self, reply: WireReply) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def estimated_usage(reply: WireReply, request_size: int) -> WireUsage:
        if reply.usage is not None:
            return reply.usage
        output_size = len(reply.text or "") + sum(len(json.dumps(call.arguments)) for call in reply.tool_calls)
        return WireUsage(input_tokens=max(1, request_size // 4), output_tokens=max(1, output_size // 4))

    def reported_usage(self, reply: WireReply, body: Mapping[str, Any], request_size: int) -> WireUsage:
        """The reply's usage with the cache counts filled in by the provider's prompt-cache rule, unless given."""
        usage = self.estimated_usage(reply, request_size)
        if reply.scripts_cache:
            return usage
        model = str(body.get("model") or self.default_model)
        with self._lock:
            cache = self._prompt_caches.get(model)
            if cache is None:
                cache = self._prompt_caches[model] = PrefixCache(self.cache_rule(model))
        use = cache.use(self.prompt_blocks(body)).within(usage.input_tokens)
        return WireUsage(usage.input_tokens, usage.output_tokens, use.read_tokens, use.write_tokens)

    def cache_rule(self, model: str) -> CacheRule:
        raise NotImplementedError

    def prompt_blocks(self, body: Mapping[str, Any]) -> list[PromptBlock]:
        raise NotImplementedError


def _default_call_id(prefix: str, call: WireToolCall, position: int) -> str:
    """Derived from the call itself, so a re-sent request gets the same id (as from a deterministic model)."""
    arguments = call.arguments if isinstance(call.arguments, dict) else {"raw": call.arguments}
    return prefix + tool_call_id_for(call.name, arguments, position).removeprefix("call_")


def _wire_block(part: Mapping[str, Any], breakpoint: bool = False) -> PromptBlock:
    text = json_text(part)
    return PromptBlock(text, estimate_tokens(text), breakpoint)


def _content_blocks(content: Any) -> list[Mapping[str, Any]]:
    """Anthropic's system or turn content: a plain string is one text block."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for block in content or [] if isinstance(block, Mapping)]


handler_responses: dict[int, tuple[str, str]] = {**BaseHTTPRequestHandler.responses, 529: ("Overloaded", "")}

_OPENAI_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
                       404: "invalid_request_error", 429: "rate_limit_error"}


class OpenAIWireServer(WireServer):
    """Speaks `POST /v1/chat/completions` (and `/chat/completions`) like OpenAI and compatible servers."""

    paths = ("/v1/chat/completions", "/chat/completions")
    body_fields = frozenset({
        "model", "messages", "temperature", "top_p", "n", "stream", "stream_options", "stop", "max_tokens",
        "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
        "user", "tools", "tool_choice", "parallel_tool_calls", "response_format", "seed", "service_tier", "store",
        "metadata", "reasoning_effort", "modalities", "audio", "prediction", "web_search_options",
        "prompt_cache_key", "safety_identifier", "verbosity", "functions", "function_call"})

    def unknown_field_message(self, field: str) -> str:
        return f"Unrecognized request argument supplied: {field}"

    def __init__(self, responder: Responder | None = None, *, max_model_len: int | None = None,
                 n_ctx: int | None = None, **options: Any):
        """`max_model_len`: the context length `GET /v1/models` reports, as vLLM does; `n_ctx`: the one
        `GET /props` reports, as llama.cpp does (None: `/props` answers 404). Metadata reads are not
        `requests`; their paths are in `metadata_reads` (in-process servers only)."""
        super().__init__(responder, **options)
        self.max_model_len = max_model_len
        self.n_ctx = n_ctx
        self.metadata_reads: list[str] = []

    def handle_get(self, handler: _Handler) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.metadata_reads.append(path)
        if path in ("/v1/models", "/models"):
            model: dict[str, Any] = {"id": self.default_model, "object": "model", "created": 0, "owned_by": "wire"}
            if self.max_model_len is not None:
                model["max_model_len"] = self.max_model_len
            self._send(handler, 200, {"object": "list", "data": [model]}, WireReply())
        elif path == "/props" and self.n_ctx is not None:
            self._send(handler, 200, {"default_generation_settings": {"n_ctx": self.n_ctx}}, WireReply())
        else:
            super().handle_get(handler)

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def presented_key(self, headers: Mapping[str, str]) -> str | None:
        value = headers.get("authorization")
        if value is None:
            return None
        return value.removeprefix("Bearer ").strip()

    def render_success(self, reply: WireReply, body: Mapping[str, Any], call_index: int,
                       request_size: int) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or _default_call_id("call_", call, position),
                    "type": "function",
                    "function": {
                        "name": call.name,
                        "arguments": call.arguments if isinstance(call.arguments, str)
                        else json.dumps(call.arguments, ensure_ascii=False),
                    },
                }
                for position, call in enumerate(reply.tool_calls)
            ]
        usage = self.reported_usage(reply, body, request_size)
        return {
            "id": f"chatcmpl-{call_index:08d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or body.get("model") or self.default_model,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")}],
            "usage": {
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens + usage.output_tokens,
                "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens or 0},
            },
            "system_fingerprint": None,
        }

    def cache_rule(self, model: str) -> CacheRule:
        return OPENAI_RULE

    def prompt_blocks(self, body: Mapping[str, Any]) -> list[PromptBlock]:
        """Tools, the response format, then the messages: OpenAI caches any prefix of them."""
        parts = [*(body.get("tools") or []), *([body["response_format"]] if body.get("response_format") else []),
                 *(body.get("messages") or [])]
        return [_wire_block(part) for part in parts]

    def render_error(self, reply: WireReply) -> dict[str, Any]:
        default_type = "server_error" if reply.status >= 500 else _OPENAI_ERROR_TYPES.get(reply.status,
                                                                                          "invalid_request_error")
        return {"error": {"message": reply.error_message or "error", "type": reply.error_type or default_type,
                          "param": None, "code": reply.error_code}}


_ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                          404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                          529: "overloaded_error"}


class AnthropicWireServer(WireServer):
    """Speaks `POST /v1/messages` like Anthropic."""

    paths = ("/v1/messages",)
    body_fields = frozenset({
        "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature",
        "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers",
        "context_management"})

    def presented_key(self, headers: Mapping[str, str]) -> str | None:
        # The classic header is x-api-key; SDK 2.x sends the key as a bearer token instead.
        bearer = headers.get("authorization")
        return headers.get("x-api-key") or (bearer.removeprefix("Bearer ").strip() if bearer else None)

    def render_success(self, reply: WireReply, body: Mapping[str, Any], call_index: int,
                       request_size: int) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if reply.text is not None:
            content.append({"type": "text", "text": reply.text})
        for position, call in enumerate(reply.tool_calls):
            content.append({"type": "tool_use", "id": call.id or _default_call_id("toolu_", call, position),
                            "name": call.name, "input": call.arguments})
        usage = self.reported_usage(reply, body, request_size)
        if not reply.scripts_cache:
            # The rule split a whole-prompt count: Anthropic's input_tokens is the part neither read nor written.
            usage = dataclasses.replace(usage, input_tokens=usage.input_tokens - (usage.cached_input_tokens or 0)
                                        - (usage.cache_creation_input_tokens or 0))
        return {
            "id": f"msg_{call_index:08d}",
            "type": "message",
            "role": "assistant",
            "model": reply.model or body.get("model") or self.default_model,
            "content": content,
            "stop_reason": reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0,
                "cache_read_input_tokens": usage.cached_input_tokens or 0,
            },
        }

    def cache_rule(self, model: str) -> CacheRule:
        return anthropic_rule(model)

    def prompt_blocks(self, body: Mapping[str, Any]) -> list[PromptBlock]:
        """Tools, system blocks, then each turn's content blocks: cached only up to a cache_control mark."""
        parts = [*(body.get("tools") or []), *_content_blocks(body.get("system"))]
        for turn in body.get("messages") or []:
            parts += _content_blocks(turn.get("content"))
        return [_wire_block(part, breakpoint="cache_control" in part) for part in parts]

    def render_error(self, reply: WireReply) -> dict[str, Any]:
        default_type = _ANTHROPIC_ERROR_TYPES.get(reply.status, "api_error" if reply.status >= 500
                                                  else "invalid_request_error")
        return {"type": "error", "error": {"type": reply.error_type or default_type,
                                           "message": reply.error_message or "error"}}


# Each provider's wire server by the provider name the config uses.
WIRE_SERVERS: dict[str, type[WireServer]] = {"openai": OpenAIWireServer, "anthropic": AnthropicWireServer}
