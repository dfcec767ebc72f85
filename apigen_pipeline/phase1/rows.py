"""Row builders for the Phase 1 tables (`sql/migrations/0003_phase1.sql`).

Keys match the columns; the caller adds the partition and lineage columns (domain, batch, run_id,
config_hash, materialized_at). Rows hold no wall-clock values and ids derive from context ids and
rounds, so the same inputs and simulated seed give byte-identical rows. JSON columns are canonical
JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from apigen_pipeline.environments.database import canonical_json
from apigen_pipeline.phase1.models import (
    CRITERIA,
    AcceptedBlueprint,
    ActionCall,
    Blueprint,
    JudgeVote,
    Phase1Result,
)


def _json(value: Any) -> str:
    return canonical_json(value)


def blueprint_attempt_rows(result: Phase1Result) -> list[dict[str, Any]]:
    rows = []
    for attempt in result.attempts:
        blueprint = attempt.blueprint
        rows.append({
            "attempt_id": attempt.attempt_id,
            "context_id": attempt.context_id,
            "kind": attempt.kind,
            "round": attempt.round,
            "prompt_version": attempt.prompt_version,
            "status": attempt.status,
            "failure_stage": attempt.failure_stage,
            "failure_reason": attempt.failure_reason,
            "instruction": blueprint.instruction if blueprint else None,
            "actions": _json([a.model_dump() for a in blueprint.actions]) if blueprint else None,
            "outputs": _json(blueprint.outputs) if blueprint else None,
            "verdicts": _json([v.model_dump() for v in attempt.verdicts]),
            "committee": _json(attempt.decision.model_dump()) if attempt.decision else None,
            "feedback_plan": attempt.feedback_plan,
            "state_hash": attempt.state_hash,
            "diff": _json(attempt.diff),
            "diff_text": attempt.diff_text,
            "user_id": attempt.user_id,
            "persona_id": attempt.persona_id,
            "source_blueprint_ids": _json(attempt.source_blueprint_ids),
            "request_keys": _json(attempt.request_keys),
        })
    return rows


def committee_vote_rows(result: Phase1Result) -> list[dict[str, Any]]:
    rows = []
    for attempt in result.attempts:
        for vote in attempt.votes:
            row: dict[str, Any] = {
                "attempt_id": attempt.attempt_id,
                "context_id": attempt.context_id,
                "kind": attempt.kind,
                "round": attempt.round,
                "judge_index": vote.judge_index,
                "provider": vote.provider,
                "model": vote.model,
                "abstained": vote.abstained,
                "abstain_reason": vote.abstain_reason,
                "reflection": vote.reflection,
                "correction": vote.correction,
                "request_key": vote.request_key,
            }
            for criterion in ("correctness", "completeness", "satisfaction", "creativity"):
                row[criterion] = vote.scores.get(criterion)
            rows.append(row)
    return rows


def blueprint_rows(result: Phase1Result) -> list[dict[str, Any]]:
    return [{
        "blueprint_id": b.blueprint_id,
        "kind": b.kind,
        "context_id": b.context_id,
        "attempt_id": b.attempt_id,
        "source_blueprint_ids": _json(b.source_blueprint_ids),
        "rounds_used": b.rounds_used,
        "user_id": b.user_id,
        "persona_id": b.persona_id,
        "identity": _json(b.identity),
        "instruction": b.blueprint.instruction,
        "actions": _json([a.model_dump() for a in b.blueprint.actions]),
        "outputs": _json(b.blueprint.outputs),
        "state_hash": b.state_hash,
        "diff": _json(b.diff),
        "voted_score": b.voted_score,
        "duplicate_of": b.duplicate_of,
        "duplicate_kind": b.duplicate_kind,
        "simulated": b.simulated,
    } for b in result.blueprints]


def accepted_blueprint_from_row(row: Mapping[str, Any]) -> AcceptedBlueprint:
    """The inverse of `blueprint_rows` for one row: downstream stages read blueprints back from the warehouse."""
    return AcceptedBlueprint(
        blueprint_id=row["blueprint_id"],
        kind=row["kind"],
        context_id=row["context_id"],
        attempt_id=row["attempt_id"],
        source_blueprint_ids=json.loads(row["source_blueprint_ids"] or "[]"),
        rounds_used=int(row["rounds_used"] or 0),
        user_id=row["user_id"] or "",
        persona_id=row["persona_id"] or "",
        identity=json.loads(row["identity"] or "{}"),
        blueprint=Blueprint(instruction=row["instruction"],
                            actions=[ActionCall(**a) for a in json.loads(row["actions"])],
                            outputs=json.loads(row["outputs"] or "[]")),
        state_hash=row["state_hash"] or "",
        diff=json.loads(row["diff"] or "[]"),
        voted_score=int(row["voted_score"] or 0),
        duplicate_of=row["duplicate_of"],
        duplicate_kind=row["duplicate_kind"],
        simulated=row.get("simulated"),
    )


def judge_vote_sets_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[list[JudgeVote]]:
    """`committee_vote_rows` read back as one list of votes per reviewed attempt (scores only, as the
    agreement statistics need them)."""
    vote_sets: dict[str, list[JudgeVote]] = {}
    for row in rows:
        scores = {} if row["abstained"] else {c: int(row[c]) for c in CRITERIA}
        vote_sets.setdefault(row["attempt_id"], []).append(
            JudgeVote(judge_index=int(row["judge_index"]), abstained=bool(row["abstained"]), scores=scores))
    return list(vote_sets.values())
