"""Accepted blueprints exported as tau-bench task files: the shape, the round trip, and the replay."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from apigen_pipeline.dataset.card import DatasetCardInfo
from apigen_pipeline.dataset.export import ExportSource, export_dataset
from apigen_pipeline.dataset.targets import LocalTarget
from apigen_pipeline.dataset.task_files import TaskFileError, load_blueprints, load_tasks, task_file_paths
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase1.validation.execution import replay
from apigen_pipeline.phase2.models import Phase2Result

TASK_FIELDS = ["actions", "instruction", "outputs", "user_id"]


@pytest.fixture()
def accepted(environment: Environment, blueprints: list[AcceptedBlueprint]) -> list[AcceptedBlueprint]:
    """The blueprints as Phase 1 accepts them: with the state hash their actions reach; one a duplicate."""
    hashed = [b.model_copy(update={"state_hash": replay(b.blueprint.actions, environment).state_hash})
              for b in blueprints]
    duplicate = hashed[0].model_copy(update={"blueprint_id": "bp-mock-zzz", "duplicate_of": hashed[0].blueprint_id})
    return [*reversed(hashed), duplicate]


@pytest.fixture()
def exported(tmp_path: Path, accepted: list[AcceptedBlueprint], phase2_result: Phase2Result, source: ExportSource,
             card_info: DatasetCardInfo) -> Path:
    export_dataset(phase2_result.attempts, source, card_info, LocalTarget(tmp_path),
                   {b.blueprint_id: b for b in accepted})
    return tmp_path


def _files(root: Path) -> tuple[Path, Path, Path]:
    tasks, module, lineage = task_file_paths("mockshop", "2026-01-01")
    return root / tasks, root / module, root / lineage


def test_task_files_hold_tau_bench_tasks_of_the_kept_blueprints(exported: Path, accepted: list[AcceptedBlueprint]):
    tasks_file, module_file, lineage_file = _files(exported)
    assert module_file.name == "tasks_2026_01_01.py"  # an importable module name, like tasks_test.py
    raw = json.loads(tasks_file.read_text())
    kept = sorted((b for b in accepted if b.kept), key=lambda b: b.blueprint_id)
    assert len(raw) == len(kept) == 5
    assert all(sorted(task) == TASK_FIELDS for task in raw)
    assert all(sorted(action) == ["kwargs", "name"] for task in raw for action in task["actions"])
    assert [t["user_id"] for t in raw] == [b.user_id for b in kept]
    lineage = json.loads(lineage_file.read_text())
    assert [row["blueprint_id"] for row in lineage] == [b.blueprint_id for b in kept]


def test_export_then_load_gives_the_same_instructions_actions_and_outputs(exported: Path,
                                                                          accepted: list[AcceptedBlueprint]):
    tasks_file, _, _ = _files(exported)
    loaded = load_blueprints(tasks_file.read_bytes(), str(tasks_file))
    kept = sorted((b for b in accepted if b.kept), key=lambda b: b.blueprint_id)
    assert loaded == [b.blueprint for b in kept]
    assert any(b.outputs for b in loaded)  # the information requests made it through


def test_a_loaded_task_replays_on_a_fresh_database_to_its_blueprints_state(exported: Path, environment: Environment,
                                                                           accepted: list[AcceptedBlueprint]):
    tasks_file, _, lineage_file = _files(exported)
    lineage = json.loads(lineage_file.read_text())
    by_id = {b.blueprint_id: b for b in accepted}
    for blueprint, row in zip(load_blueprints(tasks_file.read_bytes()), lineage, strict=True):
        outcome = replay(blueprint.actions, environment)
        assert outcome.verdict.passed
        assert outcome.state_hash == row["state_hash"] == by_id[row["blueprint_id"]].state_hash
        assert outcome.state_hash != environment.fingerprint()  # each task changes something


class _Action(BaseModel):  # tau_bench/types.py, verbatim in shape
    name: str
    kwargs: dict[str, Any]


class _Task(BaseModel):
    user_id: str
    actions: list[_Action]
    instruction: str
    outputs: list[str]


def test_the_python_module_builds_the_same_tasks_with_tau_benchs_models(exported: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    tasks_file, module_file, _ = _files(exported)
    stub = types.ModuleType("tau_bench.types")
    stub.Action, stub.Task = _Action, _Task  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tau_bench", types.ModuleType("tau_bench"))
    monkeypatch.setitem(sys.modules, "tau_bench.types", stub)
    namespace: dict[str, Any] = {}
    exec(compile(module_file.read_text(), str(module_file), "exec"), namespace)  # noqa: S102 -- our own export
    assert [task.model_dump() for task in namespace["TASKS"]] == json.loads(tasks_file.read_text())


def test_task_files_from_elsewhere_load_and_broken_ones_are_named():
    tau_style = [{"annotator": "0", "user_id": "u1", "instruction": "Cancel #W1.", "outputs": [],
                  "actions": [{"name": "cancel_pending_order", "kwargs": {"order_id": "#W1", "reason": "no longer needed"}}]}]
    (task,) = load_tasks(json.dumps(tau_style).encode())
    assert task.to_blueprint().actions[0].arguments == {"order_id": "#W1", "reason": "no longer needed"}
    with pytest.raises(TaskFileError, match="task 1: actions.0.name"):
        load_tasks(json.dumps([*tau_style, {**tau_style[0], "actions": [{"kwargs": {}}]}]).encode(), "t.json")
    with pytest.raises(TaskFileError, match="a JSON list of tasks"):
        load_tasks(b'{"tasks": []}')
    with pytest.raises(TaskFileError, match="not JSON"):
        load_tasks(b"TASKS = []")
