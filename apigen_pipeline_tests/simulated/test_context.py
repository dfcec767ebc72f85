from __future__ import annotations

import json

from apigen_pipeline.llm.types import ChatMessage, LLMRequest, ToolCallData
from apigen_pipeline.phase1.compact_records import pack
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import REPAIR_MARKER, FaultKind, FaultRates
from apigen_pipeline.simulated.provider import SimulatedProvider


def _context(messages: list[ChatMessage], faults: FaultRates | None = None) -> SimulationContext:
    request = LLMRequest(role="human", messages=messages)
    return SimulatedProvider(seed=9, faults=faults).context_for(request, "m")


def test_context_exposes_prompt_json_grounding_and_messages() -> None:
    call = ToolCallData(id="c1", name="get_user_details", arguments={"user_id": "ava_chen_1"})
    ctx = _context([
        ChatMessage(role="system", content="Policy text"),
        ChatMessage(role="user", content='<context>{"orders": ["#W1234567"]}</context>'),
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id="c1", content='{"email": "ava@example.com"}'),
    ])
    assert ctx.prompt_json == ({"orders": ["#W1234567"]}, {"user_id": "ava_chen_1"}, {"email": "ava@example.com"})
    assert list(ctx.grounding.candidates("order_id")) == ["#W1234567"]
    assert list(ctx.grounding.candidates("email")) == ["ava@example.com"]
    assert ctx.system_text == "Policy text"
    assert ctx.last_user_text == '<context>{"orders": ["#W1234567"]}</context>'
    assert ctx.extract_json_blocks('x {"a": 1}') == ({"a": 1},)
    assert ctx.estimate_tokens("Hello, world!") == 4
    value = ctx.value_for_schema({"type": "object", "properties": {"order_id": {"type": "string"}},
                                  "required": ["order_id"]})
    assert value == {"order_id": "#W1234567"}


def test_grounding_reads_the_records_of_a_prompt_table() -> None:
    # Prompt v3 writes records as tables: the values are grounded under their field names as in plain JSON.
    variants = {"11": {"item_id": "11", "price": 9.5, "options": {"color": "red"}},
                "12": {"item_id": "12", "price": 8.0, "options": {"color": "blue"}},
                "13": {"item_id": "13", "price": 7.5, "options": {"color": "green"}}}
    packed = pack({"variants": variants})
    assert packed["variants"]["columns"] == ["item_id", "options.color", "price"]
    ctx = _context([ChatMessage(role="user", content=f"<context>{json.dumps(packed)}</context>")])
    assert list(ctx.grounding.candidates("item_id")) == ["11", "12", "13"]
    assert list(ctx.grounding.candidates("color")) == ["red", "blue", "green"]


def test_context_streams_are_seeded_from_the_request() -> None:
    messages = [ChatMessage(role="user", content="same")]
    first, second = _context(messages), _context(messages)
    assert first.rng.random() == second.rng.random()
    assert first.fault_rng.random() == second.fault_rng.random()
    different = _context([ChatMessage(role="user", content="different")])
    assert different.rng.random() != _context(messages).rng.random()


def test_context_faults_fire_and_are_recorded_but_never_on_repairs() -> None:
    always = FaultRates.none().model_copy(update={"user_drift": 1.0})
    ctx = _context([ChatMessage(role="user", content="go")], always)
    assert ctx.fires(FaultKind.USER_DRIFT)
    assert not ctx.fires(FaultKind.USER_EARLY_STOP)
    assert ctx.fired_faults == [FaultKind.USER_DRIFT]
    repair = _context([ChatMessage(role="user", content="go"),
                       ChatMessage(role="user", content=f"{REPAIR_MARKER}: reply was not JSON.")], always)
    assert repair.is_repair
    assert not repair.fires(FaultKind.USER_DRIFT)
    assert repair.fired_faults == []


def test_response_builders_make_well_formed_answers() -> None:
    ctx = _context([ChatMessage(role="user", content="go")])
    assert json.loads(ctx.json_response({"a": [1]}).text) == {"a": [1]}
    tool_reply = ctx.tool_call_response("get_user_details", {"user_id": "u1"})
    assert tool_reply.finish_reason == "tool_calls"
    assert tool_reply.tool_calls[0].name == "get_user_details"
    assert tool_reply.tool_calls[0].id.startswith("call_")
    assert ctx.new_call_id() != ctx.new_call_id()
