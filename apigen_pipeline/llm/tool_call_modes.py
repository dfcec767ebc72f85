"""Tool calls as schema-constrained JSON, for models that never emit native `tool_calls`.

Many open models behind OpenAI-compatible servers (small Qwen-Coder models under llama.cpp, for one)
write the call as JSON text in `content`. In `json` mode the request's tools become one response
schema, a "next action" object with one `anyOf` branch per tool plus a reply-to-user branch, and the
reply is turned back into typed `ToolCallData`. The result carries the same data a native tool call
would: same tool name, same arguments, `finish_reason="tool_calls"`, no text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, Literal

from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.messages import with_system_text
from apigen_pipeline.llm.types import (
    ChatMessage,
    ErrorKind,
    LLMRequest,
    LLMResponse,
    ToolCallData,
    ToolSchema,
    canonical,
)

ToolCallMode = Literal["native", "json"]

NEXT_ACTION_SCHEMA_NAME = "next_action"
REPLY_ACTION = "reply"

# Small models often wrap their JSON in a Markdown fence even when asked not to.
_FENCED_JSON = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def json_mode_applies(request: LLMRequest) -> bool:
    """Whether `to_json_mode` turns this request into a next-action request (else it only strips tools)."""
    return bool(request.tools) and request.tool_choice != "none"


def next_action_schema(tools: Iterable[ToolSchema], allow_reply: bool = True) -> dict[str, Any]:
    """One `anyOf` branch per tool (its own argument schema) plus, unless forbidden, a reply branch."""
    branches: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"action": {"const": tool.name}, "arguments": tool.parameters},
            "required": ["action", "arguments"],
        }
        for tool in tools
    ]
    if allow_reply:
        branches.append(
            {
                "type": "object",
                "properties": {"action": {"const": REPLY_ACTION}, "content": {"type": "string"}},
                "required": ["action", "content"],
            }
        )
    return {"anyOf": branches}


def tool_call_id_for(name: str, arguments: dict[str, Any], position: int = 0) -> str:
    """A stable id, so the same decision always yields the same `ToolCallData` (and the same cache key downstream)."""
    digest = hashlib.sha256(canonical([name, arguments, position]).encode()).hexdigest()
    return f"call_{digest[:24]}"


def describe_tools_for_prompt(tools: Iterable[ToolSchema], allow_reply: bool) -> str:
    lines = [
        "You can use the tools listed below. Answer with exactly one JSON object and nothing else.",
        'To call a tool: {"action": "<tool name>", "arguments": {<arguments matching its parameter schema>}}.',
    ]
    if allow_reply:
        lines.append(f'To answer the user instead: {{"action": "{REPLY_ACTION}", "content": "<your message>"}}.')
    else:
        lines.append("You must call one of the tools now.")
    lines.append("Tools:")
    for tool in tools:
        lines.append(f"- {tool.name}: {tool.description}\n  parameters: {canonical(tool.parameters)}")
    return "\n".join(lines)


def _action_json(call: ToolCallData) -> str:
    return json.dumps({"action": call.name, "arguments": call.arguments}, ensure_ascii=False)


def _history_as_json_actions(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Earlier native tool calls and results rewritten in the json-mode dialect.

    A server that cannot emit tool calls usually cannot render `tool` roles or `tool_calls` in its chat
    template either, and the model should see its own past turns in the format it is asked to produce.
    """
    rewritten: list[ChatMessage] = []
    for message in messages:
        if message.role == "assistant":
            if message.tool_calls:
                content = "\n".join(_action_json(call) for call in message.tool_calls)
            else:
                content = json.dumps({"action": REPLY_ACTION, "content": message.content or ""}, ensure_ascii=False)
            rewritten.append(ChatMessage(role="assistant", content=content, cacheable=message.cacheable))
        elif message.role == "tool":
            label = message.name or "tool"
            rewritten.append(
                ChatMessage(
                    role="user",
                    content=f"Result of {label} (call {message.tool_call_id}):\n{message.content or ''}",
                    cacheable=message.cacheable,
                )
            )
        else:
            rewritten.append(message)
    return rewritten


def to_json_mode(request: LLMRequest) -> LLMRequest:
    """The same request with its tools expressed as a next-action response schema and no native tools."""
    if not request.tools:
        return request
    if request.tool_choice == "none":
        # Nothing may be called: the model answers in plain text and needs no tool list.
        return request.model_copy(update={"tools": [], "tool_choice": "auto"})
    if request.response_schema is not None:
        raise ValueError("json tool-call mode cannot combine tools with a response_schema")
    allow_reply = request.tool_choice != "required"
    messages = with_system_text(
        _history_as_json_actions(list(request.messages)),
        describe_tools_for_prompt(request.tools, allow_reply),
    )
    return request.model_copy(
        update={
            "messages": messages,
            "tools": [],
            "tool_choice": "auto",
            "response_schema": next_action_schema(request.tools, allow_reply),
            "response_schema_name": NEXT_ACTION_SCHEMA_NAME,
        }
    )


def _parse_action(text: str | None) -> dict[str, Any]:
    if not text or not text.strip():
        raise ProviderError(ErrorKind.INVALID_OUTPUT, "json tool-call mode: the reply is empty, expected a next-action object")
    fenced = _FENCED_JSON.match(text)
    candidate = fenced.group(1) if fenced else text
    try:
        action = json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise ProviderError(ErrorKind.INVALID_OUTPUT, f"json tool-call mode: the reply is not JSON ({exc.msg})") from None
    if not isinstance(action, dict) or not isinstance(action.get("action"), str):
        raise ProviderError(
            ErrorKind.INVALID_OUTPUT, 'json tool-call mode: expected an object with a string "action" field'
        )
    return action


def from_json_mode(response: LLMResponse, tool_names: Iterable[str] | None = None) -> LLMResponse:
    """Turn a next-action JSON reply into typed tool calls (or plain text for a reply to the user).

    `tool_names`, when given, are the tools the request offered: any other action is invalid output.
    """
    action = _parse_action(response.text)
    name = action["action"]
    if name == REPLY_ACTION:
        content = action.get("content")
        if not isinstance(content, str):
            raise ProviderError(ErrorKind.INVALID_OUTPUT, 'json tool-call mode: a reply needs a string "content"')
        return response.model_copy(update={"text": content, "tool_calls": [], "finish_reason": "stop"})
    known = set(tool_names) if tool_names is not None else None
    if known is not None and name not in known:
        raise ProviderError(ErrorKind.INVALID_OUTPUT, f"json tool-call mode: unknown tool {name!r}")
    arguments = action.get("arguments", {})
    if not isinstance(arguments, dict):
        raise ProviderError(
            ErrorKind.INVALID_OUTPUT, f"json tool-call mode: arguments for tool {name!r} are not a JSON object"
        )
    call = ToolCallData(id=tool_call_id_for(name, arguments), name=name, arguments=arguments)
    return response.model_copy(update={"text": None, "tool_calls": [call], "finish_reason": "tool_calls"})
