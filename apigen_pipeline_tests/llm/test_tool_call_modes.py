import json

import jsonschema
import pytest

from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.tool_call_modes import (
    NEXT_ACTION_SCHEMA_NAME,
    from_json_mode,
    json_mode_applies,
    next_action_schema,
    to_json_mode,
    tool_call_id_for,
)
from apigen_pipeline.llm.types import (
    ChatMessage,
    ErrorKind,
    LLMRequest,
    LLMResponse,
    ToolCallData,
    ToolSchema,
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
FIND_USER = ToolSchema(
    name="find_user_id_by_email",
    description="Find a user id by email.",
    parameters={"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]},
)


def agent_request(tool_choice: str = "auto", **extra) -> LLMRequest:
    return LLMRequest(
        role="agent",
        messages=[ChatMessage(role="system", content="Retail policy.", cacheable=True),
                  ChatMessage(role="user", content="Cancel order #W1, I no longer need it.")],
        tools=[FIND_USER, CANCEL],
        tool_choice=tool_choice,
        **extra,
    )


def test_next_action_schema_accepts_each_tool_with_its_own_arguments_and_a_reply():
    schema = next_action_schema([FIND_USER, CANCEL])
    jsonschema.validate({"action": "cancel_pending_order",
                         "arguments": {"order_id": "#W1", "reason": "no longer needed"}}, schema)
    jsonschema.validate({"action": "find_user_id_by_email", "arguments": {"email": "a@b.c"}}, schema)
    jsonschema.validate({"action": "reply", "content": "Done."}, schema)
    with pytest.raises(jsonschema.ValidationError):  # cancel's arguments under the other tool's name
        jsonschema.validate({"action": "find_user_id_by_email",
                             "arguments": {"order_id": "#W1", "reason": "no longer needed"}}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"action": "cancel_pending_order", "arguments": {"order_id": "#W1", "reason": "bored"}},
                            schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"action": "delete_everything", "arguments": {}}, schema)


def test_next_action_schema_without_reply_forces_a_tool():
    schema = next_action_schema([CANCEL], allow_reply=False)
    assert len(schema["anyOf"]) == 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"action": "reply", "content": "hi"}, schema)


def test_to_json_mode_moves_tools_into_schema_and_prompt():
    converted = to_json_mode(agent_request())
    assert converted.tools == []
    assert converted.response_schema_name == NEXT_ACTION_SCHEMA_NAME
    assert converted.response_schema == next_action_schema([FIND_USER, CANCEL])
    system = converted.messages[0]
    assert system.role == "system" and system.cacheable
    assert system.content.startswith("Retail policy.")
    assert "cancel_pending_order" in system.content and "find_user_id_by_email" in system.content
    assert converted.messages[1:] == agent_request().messages[1:]


def test_to_json_mode_required_drops_reply_branch():
    converted = to_json_mode(agent_request(tool_choice="required"))
    assert all(branch["properties"]["action"]["const"] != "reply" for branch in converted.response_schema["anyOf"])


def test_to_json_mode_rewrites_tool_history_as_actions():
    call = ToolCallData(id="call_1", name="find_user_id_by_email", arguments={"email": "a@b.c"})
    request = agent_request().model_copy(update={"messages": [
        ChatMessage(role="user", content="I am a@b.c"),
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", tool_call_id="call_1", name="find_user_id_by_email", content="user_42"),
        ChatMessage(role="assistant", content="Found you."),
    ]})
    messages = to_json_mode(request).messages
    assert [m.role for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert json.loads(messages[2].content) == {"action": "find_user_id_by_email", "arguments": {"email": "a@b.c"}}
    assert "user_42" in messages[3].content and "find_user_id_by_email" in messages[3].content
    assert json.loads(messages[4].content) == {"action": "reply", "content": "Found you."}
    assert all(not m.tool_calls for m in messages)


def test_to_json_mode_leaves_toolless_requests_alone_and_strips_tools_when_none_may_be_called():
    plain = LLMRequest(role="human", messages=[ChatMessage(role="user", content="hi")])
    assert to_json_mode(plain) is plain
    stripped = to_json_mode(agent_request(tool_choice="none"))
    assert stripped.tools == [] and stripped.response_schema is None
    assert not json_mode_applies(agent_request(tool_choice="none"))
    assert json_mode_applies(agent_request())


def test_to_json_mode_refuses_tools_with_a_response_schema():
    with pytest.raises(ValueError):
        to_json_mode(agent_request(response_schema={"type": "object"}))


def test_from_json_mode_gives_typed_tool_call():
    reply = LLMResponse(text=json.dumps({"action": "cancel_pending_order",
                                         "arguments": {"order_id": "#W1", "reason": "no longer needed"}}),
                        finish_reason="stop", model="m")
    converted = from_json_mode(reply, ["cancel_pending_order"])
    assert converted.text is None
    assert converted.finish_reason == "tool_calls"
    assert converted.model == "m"
    [call] = converted.tool_calls
    assert call.name == "cancel_pending_order"
    assert call.arguments == {"order_id": "#W1", "reason": "no longer needed"}
    assert call.id == tool_call_id_for("cancel_pending_order", call.arguments)


def test_from_json_mode_reply_becomes_text_and_fences_are_tolerated():
    fenced = '```json\n{"action": "reply", "content": "Your order is cancelled."}\n```'
    converted = from_json_mode(LLMResponse(text=fenced, finish_reason="stop"), ["cancel_pending_order"])
    assert converted.text == "Your order is cancelled."
    assert converted.tool_calls == [] and converted.finish_reason == "stop"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json at all", "not JSON"),
        ("", "empty"),
        ('["cancel_pending_order"]', "action"),
        ('{"action": "drop_tables", "arguments": {}}', "drop_tables"),
        ('{"action": "cancel_pending_order", "arguments": ["#W1"]}', "cancel_pending_order"),
        ('{"action": "reply"}', "content"),
    ],
)
def test_from_json_mode_rejects_bad_actions_as_invalid_output(text, fragment):
    with pytest.raises(ProviderError) as caught:
        from_json_mode(LLMResponse(text=text), ["cancel_pending_order"])
    assert caught.value.kind is ErrorKind.INVALID_OUTPUT
    assert fragment in caught.value.message


def test_tool_call_ids_are_stable_per_decision():
    assert tool_call_id_for("t", {"a": 1}) == tool_call_id_for("t", {"a": 1})
    assert tool_call_id_for("t", {"a": 1}) != tool_call_id_for("t", {"a": 2})
    assert tool_call_id_for("t", {"a": 1}) != tool_call_id_for("t", {"a": 1}, position=1)
