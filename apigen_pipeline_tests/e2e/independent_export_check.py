"""An export checked the way a sceptical trainer would, without any of the exporter's code.

It re-parses the written files (JSONL with `json`, Parquet with `pyarrow`), checks each row's shape against
the formats' published rules with `jsonschema` for tool arguments, then replays every row's tool calls in
order on a fresh database of the environment: each observation must be the one the row holds, and the final
state must be the one the row's task reaches when its ground-truth actions (read from the task file) are
replayed on another fresh database. Nothing here imports `apigen_pipeline.dataset`: an exporter or admission
bug cannot hide itself behind its own check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pyarrow.parquet as pq

from apigen_pipeline.environments.base import Environment

SHAREGPT_ROLES = {"human", "gpt", "function_call", "observation"}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def openai_row_problems(row: dict[str, Any]) -> list[str]:
    """What a chat fine-tuning loader would reject in one example (tool arguments checked by jsonschema)."""
    problems: list[str] = []
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in row.get("tools", [])}
    messages = row.get("messages") or []
    if not messages or messages[0].get("role") != "system":
        problems.append("does not start with the system message")
    if not any(m.get("role") == "user" and (m.get("content") or "").strip() for m in messages):
        problems.append("no user turn")
    pending: list[str] = []
    calls = 0
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            if not pending or message.get("tool_call_id") != pending.pop(0):
                problems.append(f"message {index}: a tool result that answers no pending call")
            continue
        if pending:
            problems.append(f"message {index}: calls {pending} got no tool result")
            pending = []
        for call in message.get("tool_calls") or []:
            calls += 1
            function = call.get("function") or {}
            name = function.get("name")
            try:
                arguments = json.loads(function.get("arguments") or "")
            except (TypeError, ValueError):
                problems.append(f"message {index}: arguments of {name!r} are not JSON")
                continue
            if name not in tools:
                problems.append(f"message {index}: {name!r} is not an offered tool")
            elif not isinstance(arguments, dict) or not jsonschema.Draft202012Validator(tools[name]).is_valid(arguments):
                problems.append(f"message {index}: arguments of {name!r} do not match its schema")
            pending.append(call.get("id"))
    last = messages[-1] if messages else {}
    if last.get("role") != "assistant" or last.get("tool_calls") or not (last.get("content") or "").strip():
        problems.append("does not end on an assistant text reply")
    if calls == 0:
        problems.append("no tool call")
    return problems


def sharegpt_row_problems(row: dict[str, Any]) -> list[str]:
    problems = [] if set(row) == {"conversations", "system", "tools"} else [f"keys {sorted(row)}"]
    turns = row.get("conversations") or []
    for index, turn in enumerate(turns):
        if turn.get("from") not in SHAREGPT_ROLES or not isinstance(turn.get("value"), str):
            problems.append(f"turn {index}: {turn.get('from')!r}")
        elif turn["from"] == "function_call":
            value = json.loads(turn["value"])
            if set(value) != {"name", "arguments"} or not isinstance(value["arguments"], dict):
                problems.append(f"turn {index}: a function call that is not {{name, arguments}}")
            if index + 1 >= len(turns) or turns[index + 1].get("from") != "observation":
                problems.append(f"turn {index}: a function call without its observation")
    if not turns or turns[-1].get("from") != "gpt":
        problems.append("does not end on a gpt turn")
    return problems


def replay_problems(row: dict[str, Any], environment: Environment, expected_state_hash: str) -> list[str]:
    """The row's calls on a fresh database: same observations, and the task's final state."""
    session = environment.new_session()
    observations = {m["tool_call_id"]: m["content"] for m in row["messages"] if m["role"] == "tool"}
    problems: list[str] = []
    for message in row["messages"]:
        for call in message.get("tool_calls") or []:
            executed = session.execute(call["function"]["name"], json.loads(call["function"]["arguments"]))
            if executed.observation != observations.get(call["id"]):
                problems.append(f"call {call['id']} ({executed.name}): the replay observes {executed.observation!r}")
    if session.state_hash() != expected_state_hash:
        problems.append("the replayed calls do not reach the task's final state")
    return problems


def task_state_hashes(export_root: Path, domain: str, batch: str, environment: Environment) -> dict[str, str]:
    """blueprint id -> the state its ground-truth actions (from the task file) reach on a fresh database."""
    folder = export_root / "tasks" / domain
    tasks = json.loads((folder / f"{batch}.json").read_text())
    lineage = json.loads((folder / f"{batch}.lineage.json").read_text())
    hashes = {}
    for entry in lineage:
        session = environment.new_session()
        for action in tasks[entry["task_index"]]["actions"]:
            session.execute(action["name"], action["kwargs"])
        hashes[entry["blueprint_id"]] = session.state_hash()
    return hashes


def export_problems(export_root: Path, domain: str, batch: str, environment: Environment) -> tuple[int, list[str]]:
    """(rows, every problem found) for one partition's export."""
    def files(folder: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        base = export_root / folder / domain / batch
        return _lines(base.with_suffix(".jsonl")), pq.read_table(base.with_suffix(".parquet")).to_pylist()

    openai_jsonl, openai_parquet = files("openai")
    sharegpt_jsonl, sharegpt_parquet = files("apigen_mt")
    lineage, _ = files("lineage")
    problems: list[str] = []
    counts = {len(openai_jsonl), len(openai_parquet), len(sharegpt_jsonl), len(sharegpt_parquet), len(lineage)}
    if len(counts) != 1:
        problems.append(f"the files hold different numbers of rows: {sorted(counts)}")
        return 0, problems
    expected = task_state_hashes(export_root, domain, batch, environment)
    for index, (row, parquet_row, sharegpt, link) in enumerate(zip(openai_jsonl, openai_parquet, sharegpt_jsonl,
                                                                  lineage, strict=True)):
        found = openai_row_problems(row) + sharegpt_row_problems(sharegpt)
        if [m["role"] for m in parquet_row["messages"]] != [m["role"] for m in row["messages"]]:
            found.append("the Parquet row is not the JSONL row")
        if link["blueprint_id"] not in expected:
            found.append(f"blueprint {link['blueprint_id']} is not among the exported tasks")
        elif not found:
            found = replay_problems(row, environment, expected[link["blueprint_id"]])
        problems += [f"row {index} ({link['trajectory_id']}): {problem}" for problem in found]
    return len(openai_jsonl), problems
