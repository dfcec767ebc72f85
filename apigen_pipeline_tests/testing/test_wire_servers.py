"""The wire servers at the HTTP level (stdlib client): format, records, determinism, faults, concurrency."""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import pytest

from apigen_pipeline.testing import (
    AnthropicWireServer,
    FaultPlan,
    OpenAIWireServer,
    WireReply,
    WireServer,
    WireToolCall,
    body_hash,
    deterministic_responder,
    value_for_schema,
)


def post(server: WireServer, path: str, body: dict[str, Any], headers: dict[str, str] | None = None,
         timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.request("POST", path, body=json.dumps(body),
                           headers={"content-type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def chat_body(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


# ---- wire formats -----------------------------------------------------------------------------------------

def test_openai_chat_completion_format_on_both_paths():
    reply = WireReply.of_tool_calls(WireToolCall("get_order", {"order_id": "#W1"}, id="call_9"), text="Checking.")
    with OpenAIWireServer(lambda body, i: reply.with_usage(100, 10, cached_input_tokens=64)) as server:
        assert server.base_url.endswith("/v1")
        results = [post(server, path, chat_body()) for path in ("/v1/chat/completions", "/chat/completions")]
    for status, headers, raw in results:
        assert status == 200 and headers["content-type"] == "application/json"
        completion = json.loads(raw)
        assert completion["object"] == "chat.completion"
        assert completion["model"] == "m"
        [choice] = completion["choices"]
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["content"] == "Checking."
        [call] = choice["message"]["tool_calls"]
        assert call == {"id": "call_9", "type": "function",
                        "function": {"name": "get_order", "arguments": '{"order_id": "#W1"}'}}
        assert completion["usage"] == {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
                                       "prompt_tokens_details": {"cached_tokens": 64}}


def test_anthropic_message_format():
    reply = WireReply.of_tool_calls(WireToolCall("get_order", {"order_id": "#W1"}), text="Checking.")
    with AnthropicWireServer(lambda body, i: reply.with_usage(100, 10, 64, 8)) as server:
        status, _, raw = post(server, "/v1/messages", chat_body())
    message = json.loads(raw)
    assert status == 200
    assert (message["type"], message["role"], message["stop_reason"]) == ("message", "assistant", "tool_use")
    text_block, tool_block = message["content"]
    assert text_block == {"type": "text", "text": "Checking."}
    assert tool_block["type"] == "tool_use" and tool_block["id"].startswith("toolu_")
    assert (tool_block["name"], tool_block["input"]) == ("get_order", {"order_id": "#W1"})
    assert message["usage"] == {"input_tokens": 100, "output_tokens": 10, "cache_read_input_tokens": 64,
                                "cache_creation_input_tokens": 8}


@pytest.mark.parametrize(
    ("server_type", "path", "expected"),
    [
        (OpenAIWireServer, "/v1/chat/completions",
         {"error": {"message": "Rate limit reached. Please try again later.", "type": "rate_limit_error",
                    "param": None, "code": None}}),
        (AnthropicWireServer, "/v1/messages",
         {"type": "error", "error": {"type": "rate_limit_error",
                                     "message": "Rate limit reached. Please try again later."}}),
    ],
)
def test_error_objects_and_headers(server_type, path, expected):
    with server_type(lambda body, i: WireReply.rate_limited(retry_after=3)) as server:
        status, headers, raw = post(server, path, chat_body())
    assert status == 429
    assert headers["retry-after"] == "3"
    assert json.loads(raw) == expected


def test_unknown_path_is_404_and_not_recorded():
    with AnthropicWireServer() as server:
        status, _, raw = post(server, "/v1/chat/completions", chat_body())
    assert status == 404
    assert json.loads(raw)["error"]["type"] == "not_found_error"
    assert server.request_count == 0


@pytest.mark.parametrize(("server_type", "path", "message"), [
    (OpenAIWireServer, "/v1/chat/completions", "Unrecognized request argument supplied: extra_body"),
    (AnthropicWireServer, "/v1/messages", "extra_body: Extra inputs are not permitted"),
])
def test_a_body_field_the_provider_does_not_know_is_a_400_as_the_provider_answers_it(server_type, path, message):
    # An SDK-only keyword (`extra_body`) posted as a field of the body: the real APIs refuse it.
    with server_type() as server:
        status, _, raw = post(server, path, chat_body(max_tokens=16, extra_body={"temperature": 0.0}))
        accepted, _, _ = post(server, path, chat_body(max_tokens=16, temperature=0.0))
    error = json.loads(raw)["error"]
    assert (status, error["type"], error["message"]) == (400, "invalid_request_error", message)
    assert accepted == 200 and server.request_count == 1


def test_a_failing_responder_is_a_500_not_a_hang():
    def broken(body: dict, call_index: int) -> WireReply:
        raise KeyError("oops")

    with OpenAIWireServer(broken) as server:
        status, _, raw = post(server, "/v1/chat/completions", chat_body())
    assert status == 500 and "KeyError" in json.loads(raw)["error"]["message"]


def test_truncated_and_invalid_bodies():
    replies = {"truncated": WireReply.of_text("x" * 200).truncated(),
               "invalid": WireReply.of_text("x" * 200).with_invalid_json()}
    with OpenAIWireServer(lambda body, i: replies[body["messages"][0]["content"]]) as server:
        with pytest.raises(http.client.IncompleteRead):
            post(server, "/v1/chat/completions", chat_body("truncated"))
        status, _, raw = post(server, "/v1/chat/completions", chat_body("invalid"))
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    assert [record.answered for record in server.requests] == [False, False]


# ---- records ------------------------------------------------------------------------------------------------

def test_records_requests_and_auth_presence_without_the_key():
    secret = "sk-test-PLANTED-SECRET-123"
    with OpenAIWireServer(expected_api_key=secret) as server:
        post(server, "/v1/chat/completions", chat_body("a"), {"authorization": f"Bearer {secret}"})
        post(server, "/v1/chat/completions", chat_body("a"), {"authorization": "Bearer wrong"})
        post(server, "/chat/completions", chat_body("b"))
    first, second, third = server.requests
    assert [r.call_index for r in server.requests] == [0, 1, 2]
    assert (first.auth_header_present, first.auth_matched, first.status, first.answered) == (True, True, 200, True)
    assert (second.auth_header_present, second.auth_matched, second.status) == (True, False, 401)
    assert (third.auth_header_present, third.auth_matched, third.path) == (False, False, "/chat/completions")
    assert first.body == chat_body("a") and first.body_hash == body_hash(chat_body("a"))
    assert server.count_by_body_hash() == {body_hash(chat_body("a")): 2, body_hash(chat_body("b")): 1}
    assert secret not in repr(server.requests)


def test_anthropic_records_x_api_key_presence():
    with AnthropicWireServer(expected_api_key="k-123") as server:
        post(server, "/v1/messages", chat_body(), {"x-api-key": "k-123"})
    assert server.requests[0].auth_matched is True


def test_answered_twice_is_detectable():
    with OpenAIWireServer() as server:
        for text in ("a", "b", "a"):
            post(server, "/v1/chat/completions", chat_body(text))
        assert server.bodies_answered_more_than_once() == [body_hash(chat_body("a"))]
        server.clear_records()
        assert server.request_count == 0


# ---- deterministic replies ----------------------------------------------------------------------------------

SCHEMAS = [
    {"type": "object", "properties": {"name": {"type": "string", "minLength": 3, "maxLength": 20},
                                      "age": {"type": "integer", "minimum": 18, "maximum": 99},
                                      "score": {"type": "number", "minimum": 0, "maximum": 1},
                                      "ok": {"type": "boolean"}, "tier": {"enum": ["gold", "silver"]}},
     "required": ["name", "age", "score", "ok", "tier"]},
    {"type": "array", "items": {"type": "object", "properties": {"email": {"type": "string", "format": "email"}},
                                "required": ["email"]}, "minItems": 2, "maxItems": 4},
    {"$defs": {"item": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}},
     "type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/item"}}},
     "required": ["items"]},
    {"anyOf": [{"type": "object", "properties": {"action": {"const": "a"}}, "required": ["action"]},
               {"type": "object", "properties": {"action": {"const": "b"}, "n": {"type": ["integer", "null"]}},
                "required": ["action", "n"]}]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_schema_driven_values_conform(schema):
    for seed in range(20):
        jsonschema.validate(value_for_schema(schema, random.Random(seed)), schema)


def test_deterministic_responder_same_body_same_reply():
    schema = SCHEMAS[0]
    body = chat_body(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    first = deterministic_responder(body, 0)
    assert deterministic_responder(json.loads(json.dumps(body)), 7) == first
    jsonschema.validate(json.loads(first.text), schema)
    other = deterministic_responder(chat_body("something else"), 0)
    assert other.text != deterministic_responder(chat_body("hi"), 0).text
    assert other.tool_calls == ()


def test_deterministic_responder_honours_json_object_schema_and_forced_tools():
    schema = SCHEMAS[1]
    json_object = deterministic_responder(chat_body(response_format={"type": "json_object", "schema": schema}), 0)
    jsonschema.validate(json.loads(json_object.text), schema)
    parameters = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
    openai_body = chat_body(tools=[{"type": "function", "function": {"name": "get_order", "parameters": parameters}}],
                            tool_choice="required")
    [call] = deterministic_responder(openai_body, 0).tool_calls
    assert call.name == "get_order"
    jsonschema.validate(call.arguments, parameters)
    anthropic_body = chat_body(tools=[{"name": "get_order", "input_schema": parameters},
                                      {"name": "answer", "input_schema": SCHEMAS[0]}],
                               tool_choice={"type": "tool", "name": "answer"})
    [call] = deterministic_responder(anthropic_body, 0).tool_calls
    assert call.name == "answer"
    jsonschema.validate(call.arguments, SCHEMAS[0])
    auto = chat_body(tools=openai_body["tools"], tool_choice="auto")
    assert deterministic_responder(auto, 0).tool_calls == ()


# ---- faults -------------------------------------------------------------------------------------------------

def test_fault_plan_draws_are_deterministic_and_follow_the_shares():
    plan = FaultPlan(rate_limit=0.2, server_error=0.1, timeout=0.05, invalid_json=0.05, seed=3)
    draws = [plan.draw(f"body-{n}", 0) for n in range(4000)]
    assert draws == [plan.draw(f"body-{n}", 0) for n in range(4000)]
    shares = {kind: draws.count(kind) / len(draws) for kind in ("rate_limit", "server_error", "timeout",
                                                                "invalid_json")}
    assert shares["rate_limit"] == pytest.approx(0.2, abs=0.03)
    assert shares["server_error"] == pytest.approx(0.1, abs=0.03)
    assert shares["timeout"] == pytest.approx(0.05, abs=0.02)
    assert shares["invalid_json"] == pytest.approx(0.05, abs=0.02)
    assert draws.count(None) / len(draws) == pytest.approx(0.6, abs=0.03)
    assert [FaultPlan(rate_limit=0.5, seed=4).draw(f"b{n}", 0) for n in range(50)] != [
        FaultPlan(rate_limit=0.5, seed=5).draw(f"b{n}", 0) for n in range(50)]


def test_fault_plan_rejects_impossible_shares():
    with pytest.raises(ValueError):
        FaultPlan(rate_limit=0.8, server_error=0.3)
    with pytest.raises(ValueError):
        FaultPlan(timeout=-0.1)


def test_a_retried_body_gets_a_fresh_draw():
    plan = FaultPlan(rate_limit=0.5, seed=11, retry_after_s=2)
    body = next(chat_body(f"q{n}") for n in range(200)
                if plan.draw(body_hash(chat_body(f"q{n}")), 0) == "rate_limit"
                and plan.draw(body_hash(chat_body(f"q{n}")), 1) is None)
    with OpenAIWireServer(fault_plan=plan) as server:
        first = post(server, "/v1/chat/completions", body)
        second = post(server, "/v1/chat/completions", body)
    assert (first[0], first[1]["retry-after"]) == (429, "2")
    assert second[0] == 200
    assert server.count_by_body_hash() == {body_hash(body): 2}
    assert server.answers_by_body_hash() == {body_hash(body): 1}


def test_timeout_fault_delays_past_the_client_timeout():
    plan = FaultPlan(timeout=1.0, timeout_delay_s=5.0)
    with OpenAIWireServer(fault_plan=plan) as server, pytest.raises(socket.timeout):
        post(server, "/v1/chat/completions", chat_body(), timeout=0.2)


# ---- concurrency and lifecycle -------------------------------------------------------------------------------

def test_concurrent_slow_requests_are_not_serialized():
    concurrency, latency = 64, 0.2
    with OpenAIWireServer(latency_s=latency) as server:
        started = time.monotonic()
        with ThreadPoolExecutor(concurrency) as pool:
            statuses = list(pool.map(lambda n: post(server, "/v1/chat/completions", chat_body(f"q{n}"))[0],
                                     range(concurrency * 2)))
        elapsed = time.monotonic() - started
    assert statuses == [200] * (concurrency * 2)
    assert server.max_in_flight >= concurrency - 4  # a loaded machine may start a few threads late
    assert elapsed < 1.5  # two waves of 0.2 s; serialized it would take 25 s


def test_stop_wakes_delayed_replies_and_frees_the_port():
    with OpenAIWireServer(lambda body, i: WireReply.of_text("late").delayed(30)) as server:
        port = server.port
        pool = ThreadPoolExecutor(1)
        pending = pool.submit(post, server, "/v1/chat/completions", chat_body(), None, 60)
        while server.request_count == 0:
            time.sleep(0.01)
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        pending.result(timeout=5)
    pool.shutdown()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_isolated_server_serves_from_a_child_process_and_reports_its_records():
    def responder(body: dict, call_index: int) -> WireReply:
        return WireReply.of_text(f"pid {os.getpid()}")

    with AnthropicWireServer(responder, isolated=True, latency_s=0.25) as server:
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda n: json.loads(post(server, "/v1/messages", chat_body(f"q{n}"))[2]),
                                    range(8)))
        assert {reply["content"][0]["text"] for reply in replies} != {f"pid {os.getpid()}"}
        assert server.request_count == 8
        assert server.max_in_flight == 8
        assert sorted(server.count_by_body_hash()) == sorted(body_hash(chat_body(f"q{n}")) for n in range(8))
        server.clear_records()
        assert server.requests == []
        port = server.port
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
