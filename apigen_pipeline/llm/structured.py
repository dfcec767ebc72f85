"""Structured output: parse JSON out of a reply, validate it and tool calls, and word the repair re-ask.

The same checks run whatever the provider, so a reply that passes here is equally usable from the
simulated backend, OpenAI, Anthropic or a local OpenAI-compatible server.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jsonschema import exceptions as schema_exceptions
from jsonschema import validators

from apigen_pipeline.llm.types import ChatMessage, LLMRequest, LLMResponse, ToolCallData, canonical

# How every repair re-ask begins (the validation error follows); the simulated backend recognizes it.
REPAIR_MARKER = "Your previous reply was invalid"
_FENCED_BLOCK = re.compile(r"```(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_MAX_REPORTED_ERRORS = 3
_MAX_QUOTED_CHARS = 200


class StructuredOutputError(ValueError):
    """A reply that does not meet the request's contract; the message is what the model is told."""


def extract_json(text: str | None) -> Any:
    """The JSON value in a reply: the whole text, a fenced ```json block, or the first balanced object."""
    if text is None or not text.strip():
        raise StructuredOutputError("the reply was empty; a JSON object was expected")
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    for block in _FENCED_BLOCK.findall(text):
        try:
            return json.loads(block.strip())
        except ValueError:
            continue
    found = _first_balanced_json(text)
    if found is not _NOTHING:
        return found
    raise StructuredOutputError(f"the reply contains no valid JSON object: {_quote(stripped)}")


_NOTHING = object()


def _first_balanced_json(text: str) -> Any:
    """Scan for `{`/`[` openings and return the first span that balances and parses."""
    start = 0
    while True:
        openings = [i for i in (text.find("{", start), text.find("[", start)) if i >= 0]
        if not openings:
            return _NOTHING
        begin = min(openings)
        end = _balanced_end(text, begin)
        if end is not None:
            try:
                return json.loads(text[begin:end])
            except ValueError:
                pass
        start = begin + 1


def _balanced_end(text: str, begin: int) -> int | None:
    depth = 0
    in_string = False
    escaped = False
    for index in range(begin, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _quote(text: str) -> str:
    return repr(text if len(text) <= _MAX_QUOTED_CHARS else text[:_MAX_QUOTED_CHARS] + "...")


@lru_cache(maxsize=512)
def _validator_for(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """Readable validation errors, each naming where in the value it is (`$.actions[0].name`)."""
    validator = _validator_for(canonical(schema))
    errors = sorted(validator.iter_errors(value), key=schema_exceptions.relevance)
    return [f"at {error.json_path}: {error.message}" for error in errors[:_MAX_REPORTED_ERRORS]]


def validate_tool_calls(request: LLMRequest, tool_calls: list[ToolCallData]) -> None:
    tools = {tool.name: tool for tool in request.tools}
    if request.tool_choice == "required" and not tool_calls:
        raise StructuredOutputError("a tool call was required but the reply made none")
    if request.tool_choice == "none" and tool_calls:
        raise StructuredOutputError("no tool call was allowed but the reply made one")
    for call in tool_calls:
        tool = tools.get(call.name)
        if tool is None:
            offered = ", ".join(sorted(tools)) or "none"
            raise StructuredOutputError(f"tool call '{call.name}' names an unknown tool (available: {offered})")
        problems = schema_errors(call.arguments, tool.parameters)
        if problems:
            raise StructuredOutputError(f"arguments of tool call '{call.name}' are invalid: " + "; ".join(problems))


def validate_response(request: LLMRequest, response: LLMResponse) -> LLMResponse:
    """The response with `parsed` filled when the request has a schema; raises on any violation."""
    if response.tool_calls or request.tools:
        validate_tool_calls(request, response.tool_calls)
    if request.response_schema is None or response.tool_calls:
        return response
    value = extract_json(response.text)
    problems = schema_errors(value, request.response_schema)
    if problems:
        raise StructuredOutputError(
            f"the JSON does not match the schema '{request.response_schema_name}': " + "; ".join(problems))
    return response.model_copy(update={"parsed": value})


def repair_request(request: LLMRequest, conversation: list[ChatMessage], invalid: LLMResponse | None,
                   error: str) -> list[ChatMessage]:
    """The conversation for the next repair turn: the invalid answer, then the re-ask naming the error.

    The invalid answer goes back as plain assistant text (tool calls rendered as JSON) because wire
    formats require a tool result after every native tool call, which a rejected call has none of.
    """
    messages = list(conversation)
    if invalid is not None:
        messages.append(ChatMessage(role="assistant", content=render_answer(invalid)))
    messages.append(ChatMessage(role="user", content=repair_message(request, error)))
    return messages


def render_answer(response: LLMResponse) -> str:
    parts = [response.text] if response.text else []
    parts += [json.dumps({"tool_call": call.name, "arguments": call.arguments}, ensure_ascii=False)
              for call in response.tool_calls]
    return "\n".join(parts) or "(empty reply)"


def repair_message(request: LLMRequest, error: str) -> str:
    if request.response_schema is not None and not request.tools:
        wanted = "Reply again with only a JSON object that matches the requested schema."
    elif request.tools:
        wanted = "Reply again, calling only the offered tools with arguments that match their schemas."
    else:
        wanted = "Reply again, correcting this."
    return f"{REPAIR_MARKER}: {error}. {wanted}"
