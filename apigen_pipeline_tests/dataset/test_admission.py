"""Only rows a trainer can use are exported; the others are dropped and counted by reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from apigen_pipeline.dataset.card import DatasetCardInfo
from apigen_pipeline.dataset.export import ExportManifest, ExportSource, export_dataset
from apigen_pipeline.dataset.revalidate import revalidate_export
from apigen_pipeline.dataset.targets import LocalTarget
from apigen_pipeline.dataset.validators import validate_openai_example, validate_sharegpt_row
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.types import ToolCallData
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase2.models import STOP_TOKEN, ExecutedToolCall, TrajectoryAttempt, TrajectoryMessage


def _attempt(trajectory_id: str, blueprint: AcceptedBlueprint, messages: list[TrajectoryMessage],
             calls: list[ExecutedToolCall]) -> TrajectoryAttempt:
    return TrajectoryAttempt(trajectory_id=trajectory_id, blueprint_id=blueprint.blueprint_id, attempt_index=0,
                             messages=messages, executed_calls=calls, final_state_hash="h", end_reason="user_stop",
                             verdict="verified", kept=True)


def _user(text: str) -> TrajectoryMessage:
    return TrajectoryMessage(role="user", content=text)


def _agent(text: str) -> TrajectoryMessage:
    return TrajectoryMessage(role="assistant", content=text)


def _played(environment: Environment, blueprint: AcceptedBlueprint, ending: str | None = "All done.",
            user_text: str = "Hi, I want to cancel an order.") -> tuple[list[TrajectoryMessage], list[ExecutedToolCall]]:
    """The blueprint's calls made one per agent turn after a user turn, then `ending` (None: stop on the last
    observation), then the user's stop message."""
    session = environment.new_session()
    messages, calls = [_user(user_text)], []
    for index, action in enumerate(blueprint.blueprint.actions):
        call_id = f"c{index}"
        messages.append(TrajectoryMessage(role="assistant", tool_calls=[
            ToolCallData(id=call_id, name=action.name, arguments=action.arguments)]))
        result = session.execute(action.name, action.arguments)
        messages.append(TrajectoryMessage(role="tool", content=result.observation, tool_call_id=call_id,
                                          name=action.name))
        calls.append(ExecutedToolCall(call_id=call_id, name=action.name, arguments=action.arguments,
                                      observation=result.observation, ok=result.ok, kind=result.kind,
                                      message_index=len(messages) - 2))
    if ending is not None:
        messages.append(_agent(ending))
    messages.append(_user(f"Thanks! {STOP_TOKEN}"))
    return messages, calls


@dataclass(frozen=True)
class Cases:
    attempts: dict[str, TrajectoryAttempt]
    blueprints: dict[str, AcceptedBlueprint]


@pytest.fixture()
def cases(environment: Environment, blueprints: list[AcceptedBlueprint]) -> Cases:
    """One good row and one row per way a kept trajectory can still be useless to a trainer."""
    good, other = blueprints[0], blueprints[1]
    messages, calls = _played(environment, good)
    on_observation, observation_calls = _played(environment, good, ending=None)
    only_reads = [c for c in calls if c.kind == "read"]
    reads_messages = messages[:3] + [_agent("I looked you up; anything else?")]
    read_only_blueprint = other.model_copy(update={"blueprint_id": "bp-reads-only", "blueprint": other.blueprint.model_copy(
        update={"actions": [a for a in other.blueprint.actions if a.name != "cancel_order"]})})
    attempts = {
        "good": _attempt("t-good", good, messages, calls),
        "no_human_turn": _attempt("t-stop-only", good, [_user(STOP_TOKEN)], []),
        "unparseable_only": _attempt("t-unparseable", good, [
            _user("I want to cancel an order."), _agent('{"name": "cancel_order", "argum'), _user(STOP_TOKEN)], []),
        "no_function_call": _attempt("t-no-call", good, [
            _user("Please cancel my order."), _agent("Your order is cancelled."), _user(STOP_TOKEN)], []),
        "ends_on_observation": _attempt("t-observation", good, on_observation, observation_calls),
        "missing_write": _attempt("t-missing-write", good, reads_messages, only_reads),
        "unknown_blueprint": _attempt("t-unknown", good, messages, calls).model_copy(
            update={"blueprint_id": "bp-nowhere"}),
        "blueprint_without_write": _attempt("t-read-only", read_only_blueprint, messages, calls),
        "not_kept": _attempt("t-not-kept", good, messages, calls).model_copy(update={"kept": False}),
    }
    return Cases(attempts, {b.blueprint_id: b for b in [*blueprints, read_only_blueprint]})


def _export(cases: Cases, source: ExportSource, card_info: DatasetCardInfo, directory: Path,
            names: list[str]) -> ExportManifest:
    return export_dataset([cases.attempts[name] for name in names], source, card_info, LocalTarget(directory),
                          cases.blueprints)


@pytest.mark.parametrize(("name", "reason"), [
    ("no_human_turn", "no_human_turn"),
    ("unparseable_only", "no_function_call"),
    ("no_function_call", "no_function_call"),
    ("ends_on_observation", "not_ending_on_agent_reply"),
    ("missing_write", "missing_blueprint_write"),
    ("unknown_blueprint", "unknown_blueprint"),
    ("blueprint_without_write", "blueprint_without_write"),
])
def test_each_useless_row_is_dropped_with_its_reason(cases, source, card_info, tmp_path, name, reason):
    manifest = _export(cases, source, card_info, tmp_path, ["good", name])
    assert manifest.rows == 1
    assert manifest.dropped_by_reason == {reason: 1}
    assert [(d.trajectory_id, d.reason) for d in manifest.dropped] == [(cases.attempts[name].trajectory_id, reason)]
    written = [json.loads(line) for line in (tmp_path / "apigen_mt/mockshop/2026-01-01.jsonl").read_text().splitlines()]
    assert len(written) == 1 and all(validate_sharegpt_row(row) == [] for row in written)


def test_the_manifest_and_card_count_every_drop_and_only_usable_rows_are_written(cases, source, card_info, tmp_path):
    names = list(cases.attempts)
    manifest = _export(cases, source, card_info, tmp_path, names)
    expected = {"no_human_turn": 1, "no_function_call": 2, "not_ending_on_agent_reply": 1,
                "missing_blueprint_write": 1, "unknown_blueprint": 1, "blueprint_without_write": 1}
    assert manifest.rows == 1 and manifest.dropped_by_reason == expected  # "not_kept" is no candidate at all
    card = json.loads((tmp_path / "cards/mockshop/2026-01-01.json").read_text())
    assert card["rows"] == 1 and card["rows_dropped"] == 7 and card["dropped_by_reason"] == expected
    markdown = (tmp_path / "cards/mockshop/2026-01-01.md").read_text()
    assert "| no_function_call | 2 |" in markdown and "| total | 7 |" in markdown
    for example in map(json.loads, (tmp_path / "openai/mockshop/2026-01-01.jsonl").read_text().splitlines()):
        assert validate_openai_example(example) == []
    lineage = (tmp_path / "lineage/mockshop/2026-01-01.jsonl").read_text().splitlines()
    assert [json.loads(line)["trajectory_id"] for line in lineage] == ["t-good"]


def test_a_written_export_re_validates_from_its_bytes(cases, source, card_info, tmp_path):
    _export(cases, source, card_info, tmp_path, list(cases.attempts))
    assert revalidate_export(LocalTarget(tmp_path), "mockshop", "2026-01-01") == []


def test_an_export_whose_rows_were_all_dropped_is_empty_and_consistent(cases, source, card_info, tmp_path):
    manifest = _export(cases, source, card_info, tmp_path, ["no_human_turn", "ends_on_observation"])
    assert manifest.rows == 0 and sum(manifest.dropped_by_reason.values()) == 2
    for folder in ("apigen_mt", "openai", "lineage"):
        assert (tmp_path / f"{folder}/mockshop/2026-01-01.jsonl").read_text() == ""
    # Nothing verified is not a broken export: files, lineage and card agree on zero rows.
    assert revalidate_export(LocalTarget(tmp_path), "mockshop", "2026-01-01") == []


def test_re_validation_names_a_tampered_or_missing_file(cases, source, card_info, tmp_path):
    _export(cases, source, card_info, tmp_path, ["good"])
    sharegpt = tmp_path / "apigen_mt/mockshop/2026-01-01.jsonl"
    row = json.loads(sharegpt.read_text())
    row["conversations"] = row["conversations"][:-1] + [{"from": "observation", "value": "late"}]
    sharegpt.write_text(json.dumps(row) + "\n" + "not json\n")
    (tmp_path / "openai/mockshop/2026-01-01.parquet").unlink()
    (tmp_path / "cards/mockshop/2026-01-01.json").write_text(json.dumps({"rows": 5}))
    problems = revalidate_export(LocalTarget(tmp_path), "mockshop", "2026-01-01")
    assert any("apigen_mt/mockshop/2026-01-01.jsonl: line 2: not JSON" in p for p in problems)
    assert any("row 0" in p and "must end on a gpt reply" in p for p in problems)
    assert "openai/mockshop/2026-01-01.parquet: missing" in problems
    assert any("differ" in p or "JSONL rows" in p for p in problems)
    assert "cards/mockshop/2026-01-01.json: the card counts 5 rows, the files hold 1" in problems
