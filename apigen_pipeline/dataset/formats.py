"""A verified trajectory as a training example: the APIGen-MT ShareGPT row and the OpenAI chat example.

ShareGPT (APIGen-MT-5k): exactly `conversations` ([{from, value}], from in human|gpt|function_call|
observation; a function_call value is the JSON string {"name", "arguments": {...}} and is followed by
exactly one observation), `system` (the agent's system prompt: the domain policy) and `tools` (a JSON
string: [{name, description, parameters}]).
OpenAI chat fine-tuning: `messages` (system, user, assistant with `tool_calls` [{id, type: "function",
function: {name, arguments: JSON string}}], tool with `tool_call_id`) and `tools` ([{type: "function",
function: {...}}]).

The user's closing turn (the one carrying ###STOP###, and anything after the last agent message) is left
out: it teaches the agent nothing, and trainers expect an example to end on the assistant.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from apigen_pipeline.llm.types import ToolSchema
from apigen_pipeline.phase2.models import STOP_TOKEN, TrajectoryMessage

HUMAN, GPT, FUNCTION_CALL, OBSERVATION = "human", "gpt", "function_call", "observation"
SHAREGPT_ROLES = (HUMAN, GPT, FUNCTION_CALL, OBSERVATION)


def training_messages(messages: Sequence[TrajectoryMessage]) -> list[TrajectoryMessage]:
    """The messages up to the last assistant or tool message, with the stop token removed."""
    last_agent = max((i for i, m in enumerate(messages) if m.role != "user"), default=-1)
    kept = []
    for message in messages[:last_agent + 1]:
        if message.role == "user":
            text = (message.content or "").replace(STOP_TOKEN, "").strip()
            if not text:
                continue
            message = message.model_copy(update={"content": text})
        kept.append(message)
    return kept


def tools_json(tools: Sequence[ToolSchema]) -> str:
    return json.dumps([{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools],
                      ensure_ascii=False, sort_keys=True)


def sharegpt_row(messages: Sequence[TrajectoryMessage], system_text: str, tools: Sequence[ToolSchema]
                 ) -> dict[str, Any]:
    conversations: list[dict[str, str]] = []
    for message in training_messages(messages):
        if message.role == "user":
            conversations.append({"from": HUMAN, "value": message.content or ""})
        elif message.role == "assistant":
            if message.content:
                conversations.append({"from": GPT, "value": message.content})
            for call in message.tool_calls:
                conversations.append({"from": FUNCTION_CALL, "value": json.dumps(
                    {"name": call.name, "arguments": call.arguments}, ensure_ascii=False, sort_keys=True)})
        else:
            conversations.append({"from": OBSERVATION, "value": message.content or ""})
    return {"conversations": conversations, "system": system_text, "tools": tools_json(tools)}


def openai_tools(tools: Sequence[ToolSchema]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools]


def openai_example(messages: Sequence[TrajectoryMessage], system_text: str, tools: Sequence[ToolSchema]
                   ) -> dict[str, Any]:
    rendered: list[dict[str, Any]] = [{"role": "system", "content": system_text}]
    for message in training_messages(messages):
        if message.role == "user":
            rendered.append({"role": "user", "content": message.content or ""})
        elif message.role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": message.content}
            if message.tool_calls:
                entry["tool_calls"] = [
                    {"id": call.id, "type": "function",
                     "function": {"name": call.name,
                                  "arguments": json.dumps(call.arguments, ensure_ascii=False, sort_keys=True)}}
                    for call in message.tool_calls]
            rendered.append(entry)
        else:
            rendered.append({"role": "tool", "tool_call_id": message.tool_call_id or "",
                             "content": message.content or ""})
    return {"messages": rendered, "tools": openai_tools(tools)}
