"""The generation_failures view over the Phase 1 and Phase 2 attempt tables."""

import pandas as pd
import pytest

from apigen_pipeline.warehouse import PartitionWrite, Warehouse
from apigen_pipeline.warehouse.sql_files import load_sql

LINEAGE = {"domain": "retail", "batch": "2026-11-20", "run_id": "r1", "config_hash": "c1",
           "materialized_at": pd.Timestamp("2026-11-20 01:00")}


def blueprint_attempt(attempt_id: str, status: str, stage: str | None = None, reason: str | None = None) -> dict:
    return {**LINEAGE, "attempt_id": attempt_id, "context_id": f"ctx-{attempt_id}", "kind": "simple", "round": 1,
            "status": status, "failure_stage": stage, "failure_reason": reason}


def trajectory_attempt(trajectory_id: str, verdict: str, kept: bool, reason: str | None = None,
                       drop: str | None = None) -> dict:
    return {**LINEAGE, "trajectory_id": trajectory_id, "blueprint_id": "bp-1", "attempt_index": 0,
            "end_reason": "user_stop", "verdict": verdict, "failure_reason": reason, "kept": kept,
            "drop_reason": drop}


@pytest.fixture()
def warehouse(tmp_path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.migrate()
    if not {"blueprint_attempts", "trajectory_attempts"} <= warehouse.known_tables():
        pytest.skip("the attempt tables are not migrated yet")
    warehouse.replace_partition("retail", "2026-11-20", [
        PartitionWrite("blueprint_attempts", pd.DataFrame([
            blueprint_attempt("a1", "accepted"),
            blueprint_attempt("a2", "revised", "execution", "tool_error"),
            blueprint_attempt("a3", "rejected", "committee", "correctness_vote_failed"),
            blueprint_attempt("a4", "revised", "execution", "tool_error"),
        ])),
        PartitionWrite("trajectory_attempts", pd.DataFrame([
            trajectory_attempt("t1", "verified", kept=True),
            trajectory_attempt("t2", "failed", kept=False, reason="state_mismatch"),
            trajectory_attempt("t3", "verified", kept=False, drop="duplicate"),
        ])),
    ])
    with warehouse.connect() as con:
        con.execute(load_sql("views/generation_failures"))
    return warehouse


def test_every_failed_attempt_appears_once_with_its_stage_and_reason(warehouse):
    with warehouse.connect(read_only=True) as con:
        rows = con.execute("SELECT item_kind, item_id, outcome, failure_stage, failure_reason "
                           "FROM generation_failures ORDER BY item_kind, item_id").fetchall()
    assert rows == [
        ("blueprint", "a2", "revised", "execution", "tool_error"),
        ("blueprint", "a3", "rejected", "committee", "correctness_vote_failed"),
        ("blueprint", "a4", "revised", "execution", "tool_error"),
        ("trajectory", "t2", "failed", "verification", "state_mismatch"),
        ("trajectory", "t3", "dropped", "selection", "duplicate"),
    ]


def test_counts_per_partition_rank_the_most_frequent_reason_first(warehouse):
    counts = warehouse.query("views/generation_failure_counts", ["retail", "2026-11-20"])
    assert list(counts.iloc[0][["item_kind", "failure_stage", "failure_reason", "failures"]]) == [
        "blueprint", "execution", "tool_error", 2]
    assert counts["failures"].sum() == 5
    assert warehouse.query("views/generation_failure_counts", ["airline", "2026-11-20"]).empty
