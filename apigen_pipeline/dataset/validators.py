"""Independent validators of the two export formats, written from the formats' documentation.

They share no code with the exporter on purpose: an exporter bug must not be able to hide itself.
Each returns a list of problems (empty = valid), each naming the rule it breaks.

OpenAI chat fine-tuning (one JSON object per line): `messages` is a non-empty list of messages with
role system|user|assistant|tool; system and user messages have string content; an assistant message
has string content and/or `tool_calls`, each {id, type: "function", function: {name, arguments}} with
`arguments` a string holding a JSON object; the tool calls of an assistant message are answered by the
`tool` messages right after it, one per call id (`tool_call_id`); at least one assistant message;
`tools`, when present, is a list of {type: "function", function: {name, description?, parameters}}
with unique names matching ^[a-zA-Z0-9_-]{1,64}$ and object parameter schemas; calls name listed tools.

Rules of this dataset on top of the formats (a tool-use training example a trainer can learn from):
at least one human/user turn, at least one function call, and the example ends on an agent reply
(a `gpt` turn; an assistant message with text and no tool calls).

Whole files: `validate_jsonl_file` and `validate_parquet_file` read the bytes back and validate every row;
a file with no rows is a problem (an empty export teaches nothing and usually hides a failure upstream).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
OPENAI_ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = ("human", "gpt", "function_call", "observation")


def _json_object(text: Any) -> dict[str, Any] | None:
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _openai_tools(tools: Any) -> tuple[list[str], set[str]]:
    problems: list[str] = []
    names: set[str] = set()
    if not isinstance(tools, list):
        return ["tools: must be a list"], names
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            problems.append(f"{where}: must be {{type: 'function', function: {{...}}}}")
            continue
        function = tool["function"]
        name = function.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            problems.append(f"{where}.function.name: must match {_FUNCTION_NAME.pattern}")
        elif name in names:
            problems.append(f"{where}.function.name: duplicate tool name {name!r}")
        else:
            names.add(name)
        if "description" in function and not isinstance(function["description"], str):
            problems.append(f"{where}.function.description: must be a string")
        parameters = function.get("parameters")
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            problems.append(f"{where}.function.parameters: must be a JSON schema of type 'object'")
    return problems, names


def validate_openai_example(example: Any) -> list[str]:
    if not isinstance(example, Mapping):
        return ["example: must be a JSON object"]
    problems: list[str] = []
    unknown = set(example) - {"messages", "tools", "parallel_tool_calls"}
    if unknown:
        problems.append(f"example: unknown keys {sorted(unknown)}")
    tool_names: set[str] | None = None
    if "tools" in example:
        tool_problems, tool_names = _openai_tools(example["tools"])
        problems += tool_problems
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*problems, "messages: must be a non-empty list"]
    open_calls: list[str] = []   # call ids of the last assistant message still to be answered
    seen_ids: set[str] = set()
    assistants = 0
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in OPENAI_ROLES:
            problems.append(f"{where}.role: must be one of {OPENAI_ROLES}")
            continue
        role = message["role"]
        if role != "tool" and open_calls:
            problems.append(f"{where}: tool calls {open_calls} are not answered before this {role} message")
            open_calls = []
        if role in ("system", "user"):
            if not isinstance(message.get("content"), str) or not message["content"]:
                problems.append(f"{where}.content: a {role} message needs non-empty string content")
            if role == "system" and index != 0:
                problems.append(f"{where}: a system message may only come first")
        elif role == "assistant":
            assistants += 1
            problems += _assistant_problems(where, message, tool_names, seen_ids, open_calls)
        else:
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in open_calls:
                problems.append(f"{where}.tool_call_id: {call_id!r} answers no open call of the preceding "
                                "assistant message")
            else:
                open_calls.remove(call_id)
            if not isinstance(message.get("content"), str):
                problems.append(f"{where}.content: a tool message needs string content")
    if open_calls:
        problems.append(f"messages: tool calls {open_calls} are never answered")
    if assistants == 0:
        problems.append("messages: at least one assistant message is required")
    return problems + _openai_training_problems(messages)


def _openai_training_problems(messages: list[Any]) -> list[str]:
    dicts = [m for m in messages if isinstance(m, dict)]
    problems = []
    if not any(m.get("role") == "user" for m in dicts):
        problems.append("messages: at least one user message is required")
    if not any(m.get("role") == "assistant" and m.get("tool_calls") for m in dicts):
        problems.append("messages: at least one assistant tool call is required")
    last = messages[-1]
    if not (isinstance(last, dict) and last.get("role") == "assistant" and not last.get("tool_calls")
            and isinstance(last.get("content"), str) and last["content"].strip()):
        problems.append("messages: the example must end on an assistant reply (text, no tool calls)")
    return problems


def _assistant_problems(where: str, message: Mapping[str, Any], tool_names: set[str] | None,
                        seen_ids: set[str], open_calls: list[str]) -> list[str]:
    problems: list[str] = []
    content = message.get("content")
    calls = message.get("tool_calls")
    if content is not None and not isinstance(content, str):
        problems.append(f"{where}.content: must be a string or null")
    if calls is None:
        if not content:
            problems.append(f"{where}: an assistant message needs content or tool_calls")
        return problems
    if not isinstance(calls, list) or not calls:
        return [*problems, f"{where}.tool_calls: must be a non-empty list"]
    for position, call in enumerate(calls):
        at = f"{where}.tool_calls[{position}]"
        if not isinstance(call, dict):
            problems.append(f"{at}: must be an object")
            continue
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            problems.append(f"{at}.id: must be a non-empty string")
        elif call_id in seen_ids:
            problems.append(f"{at}.id: duplicate call id {call_id!r}")
        else:
            seen_ids.add(call_id)
            open_calls.append(call_id)
        if call.get("type") != "function":
            problems.append(f"{at}.type: must be 'function'")
        function = call.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            problems.append(f"{at}.function: must be {{name, arguments}}")
            continue
        if tool_names is not None and function["name"] not in tool_names:
            problems.append(f"{at}.function.name: {function['name']!r} is not in tools")
        if _json_object(function.get("arguments")) is None:
            problems.append(f"{at}.function.arguments: must be a string holding a JSON object")
    return problems


def validate_sharegpt_row(row: Any) -> list[str]:
    """APIGen-MT rows: exactly conversations, system, tools; four roles; each function_call (a JSON
    string {name, arguments: object}) followed by exactly one observation; tools a JSON list string."""
    if not isinstance(row, Mapping):
        return ["row: must be a JSON object"]
    problems: list[str] = []
    if set(row) != {"conversations", "system", "tools"}:
        problems.append(f"row: fields must be exactly conversations, system, tools; got {sorted(row)}")
    if not isinstance(row.get("system"), str):
        problems.append("system: must be a string")
    tools = None
    try:
        tools = json.loads(row.get("tools")) if isinstance(row.get("tools"), str) else None
    except json.JSONDecodeError:
        tools = None
    if not isinstance(tools, list) or not all(
            isinstance(t, dict) and {"name", "description", "parameters"} <= set(t) for t in tools):
        problems.append("tools: must be a JSON string of a list of {name, description, parameters}")
    conversations = row.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        return [*problems, "conversations: must be a non-empty list"]
    for index, turn in enumerate(conversations):
        where = f"conversations[{index}]"
        if not isinstance(turn, Mapping) or set(turn) != {"from", "value"}:
            problems.append(f"{where}: must be exactly {{from, value}}")
            continue
        if turn["from"] not in SHAREGPT_ROLES:
            problems.append(f"{where}.from: must be one of {SHAREGPT_ROLES}")
        if not isinstance(turn["value"], str):
            problems.append(f"{where}.value: must be a string")
            continue
        previous = conversations[index - 1].get("from") if index and isinstance(conversations[index - 1],
                                                                                  Mapping) else None
        following = conversations[index + 1].get("from") if index + 1 < len(conversations) and isinstance(
            conversations[index + 1], Mapping) else None
        if turn["from"] == "function_call":
            call = _json_object(turn["value"])
            if call is None or not isinstance(call.get("name"), str) or not isinstance(call.get("arguments"), dict):
                problems.append(f"{where}.value: a function_call is a JSON string {{name, arguments: object}}")
            if following != "observation":
                problems.append(f"{where}: a function_call must be followed by an observation")
        elif turn["from"] == "observation" and previous != "function_call":
            problems.append(f"{where}: an observation must follow a function_call (exactly one per call)")
    return problems + _sharegpt_training_problems(conversations)


def _sharegpt_training_problems(conversations: list[Any]) -> list[str]:
    roles = [turn.get("from") if isinstance(turn, Mapping) else None for turn in conversations]
    problems = []
    if "human" not in roles:
        problems.append("conversations: at least one human turn is required")
    if "function_call" not in roles:
        problems.append("conversations: at least one function_call is required")
    last = conversations[-1]
    if roles[-1] != "gpt" or not isinstance(last.get("value"), str) or not last["value"].strip():
        problems.append("conversations: the row must end on a gpt reply")
    return problems


RowValidator = Callable[[Any], list[str]]


def row_problems(rows: list[Any], validate_row: RowValidator, name: str, allow_empty: bool = False) -> list[str]:
    if not rows and not allow_empty:
        return [f"{name}: no rows"]
    return [f"{name}: row {index}: {problem}" for index, row in enumerate(rows) for problem in validate_row(row)]


def jsonl_rows(data: bytes, name: str) -> tuple[list[Any], list[str]]:
    """The rows of a JSONL file and the lines that do not parse (each a problem)."""
    rows, problems = [], []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return [], [f"{name}: not UTF-8 ({error})"]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            problems.append(f"{name}: line {number}: blank line")
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            problems.append(f"{name}: line {number}: not JSON ({error.msg})")
    return rows, problems


def parquet_rows(data: bytes, name: str) -> tuple[list[Any], list[str]]:
    """The rows of a Parquet file as Python objects, or the reason it cannot be read."""
    try:
        return pq.read_table(io.BytesIO(data)).to_pylist(), []
    except (pa.ArrowException, OSError) as error:
        return [], [f"{name}: not a readable Parquet file ({error})"]


def validate_jsonl_file(data: bytes, validate_row: RowValidator, name: str = "file") -> list[str]:
    rows, problems = jsonl_rows(data, name)
    return problems + row_problems(rows, validate_row, name)


def validate_parquet_file(data: bytes, validate_row: RowValidator, name: str = "file",
                          to_row: Callable[[dict[str, Any]], Any] = lambda row: row) -> list[str]:
    """`to_row` turns a Parquet record back into the format's row (Parquet has no optional struct fields)."""
    rows, problems = parquet_rows(data, name)
    return problems + row_problems([to_row(row) for row in rows], validate_row, name)


def openai_row_from_parquet(record: dict[str, Any]) -> Any:
    """An OpenAI Parquet record as the JSON example: `tools` decoded, fields Parquet filled with null dropped."""
    tools = record.get("tools")
    try:
        decoded = json.loads(tools) if isinstance(tools, str) else tools
    except json.JSONDecodeError:
        decoded = tools  # left as it is: the validator names it
    messages = record.get("messages")
    if isinstance(messages, list):
        messages = [{k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m for m in messages]
    return {**record, "tools": decoded, "messages": messages}
