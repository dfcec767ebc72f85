"""Row builders for the Phase 2 tables (`sql/migrations/0004_phase2.sql`).

Keys match the columns; the partition and lineage columns (domain, batch, run_id, config_hash,
materialized_at) are added by the caller. Rows hold no wall-clock values, so identical inputs give
identical rows. JSON columns are VARCHAR with sorted keys.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from apigen_pipeline.phase2.models import TrajectoryAttempt
from apigen_pipeline.phase2.stats import turn_count


def _json(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def trajectory_attempt_rows(attempts: Sequence[TrajectoryAttempt]) -> list[dict[str, Any]]:
    return [{
        "trajectory_id": a.trajectory_id, "blueprint_id": a.blueprint_id, "attempt_index": a.attempt_index,
        "end_reason": a.end_reason, "end_detail": a.end_detail, "verdict": a.verdict,
        "failure_reason": a.failure_reason, "kept": a.kept, "drop_reason": a.drop_reason,
        "duplicate_of": a.duplicate_of, "final_state_hash": a.final_state_hash,
        "expected_state_hash": a.expected_state_hash, "diff": _json(a.diff), "diff_text": a.diff_text,
        "missing_outputs": _json(a.missing_outputs), "audit_findings": _json(a.audit_findings),
        "audit_clean": a.audit_clean, "protocol_violations": _json(a.protocol_violations),
        "checks": _json(a.checks), "messages": _json(a.messages), "executed_calls": _json(a.executed_calls),
        "request_keys": _json(a.request_keys), "user_turns": a.user_turns, "agent_turns": a.agent_turns,
        "tool_calls": a.tool_calls, "turns": turn_count(a), "canonical_hash": a.canonical_hash,
    } for a in attempts]


def user_turn_candidate_rows(attempts: Sequence[TrajectoryAttempt]) -> list[dict[str, Any]]:
    return [{
        "trajectory_id": a.trajectory_id, "blueprint_id": a.blueprint_id, "attempt_index": a.attempt_index,
        "turn_index": c.turn_index, "sample_index": c.sample_index, "text": c.text, "score": c.score,
        "reason": c.reason, "chosen": c.chosen, "failure": c.failure, "request_key": c.request_key,
        "critic_request_key": c.critic_request_key,
    } for a in attempts for c in a.candidates]


def trajectory_rows(attempts: Sequence[TrajectoryAttempt]) -> list[dict[str, Any]]:
    """The kept trajectories only: verified, allowed by the audit, unique per blueprint."""
    return [{
        "trajectory_id": a.trajectory_id, "blueprint_id": a.blueprint_id, "attempt_index": a.attempt_index,
        "canonical_hash": a.canonical_hash, "final_state_hash": a.final_state_hash, "audit_clean": a.audit_clean,
        "user_turns": a.user_turns, "agent_turns": a.agent_turns, "tool_calls": a.tool_calls,
        "turns": turn_count(a), "messages": _json(a.messages), "simulated": a.simulated,
        # The whole attempt, so the export (a downstream asset) rebuilds it without re-running anything.
        "attempt_json": a.model_dump_json(),
    } for a in attempts if a.kept]
