from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apigen_pipeline.dataset.validators import (
    validate_jsonl_file,
    validate_openai_example,
    validate_parquet_file,
    validate_sharegpt_row,
)

TOOL = {"type": "function", "function": {"name": "cancel_order", "description": "Cancel.",
                                         "parameters": {"type": "object", "properties": {}}}}


def _valid_openai() -> dict[str, Any]:
    return {"messages": [
        {"role": "system", "content": "policy"},
        {"role": "user", "content": "cancel O1"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "cancel_order", "arguments": '{"order_id": "O1"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "assistant", "content": "Done."},
    ], "tools": [copy.deepcopy(TOOL)]}


def _valid_sharegpt() -> dict[str, Any]:
    return {"conversations": [
        {"from": "human", "value": "cancel O1"},
        {"from": "function_call", "value": json.dumps({"name": "cancel_order", "arguments": {"order_id": "O1"}})},
        {"from": "observation", "value": "ok"},
        {"from": "gpt", "value": "Done."},
    ], "system": "policy", "tools": json.dumps([{"name": "cancel_order", "description": "d", "parameters": {}}])}


def test_valid_examples_pass() -> None:
    assert validate_openai_example(_valid_openai()) == []
    assert validate_sharegpt_row(_valid_sharegpt()) == []


def _call(example: dict[str, Any]) -> dict[str, Any]:
    return example["messages"][2]["tool_calls"][0]


OPENAI_BREAKS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown role": (lambda e: e["messages"][1].update(role="customer"), "role"),
    "empty user content": (lambda e: e["messages"][1].update(content=""), "content"),
    "late system message": (lambda e: e["messages"].insert(2, {"role": "system", "content": "x"}), "system"),
    "arguments as an object": (lambda e: _call(e)["function"].update(arguments={"order_id": "O1"}), "arguments"),
    "arguments not an object": (lambda e: _call(e)["function"].update(arguments='["O1"]'), "arguments"),
    "wrong call type": (lambda e: _call(e).update(type="tool"), "type"),
    "missing call id": (lambda e: _call(e).pop("id"), "id"),
    "unanswered call": (lambda e: e["messages"].pop(3), "not answered"),
    "tool answers no call": (lambda e: e["messages"][3].update(tool_call_id="zz"), "tool_call_id"),
    "call to an unlisted tool": (lambda e: _call(e)["function"].update(name="delete_all"), "not in tools"),
    "no assistant message": (lambda e: e.update(messages=e["messages"][:2]), "assistant"),
    "empty assistant": (lambda e: e["messages"][4].update(content=None), "content or tool_calls"),
    "bad tool type": (lambda e: e["tools"][0].update(type="retrieval"), "tools[0]"),
    "bad tool name": (lambda e: e["tools"][0]["function"].update(name="has space"), "name"),
    "non-object parameters": (lambda e: e["tools"][0]["function"].update(parameters={"type": "string"}), "parameters"),
    "duplicate tool": (lambda e: e["tools"].append(copy.deepcopy(e["tools"][0])), "duplicate"),
    "unknown top-level key": (lambda e: e.update(extra=1), "unknown keys"),
    "no user message": (lambda e: e["messages"].pop(1), "at least one user message"),
    "no tool call": (lambda e: e.update(messages=[e["messages"][0], e["messages"][1], e["messages"][4]]),
                     "at least one assistant tool call"),
    "ends on a tool message": (lambda e: e["messages"].pop(4), "must end on an assistant reply"),
    "ends on a blank reply": (lambda e: e["messages"][4].update(content="  "), "must end on an assistant reply"),
}


@pytest.mark.parametrize("name", sorted(OPENAI_BREAKS))
def test_openai_validator_rejects_each_broken_rule(name: str) -> None:
    example = _valid_openai()
    breaker, expected = OPENAI_BREAKS[name]
    breaker(example)
    problems = validate_openai_example(example)
    assert problems and any(expected in problem for problem in problems), problems


SHAREGPT_BREAKS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "extra field": (lambda r: r.update(domain="retail"), "exactly"),
    "missing field": (lambda r: r.pop("system"), "exactly"),
    "unknown role": (lambda r: r["conversations"][0].update({"from": "user"}), "from"),
    "call without observation": (lambda r: r["conversations"].pop(2), "followed by an observation"),
    "two observations": (lambda r: r["conversations"].insert(3, {"from": "observation", "value": "again"}),
                         "must follow a function_call"),
    "arguments as a string": (lambda r: r["conversations"][1].update(
        value=json.dumps({"name": "cancel_order", "arguments": '{"order_id": "O1"}'})), "arguments: object"),
    "call value not JSON": (lambda r: r["conversations"][1].update(value="cancel_order(O1)"), "JSON string"),
    "tools not a JSON string": (lambda r: r.update(tools=[{"name": "x"}]), "tools"),
    "extra turn key": (lambda r: r["conversations"][0].update(weight=1), "exactly {from, value}"),
    "no human turn": (lambda r: r["conversations"].pop(0), "at least one human turn"),
    "no function call": (lambda r: r.update(conversations=[r["conversations"][0], r["conversations"][3]]),
                         "at least one function_call"),
    "ends on an observation": (lambda r: r["conversations"].pop(3), "must end on a gpt reply"),
    "ends on the human": (lambda r: r["conversations"].append({"from": "human", "value": "bye"}),
                          "must end on a gpt reply"),
}


@pytest.mark.parametrize("name", sorted(SHAREGPT_BREAKS))
def test_sharegpt_validator_rejects_each_broken_rule(name: str) -> None:
    row = _valid_sharegpt()
    breaker, expected = SHAREGPT_BREAKS[name]
    breaker(row)
    problems = validate_sharegpt_row(row)
    assert problems and any(expected in problem for problem in problems), problems


def _jsonl(*rows: Any) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def test_files_with_valid_rows_pass() -> None:
    assert validate_jsonl_file(_jsonl(_valid_sharegpt(), _valid_sharegpt()), validate_sharegpt_row) == []
    assert validate_parquet_file(_parquet([_valid_sharegpt()]), validate_sharegpt_row) == []


def test_a_file_without_rows_fails() -> None:
    assert validate_jsonl_file(b"", validate_openai_example, "openai.jsonl") == ["openai.jsonl: no rows"]
    empty = pa.Table.from_pylist([], schema=pa.schema([("conversations", pa.string())]))
    sink = io.BytesIO()
    pq.write_table(empty, sink)
    assert validate_parquet_file(sink.getvalue(), validate_sharegpt_row, "x.parquet") == ["x.parquet: no rows"]


def test_file_problems_name_the_line_or_row() -> None:
    broken = _valid_sharegpt()
    broken["conversations"].pop(0)
    problems = validate_jsonl_file(_jsonl(_valid_sharegpt(), broken) + b"{oops\n", validate_sharegpt_row, "f")
    assert any(p.startswith("f: line 3: not JSON") for p in problems)
    assert any(p.startswith("f: row 1: ") and "human turn" in p for p in problems)
    assert validate_parquet_file(b"PAR1 not really", validate_sharegpt_row, "p")[0].startswith(
        "p: not a readable Parquet file")
