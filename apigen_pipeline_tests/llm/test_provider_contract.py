"""One contract, both providers: the real SDKs over HTTP against local wire-format servers."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import importlib
import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import openai
import pytest

from apigen_pipeline.llm import sdk_common
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.providers.anthropic_provider import AnthropicProvider, messages_create_params
from apigen_pipeline.llm.providers.base import Provider
from apigen_pipeline.llm.providers.openai_provider import OpenAIProvider, chat_completion_params
from apigen_pipeline.llm.sdk_common import endpoint_label
from apigen_pipeline.llm.types import (
    ChatMessage,
    ErrorKind,
    LLMRequest,
    LLMResponse,
    SamplingParams,
    ToolCallData,
    ToolSchema,
    Usage,
)
from apigen_pipeline.testing import (
    AnthropicWireServer,
    OpenAIWireServer,
    WireReply,
    WireServer,
    WireToolCall,
    WireUsage,
    deterministic_responder,
)

PLANTED_KEY = "sk-test-PLANTED-SECRET-123"
MODEL = "test-model"

GET_ORDER = ToolSchema(
    name="get_order_details",
    description="Look up an order.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
)
CANCEL = ToolSchema(
    name="cancel_pending_order",
    description="Cancel a pending order.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "reason": {"enum": ["no longer needed", "ordered by mistake"]}},
        "required": ["order_id", "reason"],
    },
)
BLUEPRINT_SCHEMA = {
    "type": "object",
    "properties": {
        "instruction": {"type": "string"},
        "actions": {"type": "array", "minItems": 1,
                    "items": {"type": "object", "properties": {"name": {"enum": ["cancel_pending_order"]},
                                                               "arguments": {"type": "object"}},
                              "required": ["name", "arguments"]}},
        "outputs": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["instruction", "actions", "outputs"],
}


def openai_tool_calls_sent(body: dict) -> list[tuple[str, str, dict]]:
    return [(call["id"], call["function"]["name"], json.loads(call["function"]["arguments"]))
            for message in body["messages"] if message["role"] == "assistant"
            for call in message.get("tool_calls") or []]


def openai_tool_results_sent(body: dict) -> list[tuple[str, str]]:
    return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"]


def openai_schema_sent(body: dict) -> dict:
    return body["response_format"]["json_schema"]["schema"]


def anthropic_tool_calls_sent(body: dict) -> list[tuple[str, str, dict]]:
    return [(block["id"], block["name"], block["input"]) for message in body["messages"]
            if message["role"] == "assistant" for block in message["content"] if block["type"] == "tool_use"]


def anthropic_tool_results_sent(body: dict) -> list[tuple[str, str]]:
    return [(block["tool_use_id"], block["content"]) for message in body["messages"]
            if message["role"] == "user" for block in message["content"] if block["type"] == "tool_result"]


def anthropic_schema_sent(body: dict) -> dict:
    forced = body["tool_choice"]["name"]
    return next(tool["input_schema"] for tool in body["tools"] if tool["name"] == forced)


@dataclass(frozen=True)
class Harness:
    """What differs between the providers: how to build them, and how to read what they sent."""

    name: str
    server_type: type[WireServer]
    provider_type: Callable[..., Provider]
    key_env: str
    base_url_env: str
    tool_calls_sent: Callable[[dict], list[tuple[str, str, dict]]]
    tool_results_sent: Callable[[dict], list[tuple[str, str]]]
    schema_sent: Callable[[dict], dict]
    # The neutral Usage a wire usage block maps to (Anthropic reports cache reads/writes apart).
    expected_usage: Callable[[WireUsage], Usage]

    def provider(self, server: WireServer, timeout_s: float = 5.0, **options: Any) -> Provider:
        return self.provider_type(base_url=server.base_url, timeout_s=timeout_s, **options)


HARNESSES = [
    Harness("openai", OpenAIWireServer, OpenAIProvider, "OPENAI_API_KEY", "OPENAI_BASE_URL",
            openai_tool_calls_sent, openai_tool_results_sent, openai_schema_sent,
            lambda u: Usage(input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                            cached_input_tokens=u.cached_input_tokens)),
    Harness("anthropic", AnthropicWireServer, AnthropicProvider, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
            anthropic_tool_calls_sent, anthropic_tool_results_sent, anthropic_schema_sent,
            lambda u: Usage(input_tokens=u.input_tokens + u.cached_input_tokens + u.cache_creation_input_tokens,
                            output_tokens=u.output_tokens, cached_input_tokens=u.cached_input_tokens,
                            cache_write_input_tokens=u.cache_creation_input_tokens)),
]


@pytest.fixture(params=HARNESSES, ids=lambda harness: harness.name)
def harness(request, monkeypatch) -> Harness:
    chosen: Harness = request.param
    monkeypatch.setenv(chosen.key_env, PLANTED_KEY)
    monkeypatch.delenv(chosen.base_url_env, raising=False)
    return chosen


@pytest.fixture
def openai_harness(monkeypatch) -> Harness:
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED_KEY)
    return HARNESSES[0]


def send(provider: Provider, *requests: LLMRequest) -> list[LLMResponse]:
    async def run() -> list[LLMResponse]:
        try:
            return [await provider.send(request, MODEL) for request in requests]
        finally:
            await provider.aclose()

    return asyncio.run(run())


def failure(provider: Provider, request: LLMRequest) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        send(provider, request)
    return caught.value


def user_request(text: str = "Hello?", **extra: Any) -> LLMRequest:
    return LLMRequest(role="human", messages=[ChatMessage(role="system", content="Be brief."),
                                              ChatMessage(role="user", content=text)], **extra)


def agent_request(messages: list[ChatMessage] | None = None, tool_choice: str = "auto") -> LLMRequest:
    return LLMRequest(
        role="agent",
        messages=messages or [ChatMessage(role="system", content="Retail policy.", cacheable=True),
                              ChatMessage(role="user", content="Cancel #W1, I no longer need it.")],
        tools=[GET_ORDER, CANCEL],
        tool_choice=tool_choice,
    )


# ---- answers --------------------------------------------------------------------------------------------

def test_plain_text(harness):
    with harness.server_type(lambda body, i: WireReply.of_text("Hi, how can I help?")) as server:
        [response] = send(harness.provider(server), user_request())
    assert response.text == "Hi, how can I help?"
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.model == MODEL
    assert server.request_count == 1


def test_usage_mapped(harness):
    wire = WireUsage(input_tokens=1200, output_tokens=85, cached_input_tokens=1024, cache_creation_input_tokens=64)
    with harness.server_type(lambda body, i: WireReply.of_text("ok").with_usage(
            wire.input_tokens, wire.output_tokens, wire.cached_input_tokens, wire.cache_creation_input_tokens)) as server:
        [response] = send(harness.provider(server), user_request())
    assert response.usage == harness.expected_usage(wire)
    assert response.usage.cached_input_tokens == 1024


def test_json_schema_output_conforms(harness):
    request = user_request("Write a blueprint.", response_schema=BLUEPRINT_SCHEMA, response_schema_name="blueprint")
    with harness.server_type(deterministic_responder) as server:
        [response] = send(harness.provider(server), request)
    assert response.tool_calls == []
    jsonschema.validate(json.loads(response.text), BLUEPRINT_SCHEMA)
    assert harness.schema_sent(server.requests[0].body) == BLUEPRINT_SCHEMA


def test_tool_call_comes_back_as_typed_data(harness):
    arguments = {"order_id": "#W0001", "reason": "no longer needed"}
    with harness.server_type(lambda body, i: WireReply.of_tool_call("cancel_pending_order", arguments,
                                                                     id="call_abc123")) as server:
        [response] = send(harness.provider(server), agent_request())
    assert response.tool_calls == [ToolCallData(id="call_abc123", name="cancel_pending_order", arguments=arguments)]
    assert response.finish_reason == "tool_calls"
    assert not response.text


def test_multi_turn_history_with_tool_results_is_sent_back(harness):
    lookup = ToolCallData(id="call_1", name="get_order_details", arguments={"order_id": "#W1"})
    lookup_2 = ToolCallData(id="call_2", name="get_order_details", arguments={"order_id": "#W2"})
    history = [
        ChatMessage(role="system", content="Retail policy.", cacheable=True),
        ChatMessage(role="user", content="Cancel #W1 and tell me about #W2."),
        ChatMessage(role="assistant", content="Let me look.", tool_calls=[lookup, lookup_2]),
        ChatMessage(role="tool", tool_call_id="call_1", name="get_order_details", content='{"status": "pending"}'),
        ChatMessage(role="tool", tool_call_id="call_2", name="get_order_details", content='{"status": "delivered"}'),
        ChatMessage(role="user", content="Yes, cancel it."),
    ]
    reply = WireReply.of_tool_call("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})
    with harness.server_type(lambda body, i: reply) as server:
        [response] = send(harness.provider(server), agent_request(history))
    body = server.requests[0].body
    assert harness.tool_calls_sent(body) == [("call_1", "get_order_details", {"order_id": "#W1"}),
                                             ("call_2", "get_order_details", {"order_id": "#W2"})]
    assert harness.tool_results_sent(body) == [("call_1", '{"status": "pending"}'),
                                               ("call_2", '{"status": "delivered"}')]
    assert "Yes, cancel it." in json.dumps(body)
    [call] = response.tool_calls
    assert (call.name, call.arguments) == ("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"})


def test_tool_arguments_that_are_not_an_object_are_invalid_output(harness):
    reply = WireReply.of_tool_call("cancel_pending_order", "[1, 2]")
    if harness.name == "anthropic":
        reply = WireReply.of_tool_calls(WireToolCall("cancel_pending_order", [1, 2]))  # type: ignore[arg-type]
    with harness.server_type(lambda body, i: reply) as server:
        error = failure(harness.provider(server), agent_request())
    assert error.kind is ErrorKind.INVALID_OUTPUT
    assert "cancel_pending_order" in error.message


# ---- errors ----------------------------------------------------------------------------------------------

def _http_date_in(seconds: float) -> str:
    return email.utils.formatdate(time.time() + seconds, usegmt=True)


ERROR_CASES = {
    "429 retry-after seconds": (lambda: WireReply.rate_limited(retry_after=7), ErrorKind.RATE_LIMIT, 429, 7.0),
    "429 retry-after-ms": (lambda: WireReply.rate_limited(retry_after=None, retry_after_ms=1500),
                           ErrorKind.RATE_LIMIT, 429, 1.5),
    "429 retry-after http date": (lambda: WireReply.rate_limited(retry_after=_http_date_in(30)),
                                  ErrorKind.RATE_LIMIT, 429, 30.0),
    "500": (WireReply.server_error, ErrorKind.TRANSIENT, 500, None),
    "529 overloaded": (WireReply.overloaded, ErrorKind.TRANSIENT, 529, None),
    "401": (WireReply.unauthorized, ErrorKind.AUTH, 401, None),
    "403": (lambda: WireReply.http_error(403, "forbidden"), ErrorKind.AUTH, 403, None),
    "404 unknown model": (lambda: WireReply.model_not_found(MODEL), ErrorKind.UNKNOWN_MODEL, 404, None),
    "404 wrong path": (lambda: WireReply.http_error(404, "Not Found"), ErrorKind.PERMANENT, 404, None),
    "400 context length": (WireReply.context_length_exceeded, ErrorKind.PERMANENT, 400, None),
    "400 other": (lambda: WireReply.http_error(400, "messages: must not be empty"), ErrorKind.PERMANENT, 400, None),
}


def test_http_errors_are_classified(harness):
    """Every case through one server and one client: each would otherwise pay for its own SDK client."""
    with harness.server_type(lambda body, i: ERROR_CASES[body_text(body)][0]()) as server:
        provider = harness.provider(server)

        async def run() -> dict[str, ProviderError]:
            errors = {}
            try:
                for case in ERROR_CASES:
                    with pytest.raises(ProviderError) as caught:
                        await provider.send(user_request(case), MODEL)
                    errors[case] = caught.value
            finally:
                await provider.aclose()
            return errors

        errors = asyncio.run(run())
        base_url = server.base_url
    for case, (_, kind, status, retry_after) in ERROR_CASES.items():
        error = errors[case]
        assert (error.kind, error.status_code) == (kind, status), case
        if retry_after is None:
            assert error.retry_after is None, case
        else:
            assert error.retry_after == pytest.approx(retry_after, abs=2.0), case
    assert "context length" in errors["400 context length"].message
    assert "unknown model" in errors["404 unknown model"].message
    assert "is the base URL right?" in errors["404 wrong path"].message
    for case in ("401", "404 unknown model", "404 wrong path"):  # about the endpoint: it is named
        assert f" at {base_url}: " in errors[case].message, case
    assert server.request_count == len(ERROR_CASES)  # the provider never retries


async def _typed_create(harness: Harness, client: Any, request: LLMRequest) -> None:
    """The request through the SDK's typed resource method, the one users know."""
    if harness.name == "openai":
        await client.chat.completions.create(**chat_completion_params(request, MODEL, None))
    else:
        await client.messages.create(**messages_create_params(request, MODEL)[0])


def test_every_http_error_classifies_as_through_the_typed_sdk_method(harness):
    """Providers call the SDK's lower-level `post`; the typed `create` would have raised SDK errors that
    classify the same: kind, status, retry-after and message, case by case, over the wire."""
    with harness.server_type(lambda body, i: ERROR_CASES[body_text(body)][0](),
                             expected_api_key=PLANTED_KEY) as server:
        provider = harness.provider(server)
        sdk = importlib.import_module(harness.name)
        client_type = sdk.AsyncOpenAI if harness.name == "openai" else sdk.AsyncAnthropic

        async def run() -> list[tuple[ProviderError, ProviderError]]:
            pairs = []
            async with client_type(api_key=PLANTED_KEY, base_url=server.base_url, max_retries=0) as client:
                try:
                    for case in ERROR_CASES:
                        with pytest.raises(ProviderError) as through_post:
                            await provider.send(user_request(case), MODEL)
                        with pytest.raises(sdk.APIStatusError) as through_create:
                            await _typed_create(harness, client, user_request(case))
                        pairs.append((through_post.value, provider._classify(through_create.value)))
                finally:
                    await provider.aclose()
            return pairs

        pairs = asyncio.run(run())
        bodies = [record.body for record in server.requests]
    assert len(pairs) == len(ERROR_CASES)
    for case, (through_post, through_create) in zip(ERROR_CASES, pairs, strict=True):
        assert (through_post.kind, through_post.status_code, through_post.message) == (
            through_create.kind, through_create.status_code, through_create.message), case
        assert (through_post.retry_after is None) == (through_create.retry_after is None), case
        if through_post.retry_after is not None:
            assert through_post.retry_after == pytest.approx(through_create.retry_after, abs=2.0), case
    assert bodies[0::2] == bodies[1::2]  # the same request both ways
    assert all(record.auth_matched for record in server.requests)


def body_text(body: dict) -> str:
    """The last user message's text, in either wire format."""
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else content[-1]["text"]


@pytest.mark.parametrize("fault", ["truncated", "invalid_json"])
def test_broken_bodies_are_transient(harness, fault):
    reply = WireReply.of_text("fine")
    reply = reply.truncated() if fault == "truncated" else reply.with_invalid_json()
    with harness.server_type(lambda body, i: reply) as server:
        error = failure(harness.provider(server), user_request())
    assert error.kind is ErrorKind.TRANSIENT
    assert server.request_count == 1


def test_a_slow_reply_is_a_timeout(harness):
    with harness.server_type(lambda body, i: WireReply.of_text("late").delayed(3.0)) as server:
        started = time.monotonic()
        error = failure(harness.provider(server, timeout_s=0.3), user_request())
        elapsed = time.monotonic() - started
    assert error.kind is ErrorKind.TIMEOUT
    assert error.message == f"{harness.name}: request timed out (no reply within 0.3 s)"
    assert elapsed < 2.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_nothing_listening_is_a_refused_connection_naming_the_endpoint(harness, transport):
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    provider = harness.provider_type(base_url=base_url, timeout_s=30.0, http_transport=transport)
    started = time.monotonic()
    error = failure(provider, user_request())
    assert error.kind is ErrorKind.UNREACHABLE
    assert error.message == f"{harness.name} at {base_url}: connection refused (nothing listening?)"
    assert time.monotonic() - started < 2.0  # refused at once: not the 30 s reply timeout


def test_an_unknown_host_is_a_dns_failure(harness):
    # `.invalid` never resolves (RFC 2606): the resolver says so without asking the network.
    error = failure(harness.provider_type(base_url="http://no-such-host.invalid:8000/v1", timeout_s=5.0),
                    user_request())
    assert error.kind is ErrorKind.UNREACHABLE
    assert error.message.startswith(f"{harness.name} at http://no-such-host.invalid:8000/v1: DNS lookup failed")


def test_a_server_that_never_accepts_is_unreachable_after_the_connect_timeout(harness, monkeypatch):
    """A listening socket whose accept queue is full: connecting hangs, as with a black-holed address."""
    monkeypatch.setattr(sdk_common, "CONNECT_TIMEOUT_S", 0.3)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        stuffing = [socket.socket() for _ in range(8)]
        try:
            for queued in stuffing:
                queued.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    queued.connect(listener.getsockname())
            base_url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
            started = time.monotonic()
            error = failure(harness.provider_type(base_url=base_url, timeout_s=30.0), user_request())
            elapsed = time.monotonic() - started
        finally:
            for queued in stuffing:
                queued.close()
    assert error.kind is ErrorKind.UNREACHABLE
    assert error.message == f"{harness.name} at {base_url}: no connection within the connect timeout"
    assert elapsed < 3.0  # the connect timeout, not the 30 s reply timeout


def test_the_endpoint_label_never_shows_user_info_or_a_query():
    assert endpoint_label("https://user:pw@llm.example:8443/v1?key=s3cret", "-") == "https://llm.example:8443/v1"
    assert endpoint_label(None, "default OpenAI endpoint") == "default OpenAI endpoint"


# ---- keys ------------------------------------------------------------------------------------------------

def test_key_is_sent_but_never_appears_in_errors(harness):
    replies = iter([
        WireReply.of_text("ok"),
        WireReply.http_error(401, f"Incorrect API key provided: {PLANTED_KEY}."),
        WireReply.http_error(429, f"Slow down, {PLANTED_KEY}", headers={"retry-after": "1"}),
        WireReply.server_error(f"crash while serving {PLANTED_KEY}"),
    ])
    with harness.server_type(lambda body, i: next(replies), expected_api_key=PLANTED_KEY) as server:
        provider_errors = []
        send(harness.provider(server), user_request())
        for _ in range(3):
            provider_errors.append(failure(harness.provider(server), user_request()))
    assert [record.auth_matched for record in server.requests] == [True] * 4
    assert [error.kind for error in provider_errors] == [ErrorKind.AUTH, ErrorKind.RATE_LIMIT,
                                                         ErrorKind.TRANSIENT]
    for error in provider_errors:
        assert PLANTED_KEY not in str(error)
        assert PLANTED_KEY not in repr(error.args)
        assert PLANTED_KEY not in error.message
    assert PLANTED_KEY not in repr(server.requests)


def test_wrong_key_is_an_auth_failure(harness, monkeypatch):
    monkeypatch.setenv(harness.key_env, "sk-wrong")
    with harness.server_type(deterministic_responder, expected_api_key=PLANTED_KEY) as server:
        error = failure(harness.provider(server), user_request())
    assert error.kind is ErrorKind.AUTH and error.status_code == 401


def test_default_endpoint_without_key_is_an_auth_failure_without_sending(harness, monkeypatch):
    monkeypatch.delenv(harness.key_env)
    provider = harness.provider_type(timeout_s=1.0)
    error = failure(provider, user_request())
    assert error.kind is ErrorKind.AUTH
    assert error.message == f"{harness.name}: {harness.key_env} is not set"


def test_custom_endpoint_without_key_uses_a_placeholder(harness, monkeypatch):
    monkeypatch.delenv(harness.key_env)
    with harness.server_type(lambda body, i: WireReply.of_text("local model")) as server:
        [response] = send(harness.provider(server), user_request())
    assert response.text == "local model"
    assert server.requests[0].auth_header_present


# ---- OpenAI: structured-output capability detection -----------------------------------------------------

def llama_cpp_like(body: dict, call_index: int) -> WireReply:
    """llama.cpp's Python server: json_schema is a 500, json_object with a schema works."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return WireReply.server_error("response_format type must be one of \"text\" or \"json_object\", "
                                      "but got: json_schema")
    return deterministic_responder(body, call_index)


def test_openai_auto_falls_back_to_json_object_once(openai_harness, caplog):
    request = user_request("Write a blueprint.", response_schema=BLUEPRINT_SCHEMA)
    with OpenAIWireServer(llama_cpp_like) as server, caplog.at_level(logging.INFO):
        provider = openai_harness.provider(server)
        endpoint = server.base_url
        first, second = send(provider, request, user_request("Another one.", response_schema=BLUEPRINT_SCHEMA))
    assert any("rejected response_format json_schema" in message and endpoint in message
               for message in caplog.messages)
    assert PLANTED_KEY not in caplog.text
    formats = [record.body.get("response_format", {}).get("type") for record in server.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert server.requests[1].body["response_format"]["schema"] == BLUEPRINT_SCHEMA
    for response in (first, second):
        jsonschema.validate(json.loads(response.text), BLUEPRINT_SCHEMA)
    assert provider.capabilities.structured_mode(provider.endpoint) == "json_object"


def test_openai_detection_is_shared_by_concurrent_requests(openai_harness):
    requests = [user_request(f"Blueprint {n}.", response_schema=BLUEPRINT_SCHEMA) for n in range(8)]
    with OpenAIWireServer(llama_cpp_like, latency_s=0.05) as server:
        provider = openai_harness.provider(server)

        async def run() -> list[LLMResponse]:
            try:
                return await asyncio.gather(*(provider.send(request, MODEL) for request in requests))
            finally:
                await provider.aclose()

        responses = asyncio.run(run())
    formats = [record.body.get("response_format", {}).get("type") for record in server.requests]
    assert formats.count("json_schema") == 1
    assert formats.count("json_object") == 8
    assert len(responses) == 8


def test_openai_falls_back_to_prompt_when_json_object_is_rejected_too(openai_harness):
    def strict_server(body: dict, call_index: int) -> WireReply:
        if "response_format" in body:
            return WireReply.http_error(400, f"Unsupported response_format {body['response_format']['type']}")
        return WireReply.of_json({"instruction": "x", "actions": [], "outputs": []})

    with OpenAIWireServer(strict_server) as server:
        provider = openai_harness.provider(server)
        send(provider, user_request("One.", response_schema=BLUEPRINT_SCHEMA),
             user_request("Two.", response_schema=BLUEPRINT_SCHEMA))
    formats = [record.body.get("response_format", {}).get("type") for record in server.requests]
    assert formats == ["json_schema", "json_object", None, None]
    system_prompt = server.requests[-1].body["messages"][0]["content"]
    assert system_prompt.startswith("Be brief.") and '"instruction"' in system_prompt


def test_openai_plain_server_error_during_detection_is_transient_and_not_remembered(openai_harness):
    with OpenAIWireServer(lambda body, i: WireReply.server_error()) as server:
        provider = openai_harness.provider(server)
        error = failure(provider, user_request(response_schema=BLUEPRINT_SCHEMA))
    assert error.kind is ErrorKind.TRANSIENT
    assert server.request_count == 1
    assert provider.capabilities.structured_mode(provider.endpoint) is None


def test_openai_explicit_mode_skips_detection(openai_harness):
    with OpenAIWireServer(llama_cpp_like) as server:
        send(openai_harness.provider(server, structured_mode="json_object"),
             user_request(response_schema=BLUEPRINT_SCHEMA))
        error = failure(openai_harness.provider(server, structured_mode="json_schema"),
                        user_request(response_schema=BLUEPRINT_SCHEMA))
    assert [record.body["response_format"]["type"] for record in server.requests] == ["json_object", "json_schema"]
    assert error.kind is ErrorKind.TRANSIENT


# ---- HTTP transports -------------------------------------------------------------------------------------

def history_request() -> LLMRequest:
    """Every part of a request that reaches the wire: history with tool calls and results, tools, sampling."""
    lookup = ToolCallData(id="call_1", name="get_order_details", arguments={"order_id": "#W1", "note": "héllo"})
    history = [ChatMessage(role="system", content="Retail policy.", cacheable=True),
               ChatMessage(role="user", content="Cancel #W1."),
               ChatMessage(role="assistant", content=None, tool_calls=[lookup]),
               ChatMessage(role="tool", tool_call_id="call_1", name="get_order_details", content='{"status": "pending"}'),
               ChatMessage(role="user", content="Yes, cancel it.")]
    return agent_request(history, tool_choice="required").model_copy(
        update={"sampling": SamplingParams(temperature=0.3, top_p=0.9, max_tokens=321, seed=7)})


@pytest.mark.parametrize("make_request", [history_request, lambda: user_request(response_schema=BLUEPRINT_SCHEMA)],
                         ids=["history", "schema"])
def test_both_transports_send_the_same_body_and_read_the_same_answer(harness, make_request):
    request = make_request()
    with harness.server_type(deterministic_responder) as server:
        answers = [send(harness.provider(server, http_transport=transport), request)[0]
                   for transport in ("aiohttp", "httpx")]
        bodies = [record.body for record in server.requests]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert answers[0] == answers[1]
    assert answers[0].text or answers[0].tool_calls


def test_openai_body_is_what_the_sdk_builds_from_named_arguments(openai_harness):
    """The provider posts its params through the SDK's lower-level `post`; the wire must not tell the difference."""
    request = history_request().model_copy(update={"response_schema": BLUEPRINT_SCHEMA})
    with OpenAIWireServer(deterministic_responder) as server:
        send(openai_harness.provider(server, structured_mode="json_schema"), request)

        async def through_named_arguments() -> None:
            client = openai.AsyncOpenAI(api_key=PLANTED_KEY, base_url=server.base_url, max_retries=0)
            try:
                await client.chat.completions.create(**chat_completion_params(request, MODEL, "json_schema"))
            finally:
                await client.close()

        asyncio.run(through_named_arguments())
        provider_body, sdk_body = (record.body for record in server.requests)
    assert provider_body == sdk_body
    assert provider_body["messages"][2]["tool_calls"][0]["function"]["name"] == "get_order_details"
    assert (provider_body["seed"], provider_body["max_tokens"]) == (7, 321)
    assert provider_body["response_format"]["json_schema"]["schema"] == BLUEPRINT_SCHEMA


def _typed_openai_reading(completion: Any) -> LLMResponse:
    """What the SDK's own typed model of a chat completion says, field by field."""
    choice, usage = completion.choices[0], completion.usage
    details = usage.prompt_tokens_details
    return LLMResponse(
        text=choice.message.content, finish_reason=choice.finish_reason, model=completion.model,
        tool_calls=[ToolCallData(id=call.id, name=call.function.name, arguments=json.loads(call.function.arguments))
                    for call in choice.message.tool_calls or []],
        usage=Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                    cached_input_tokens=(details.cached_tokens or 0) if details else 0))


def _typed_anthropic_reading(message: Any) -> LLMResponse:
    """What the SDK's own typed model of a message says, field by field."""
    usage = message.usage
    texts = [block.text for block in message.content if block.type == "text"]
    return LLMResponse(
        text="".join(texts) or None, model=message.model,
        finish_reason={"end_turn": "stop", "tool_use": "tool_calls"}[message.stop_reason],
        tool_calls=[ToolCallData(id=block.id, name=block.name, arguments=block.input)
                    for block in message.content if block.type == "tool_use"],
        usage=Usage(input_tokens=usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens,
                    output_tokens=usage.output_tokens, cached_input_tokens=usage.cache_read_input_tokens,
                    cache_write_input_tokens=usage.cache_creation_input_tokens))


async def _through_the_typed_sdk(harness: Harness, server: WireServer, request: LLMRequest) -> LLMResponse:
    """The same request through the SDK's plain `create`, read from the typed model the SDK builds."""
    if harness.name == "openai":
        client = openai.AsyncOpenAI(api_key=PLANTED_KEY, base_url=server.base_url, max_retries=0)
        try:
            return _typed_openai_reading(await client.chat.completions.create(
                **chat_completion_params(request, MODEL, None)))
        finally:
            await client.close()
    anthropic = importlib.import_module("anthropic")
    async with anthropic.AsyncAnthropic(api_key=PLANTED_KEY, base_url=server.base_url, max_retries=0) as client:
        params, _ = messages_create_params(request, MODEL)
        return _typed_anthropic_reading(await client.messages.create(**params))


RAW_READING_REPLIES = {
    "text with cache usage": WireReply.of_text("Sure — I can help with order #W1 (ünïcode kept).").with_usage(
        1200, 85, cached_input_tokens=1024, cache_creation_input_tokens=64),
    "text and two tool calls": WireReply.of_tool_calls(
        WireToolCall("get_order_details", {"order_id": "#W1"}, id="call_a"),
        WireToolCall("cancel_pending_order", {"order_id": "#W2", "reason": "no longer needed"}, id="call_b"),
        text="Let me look both up."),
    "tool call without arguments": WireReply.of_tool_calls(WireToolCall("get_order_details", {}, id="call_c")),
}


@pytest.mark.parametrize("reply", list(RAW_READING_REPLIES.values()), ids=list(RAW_READING_REPLIES))
def test_the_raw_reply_reads_as_the_sdks_typed_model_does(harness, reply):
    """Providers read the raw body (the SDK's `post` returns the HTTP response), not the SDK's typed model: same
    answer, field by field."""
    request = agent_request()
    with harness.server_type(lambda body, i: reply) as server:
        [raw_reading] = send(harness.provider(server), request)
        typed_reading = asyncio.run(_through_the_typed_sdk(harness, server, request))
        bodies = [record.body for record in server.requests]
    assert bodies[0] == bodies[1]  # the same question both ways
    assert raw_reading == typed_reading
    assert raw_reading.usage != Usage() and (raw_reading.text or raw_reading.tool_calls)


# ---- OpenAI: tool_call_mode json --------------------------------------------------------------------------

def test_openai_json_tool_mode_gives_the_same_data_as_native(openai_harness):
    arguments = {"order_id": "#W1", "reason": "no longer needed"}

    def model(body: dict, call_index: int) -> WireReply:
        if "tools" in body:
            return WireReply.of_tool_call("cancel_pending_order", arguments)
        return WireReply.of_json({"action": "cancel_pending_order", "arguments": arguments})

    with OpenAIWireServer(model) as server:
        [native] = send(openai_harness.provider(server), agent_request())
        [json_mode] = send(openai_harness.provider(server, tool_call_mode="json"), agent_request())
    assert json_mode.tool_calls == native.tool_calls
    assert (json_mode.text, json_mode.finish_reason) == (native.text, native.finish_reason)
    json_body = server.requests[1].body
    assert "tools" not in json_body
    branches = json_body["response_format"]["json_schema"]["schema"]["anyOf"]
    assert [branch["properties"]["action"]["const"] for branch in branches] == [
        "get_order_details", "cancel_pending_order", "reply"]
    assert "cancel_pending_order" in json_body["messages"][0]["content"]


def test_openai_json_tool_mode_reply_and_schema_driven_answer(openai_harness):
    with OpenAIWireServer(lambda body, i: WireReply.of_json({"action": "reply", "content": "Which order?"})) as server:
        [response] = send(openai_harness.provider(server, tool_call_mode="json"), agent_request())
    assert (response.text, response.tool_calls, response.finish_reason) == ("Which order?", [], "stop")
    with OpenAIWireServer(deterministic_responder) as server:
        [response] = send(openai_harness.provider(server, tool_call_mode="json"),
                          agent_request(tool_choice="required"))
    [call] = response.tool_calls
    tool = {"get_order_details": GET_ORDER, "cancel_pending_order": CANCEL}[call.name]
    jsonschema.validate(call.arguments, tool.parameters)


# ---- Anthropic specifics -----------------------------------------------------------------------------------

@pytest.fixture
def anthropic_harness(monkeypatch) -> Harness:
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED_KEY)
    return HARNESSES[1]


def test_anthropic_marks_the_static_prefix_cacheable_and_merges_tool_results(anthropic_harness):
    lookup = ToolCallData(id="toolu_1", name="get_order_details", arguments={"order_id": "#W1"})
    lookup_2 = ToolCallData(id="toolu_2", name="get_order_details", arguments={"order_id": "#W2"})
    history = [
        ChatMessage(role="system", content="Retail policy.", cacheable=True),
        ChatMessage(role="system", content="Today is Monday."),
        ChatMessage(role="user", content="Both orders please."),
        ChatMessage(role="assistant", tool_calls=[lookup, lookup_2]),
        ChatMessage(role="tool", tool_call_id="toolu_1", content="pending"),
        ChatMessage(role="tool", tool_call_id="toolu_2", content="delivered"),
    ]
    with AnthropicWireServer(lambda body, i: WireReply.of_text("ok")) as server:
        send(anthropic_harness.provider(server), agent_request(history))
    body = server.requests[0].body
    assert body["system"] == [
        {"type": "text", "text": "Retail policy.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Today is Monday."},
    ]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert all("cache_control" not in tool for tool in body["tools"][:-1])
    assert [message["role"] for message in body["messages"]] == ["user", "assistant", "user"]
    assert [block["type"] for block in body["messages"][2]["content"]] == ["tool_result", "tool_result"]
    assert body["messages"][1]["content"][0]["type"] == "tool_use"  # no empty text block before it


def test_anthropic_structured_output_is_a_forced_tool_whose_input_is_the_text(anthropic_harness):
    request = user_request("Blueprint please.", response_schema=BLUEPRINT_SCHEMA, response_schema_name="blueprint")
    with AnthropicWireServer(deterministic_responder) as server:
        [response] = send(anthropic_harness.provider(server), request)
    body = server.requests[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "blueprint"}
    assert response.tool_calls == []
    assert response.finish_reason == "stop"
    jsonschema.validate(json.loads(response.text), BLUEPRINT_SCHEMA)


def test_anthropic_wraps_non_object_schemas(anthropic_harness):
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2}
    with AnthropicWireServer(deterministic_responder) as server:
        [response] = send(anthropic_harness.provider(server), user_request(response_schema=schema))
    assert server.requests[0].body["tools"][-1]["input_schema"]["type"] == "object"
    value = json.loads(response.text)
    jsonschema.validate(value, schema)
