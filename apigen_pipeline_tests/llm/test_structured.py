import pytest

from apigen_pipeline.llm.structured import (
    REPAIR_MARKER,
    StructuredOutputError,
    extract_json,
    repair_request,
    validate_response,
)
from apigen_pipeline.llm.types import ChatMessage, LLMRequest, LLMResponse, ToolCallData, ToolSchema

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"instruction": {"type": "string"},
                   "actions": {"type": "array", "items": {"type": "object", "required": ["name"],
                                                          "properties": {"name": {"type": "string"}}}}},
    "required": ["instruction", "actions"],
}
CANCEL = ToolSchema(name="cancel_pending_order", description="Cancel an order.",
                    parameters={"type": "object", "properties": {"order_id": {"type": "string"},
                                                                 "reason": {"enum": ["no longer needed",
                                                                                     "ordered by mistake"]}},
                                "required": ["order_id", "reason"], "additionalProperties": False})


def schema_request() -> LLMRequest:
    return LLMRequest(role="generator", messages=[ChatMessage(role="user", content="make a task")],
                      response_schema=ANSWER_SCHEMA, response_schema_name="blueprint")


def tool_request() -> LLMRequest:
    return LLMRequest(role="agent", messages=[ChatMessage(role="user", content="cancel #W1")], tools=[CANCEL])


@pytest.mark.parametrize("text", [
    '{"a": 1}',
    'Here it is:\n```json\n{"a": 1}\n```\nDone.',
    'I think {this} is it: {"a": 1} and then {"b": 2}',
    'Reasoning... {"a": 1, "note": "a } inside a string"} trailing',
])
def test_extract_json_from_plain_fenced_and_embedded_replies(text):
    found = extract_json(text)
    assert found["a"] == 1


@pytest.mark.parametrize("text", [None, "", "no json here", '{"a": 1'])
def test_extract_json_reports_what_is_missing(text):
    with pytest.raises(StructuredOutputError):
        extract_json(text)


def test_valid_schema_reply_is_parsed():
    response = validate_response(schema_request(), LLMResponse(text='{"instruction": "x", "actions": []}'))
    assert response.parsed == {"instruction": "x", "actions": []}


def test_schema_violation_names_the_path_and_problem():
    reply = LLMResponse(text='{"instruction": "x", "actions": [{"nam": "cancel"}]}')
    with pytest.raises(StructuredOutputError) as caught:
        validate_response(schema_request(), reply)
    message = str(caught.value)
    assert "blueprint" in message
    assert "$.actions[0]" in message and "'name' is a required property" in message


def test_unknown_tool_is_an_error_naming_the_offered_tools():
    reply = LLMResponse(tool_calls=[ToolCallData(id="c1", name="delete_everything", arguments={})])
    with pytest.raises(StructuredOutputError, match="unknown tool.*cancel_pending_order"):
        validate_response(tool_request(), reply)


def test_tool_arguments_are_checked_against_the_tool_schema():
    reply = LLMResponse(tool_calls=[ToolCallData(id="c1", name="cancel_pending_order",
                                                 arguments={"order_id": "#W1", "reason": "bored"})])
    with pytest.raises(StructuredOutputError, match=r"cancel_pending_order.*\$\.reason.*'bored' is not one of"):
        validate_response(tool_request(), reply)
    good = LLMResponse(tool_calls=[ToolCallData(id="c1", name="cancel_pending_order",
                                                arguments={"order_id": "#W1", "reason": "ordered by mistake"})])
    assert validate_response(tool_request(), good) == good


def test_required_tool_choice_rejects_a_text_only_reply():
    request = tool_request().model_copy(update={"tool_choice": "required"})
    with pytest.raises(StructuredOutputError, match="required"):
        validate_response(request, LLMResponse(text="sure"))


def test_repair_appends_the_invalid_answer_then_a_marked_re_ask():
    request = schema_request()
    invalid = LLMResponse(text='{"instruction": 3}')
    messages = repair_request(request, request.messages, invalid, "at $.instruction: 3 is not of type 'string'")
    assert messages[:-2] == request.messages
    assert messages[-2].role == "assistant" and messages[-2].content == '{"instruction": 3}'
    assert messages[-1].role == "user"
    assert messages[-1].content.startswith(REPAIR_MARKER)
    assert "at $.instruction: 3 is not of type 'string'" in messages[-1].content


def test_repair_of_a_bad_tool_call_is_sent_back_as_text():
    request = tool_request()
    invalid = LLMResponse(tool_calls=[ToolCallData(id="c1", name="nope", arguments={"x": 1})])
    messages = repair_request(request, request.messages, invalid, "unknown tool")
    assert messages[-2].tool_calls == [] and '"tool_call": "nope"' in messages[-2].content
