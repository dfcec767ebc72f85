"""The simulated agent's view of a conversation: the request's messages as turns (user and assistant
text, tool calls, tool results), read from both tool-call dialects (native calls or next-action JSON)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from apigen_pipeline.llm.tool_call_modes import NEXT_ACTION_SCHEMA_NAME, REPLY_ACTION
from apigen_pipeline.llm.types import LLMRequest

# How the json tool-call mode shows a tool result to the model (`tool_call_modes`).
_JSON_RESULT = re.compile(r"^Result of (?P<name>[\w.-]+) \(call [^)]*\):\n", re.DOTALL)


@dataclass
class Turn:
    role: str                     # "user" | "assistant" | "call" | "result"
    text: str = ""
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.text.startswith("Error")


def conversation_turns(request: LLMRequest) -> list[Turn]:
    """The request's messages as turns, reading both the native and the json tool-call dialects."""
    json_mode = request.response_schema_name == NEXT_ACTION_SCHEMA_NAME
    turns: list[Turn] = []
    last_call = ""
    for message in request.messages:
        content = message.content or ""
        if message.role == "user":
            result = _JSON_RESULT.match(content) if json_mode else None
            if result:
                turns.append(Turn("result", content[result.end():], result.group("name")))
            else:
                turns.append(Turn("user", content))
        elif message.role == "assistant":
            action = _json_action(content) if json_mode else None
            if action is not None and action.get("action") != REPLY_ACTION:
                last_call = str(action.get("action"))
                turns.append(Turn("call", name=last_call, arguments=dict(action.get("arguments") or {})))
            elif action is not None:
                turns.append(Turn("assistant", str(action.get("content", ""))))
            else:
                if content:
                    turns.append(Turn("assistant", content))
                for call in message.tool_calls:
                    last_call = call.name
                    turns.append(Turn("call", name=call.name, arguments=dict(call.arguments)))
        elif message.role == "tool":
            turns.append(Turn("result", content, message.name or last_call))
    return turns


def _json_action(content: str) -> dict[str, Any] | None:
    try:
        value = json.loads(content)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and "action" in value else None


def observation_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def find_field(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key in value and not isinstance(value[key], dict | list):
            return value[key]
        for child in value.values():
            found = find_field(child, key)
            if found is not None:
                return found
    elif isinstance(value, list):
        for child in value:
            found = find_field(child, key)
            if found is not None:
                return found
    return None
