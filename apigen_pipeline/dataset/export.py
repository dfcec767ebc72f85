"""Exports kept trajectories of one partition: both formats as JSONL and Parquet, lineage, a dataset card.

Layout under the target (one partition = one domain x batch):
    apigen_mt/<domain>/<batch>.{jsonl,parquet}   ShareGPT rows: exactly conversations, system, tools
    openai/<domain>/<batch>.{jsonl,parquet}      OpenAI chat fine-tuning examples: messages, tools
    lineage/<domain>/<batch>.{jsonl,parquet}     trajectory id, blueprint id, domain, batch, scores ...
    cards/<domain>/<batch>.{md,json}             the dataset card
    tasks/<domain>/...                           the partition's accepted blueprints as tau-bench task
                                                 files (`task_files`), whether or not a trajectory verified
Only rows a trainer can use are written (`admission`): the others are dropped and counted by reason in
the manifest and the card. Provenance travels with every file: each lineage row's `simulated` (true, false
or mixed, from the request log behind the trajectory and its blueprint), the partition's label in every
Parquet file's schema metadata (`apigen.simulated`, `apigen.not_for_training`), a `<batch>.provenance.json`
sidecar beside each dataset JSONL, per task in the task lineage, and in the card. Row i of every file is the same trajectory (sorted by trajectory id). Identical inputs give
byte-identical files: no timestamps or run ids inside, JSON with sorted keys, fixed Parquet schemas.
In OpenAI Parquet files `tools` is a JSON string (tool parameter schemas differ in shape).
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from apigen_pipeline.dataset.admission import DroppedRow, drop_reason
from apigen_pipeline.dataset.card import DatasetCardInfo, card_json, card_markdown, dataset_card
from apigen_pipeline.dataset.formats import openai_example, sharegpt_row, training_messages
from apigen_pipeline.dataset.targets import ExportTarget, export_path
from apigen_pipeline.dataset.task_files import task_file_payloads
from apigen_pipeline.llm.provenance import Simulated, combined_label, fit_for_training
from apigen_pipeline.llm.types import ToolSchema
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase2.models import TrajectoryAttempt
from apigen_pipeline.records import FrozenModel

_STRING = pa.string()
SHAREGPT_SCHEMA = pa.schema([
    ("conversations", pa.list_(pa.struct([("from", _STRING), ("value", _STRING)]))),
    ("system", _STRING),
    ("tools", _STRING),
])
_TOOL_CALL = pa.struct([("id", _STRING), ("type", _STRING),
                        ("function", pa.struct([("name", _STRING), ("arguments", _STRING)]))])
OPENAI_PARQUET_SCHEMA = pa.schema([
    ("messages", pa.list_(pa.struct([("role", _STRING), ("content", _STRING), ("tool_call_id", _STRING),
                                     ("tool_calls", pa.list_(_TOOL_CALL))]))),
    ("tools", _STRING),
])
LINEAGE_SCHEMA = pa.schema([
    ("row_index", pa.int64()), ("trajectory_id", _STRING), ("blueprint_id", _STRING), ("domain", _STRING),
    ("batch", _STRING), ("attempt_index", pa.int64()), ("blueprint_kind", _STRING),
    ("blueprint_voted_score", pa.int64()), ("blueprint_rounds_used", pa.int64()),
    ("mean_user_turn_score", pa.float64()), ("turns", pa.int64()), ("user_turns", pa.int64()),
    ("tool_calls", pa.int64()), ("canonical_hash", _STRING), ("final_state_hash", _STRING),
    ("audit_clean", pa.bool_()), ("simulated", _STRING),
])


class ExportSource(FrozenModel):
    """What every row of a partition shares: where it comes from and what the agent was given."""

    domain: str
    batch: str
    system_text: str
    tools: list[ToolSchema]
    write_tools: list[str]  # the environment's write tools: a row must make its blueprint's writes


class ExportedFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    relative_path: str
    location: str
    sha256: str
    size_bytes: int


class ExportManifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: str
    batch: str
    rows: int
    files: list[ExportedFile] = Field(default_factory=list)
    card: dict[str, Any] = Field(default_factory=dict)
    simulated: Simulated | None = None  # the exported content's provenance (None: unknown)
    dropped_by_reason: dict[str, int] = Field(default_factory=dict)  # kept trajectories not written, by reason
    dropped: list[DroppedRow] = Field(default_factory=list)

    def file(self, relative_path: str) -> ExportedFile | None:
        return next((f for f in self.files if f.relative_path == relative_path), None)


def jsonl_bytes(rows: Sequence[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows).encode()


def provenance_metadata(simulated: Simulated | None) -> dict[str, str]:
    """What every export file says about where its content came from."""
    return {"apigen.simulated": simulated or "unknown",
            "apigen.not_for_training": "false" if fit_for_training(simulated) else "true"}


def parquet_bytes(rows: Sequence[Mapping[str, Any]], schema: pa.Schema,
                  metadata: Mapping[str, str] | None = None) -> bytes:
    if metadata:
        schema = schema.with_metadata({**(schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}})
    table = pa.Table.from_pylist([dict(row) for row in rows], schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return sink.getvalue()


def _openai_parquet_row(example: Mapping[str, Any]) -> dict[str, Any]:
    return {"messages": example["messages"], "tools": json.dumps(example["tools"], ensure_ascii=False,
                                                                 sort_keys=True)}


def lineage_row(index: int, attempt: TrajectoryAttempt, source: ExportSource,
                blueprint: AcceptedBlueprint | None) -> dict[str, Any]:
    chosen = [c.score for c in attempt.candidates if c.chosen and c.score is not None]
    return {
        "row_index": index, "trajectory_id": attempt.trajectory_id, "blueprint_id": attempt.blueprint_id,
        "domain": source.domain, "batch": source.batch, "attempt_index": attempt.attempt_index,
        "blueprint_kind": blueprint.kind if blueprint else None,
        "blueprint_voted_score": blueprint.voted_score if blueprint else None,
        "blueprint_rounds_used": blueprint.rounds_used if blueprint else None,
        "mean_user_turn_score": round(sum(chosen) / len(chosen), 4) if chosen else None,
        "turns": sum(1 for m in training_messages(attempt.messages) if m.role != "tool"),
        "user_turns": attempt.user_turns, "tool_calls": attempt.tool_calls,
        "canonical_hash": attempt.canonical_hash, "final_state_hash": attempt.final_state_hash,
        "audit_clean": attempt.audit_clean, "simulated": attempt.simulated,
    }


def export_dataset(trajectories: Sequence[TrajectoryAttempt], source: ExportSource, card_info: DatasetCardInfo,
                   target: ExportTarget, blueprints: Mapping[str, AcceptedBlueprint],
                   on_checked: Callable[[], None] | None = None) -> ExportManifest:
    """Write the partition's kept trajectories (others are ignored) that a trainer can use, in every format,
    plus lineage and card, and the kept blueprints as task files. `blueprints` maps blueprint id ->
    blueprint (a row must make its writes). `on_checked` is called as each kept trajectory has been
    rendered in both formats and checked for admission (the part that grows with the partition)."""
    kept = sorted((t for t in trajectories if t.kept), key=lambda t: t.trajectory_id)
    admitted: list[tuple[TrajectoryAttempt, dict[str, Any], dict[str, Any]]] = []
    dropped: list[DroppedRow] = []
    for attempt in kept:
        sharegpt = sharegpt_row(attempt.messages, source.system_text, source.tools)
        openai = openai_example(attempt.messages, source.system_text, source.tools)
        refusal = drop_reason(attempt, blueprints.get(attempt.blueprint_id), source.write_tools, sharegpt, openai)
        if refusal is None:
            admitted.append((attempt, sharegpt, openai))
        else:
            dropped.append(DroppedRow(trajectory_id=attempt.trajectory_id, blueprint_id=attempt.blueprint_id,
                                      reason=refusal[0], problems=refusal[1]))
        if on_checked is not None:
            on_checked()
    dropped_by_reason = dict(sorted(Counter(d.reason for d in dropped).items()))
    lineage = [lineage_row(i, t, source, blueprints.get(t.blueprint_id)) for i, (t, _, _) in enumerate(admitted)]
    # With no row, the task files are all there is: their blueprints' provenance labels the partition.
    simulated = combined_label([t.simulated for t, _, _ in admitted] if admitted
                               else [b.simulated for b in blueprints.values() if b.kept])
    card = dataset_card(source.domain, source.batch, lineage, card_info, dropped_by_reason, simulated)
    provenance = provenance_metadata(simulated)
    sharegpt_rows = [row for _, row, _ in admitted]
    openai_rows = [example for _, _, example in admitted]
    payloads: list[tuple[str, bytes]] = [
        (export_path("apigen_mt", source.domain, source.batch, "jsonl"), jsonl_bytes(sharegpt_rows)),
        (export_path("apigen_mt", source.domain, source.batch, "provenance.json"), jsonl_bytes([provenance])),
        (export_path("apigen_mt", source.domain, source.batch, "parquet"),
         parquet_bytes(sharegpt_rows, SHAREGPT_SCHEMA, provenance)),
        (export_path("openai", source.domain, source.batch, "jsonl"), jsonl_bytes(openai_rows)),
        (export_path("openai", source.domain, source.batch, "provenance.json"), jsonl_bytes([provenance])),
        (export_path("openai", source.domain, source.batch, "parquet"),
         parquet_bytes([_openai_parquet_row(e) for e in openai_rows], OPENAI_PARQUET_SCHEMA, provenance)),
        (export_path("lineage", source.domain, source.batch, "jsonl"), jsonl_bytes(lineage)),
        (export_path("lineage", source.domain, source.batch, "parquet"),
         parquet_bytes(lineage, LINEAGE_SCHEMA, provenance)),
        (export_path("cards", source.domain, source.batch, "json"), card_json(card)),
        (export_path("cards", source.domain, source.batch, "md"), card_markdown(card).encode()),
        *task_file_payloads(blueprints.values(), source.domain, source.batch),
    ]
    files = [ExportedFile(relative_path=path, location=target.write_bytes(path, data),
                          sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data)) for path, data in payloads]
    return ExportManifest(domain=source.domain, batch=source.batch, rows=len(admitted), files=files, card=card,
                          simulated=simulated, dropped_by_reason=dropped_by_reason, dropped=dropped)
