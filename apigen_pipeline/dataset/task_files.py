"""Accepted blueprints as task files in tau-bench's task shape, so generated tasks run as a benchmark in
that harness, and load back here as `Blueprint`s.

tau-bench's models (`tau_bench/types.py`): `Task(user_id, actions: list[Action(name, kwargs)], instruction,
outputs)`; its environments import a module-level list of them (`tau_bench/envs/retail/tasks_test.py`).
Per partition, beside the dataset export (sorted by blueprint id, row i the same task in every file):

    tasks/<domain>/<batch>.json              a JSON list of tasks with exactly those four fields
    tasks/<domain>/tasks_<batch>.py          the same as an importable module: `TASKS = [Task(...), ...]`
                                             over `tau_bench.types` (drop it into tau_bench/envs/<env>/)
    tasks/<domain>/<batch>.lineage.json      per task: blueprint id, kind, the state hash its actions
                                             reach on a fresh database (what a replay must give), and
                                             `simulated` (its provenance: true, false, mixed or unknown)

A task's `actions` are the blueprint's ground truth (`arguments` become `kwargs`); tau-bench's reward
replays them, except its terminating tools, on fresh data and compares the data hash, as we do.
"""

from __future__ import annotations

import json
import pprint
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from apigen_pipeline.dataset.targets import export_path
from apigen_pipeline.phase1.models import AcceptedBlueprint, ActionCall, Blueprint

TASKS_FOLDER = "tasks"


class TaskFileError(ValueError):
    """A task file that does not hold tau-bench tasks; the message names the file and the task."""


class TauAction(BaseModel):
    model_config = ConfigDict(frozen=True)  # extra keys ignored, as tau-bench's own models do

    name: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class TauTask(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    actions: list[TauAction]
    instruction: str
    outputs: list[str] = Field(default_factory=list)

    @classmethod
    def from_accepted(cls, accepted: AcceptedBlueprint) -> TauTask:
        blueprint = accepted.blueprint
        return cls(user_id=accepted.user_id, instruction=blueprint.instruction, outputs=list(blueprint.outputs),
                   actions=[TauAction(name=a.name, kwargs=dict(a.arguments)) for a in blueprint.actions])

    def to_blueprint(self) -> Blueprint:
        return Blueprint(instruction=self.instruction, outputs=list(self.outputs),
                         actions=[ActionCall(name=a.name, arguments=dict(a.kwargs)) for a in self.actions])

    def as_json(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "instruction": self.instruction,
                "actions": [{"name": a.name, "kwargs": a.kwargs} for a in self.actions], "outputs": list(self.outputs)}


def task_file_paths(domain: str, batch: str) -> tuple[str, str, str]:
    """(tasks JSON, Python module, lineage) paths of one partition."""
    module = f"{TASKS_FOLDER}/{domain}/tasks_{batch.replace('-', '_')}.py"
    return (export_path(TASKS_FOLDER, domain, batch, "json"), module,
            export_path(TASKS_FOLDER, domain, batch, "lineage.json"))


def task_file_payloads(blueprints: Iterable[AcceptedBlueprint], domain: str, batch: str) -> list[tuple[str, bytes]]:
    """The three files of a partition's kept blueprints (duplicates left out), as (path, bytes)."""
    kept = sorted((b for b in blueprints if b.kept), key=lambda b: b.blueprint_id)
    tasks = [TauTask.from_accepted(b) for b in kept]
    lineage = [{"task_index": i, "blueprint_id": b.blueprint_id, "kind": b.kind, "state_hash": b.state_hash,
                "source_blueprint_ids": list(b.source_blueprint_ids), "simulated": b.simulated or "unknown"}
               for i, b in enumerate(kept)]
    tasks_path, module_path, lineage_path = task_file_paths(domain, batch)
    return [(tasks_path, _json_bytes([t.as_json() for t in tasks])),
            (module_path, python_module(tasks, domain, batch).encode()),
            (lineage_path, _json_bytes(lineage))]


def load_tasks(data: bytes, where: str = "task file") -> list[TauTask]:
    """The tasks of a task file (ours or tau-bench-shaped JSON from elsewhere); a bad file is a TaskFileError."""
    try:
        raw = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TaskFileError(f"{where}: not JSON: {error}") from None
    if not isinstance(raw, list):
        raise TaskFileError(f"{where}: a task file holds a JSON list of tasks, got {type(raw).__name__}")
    tasks: list[TauTask] = []
    for index, item in enumerate(raw):
        try:
            tasks.append(TauTask.model_validate(item))
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<task>'}: {e['msg']}" for e in error.errors())
            raise TaskFileError(f"{where}: task {index}: {problems}") from None
    return tasks


def load_blueprints(data: bytes, where: str = "task file") -> list[Blueprint]:
    """A task file read back into our `Blueprint`s (instruction, actions, outputs), in file order."""
    return [task.to_blueprint() for task in load_tasks(data, where)]


def python_module(tasks: Sequence[TauTask], domain: str, batch: str) -> str:
    """tau-bench's own task-module form; every value is a Python literal (`repr`), never code."""
    lines = [f'"""{len(tasks)} tasks generated by apigen-pipeline for the {domain} domain, batch {batch}, in '
             'tau-bench\'s task shape."""', "", "from tau_bench.types import Action, Task", "", "TASKS = ["]
    for task in tasks:
        lines += ["    Task(", f"        user_id={task.user_id!r},", f"        instruction={task.instruction!r},",
                  "        actions=["]
        for action in task.actions:
            kwargs = pprint.pformat(action.kwargs, width=88, sort_dicts=True).replace("\n", "\n" + " " * 12)
            lines.append(f"            Action(name={action.name!r}, kwargs={kwargs}),")
        lines += ["        ],", f"        outputs={list(task.outputs)!r},", "    ),"]
    lines.append("]")
    return "\n".join(lines) + "\n"


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()
