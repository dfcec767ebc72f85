"""Row builders match the migration's columns and load into the warehouse."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from apigen_pipeline.dataset.passk import pass_hat_k_table
from apigen_pipeline.dataset.report import build_generation_report
from apigen_pipeline.dataset.rows import passk_result_rows, report_rows
from apigen_pipeline.phase2.models import Phase2Result
from apigen_pipeline.phase2.rows import trajectory_attempt_rows, trajectory_rows, user_turn_candidate_rows
from apigen_pipeline.warehouse import PartitionWrite, Warehouse
from apigen_pipeline_tests.dataset.test_report import _phase1_stats

PARTITION_COLUMNS = {"domain", "batch", "run_id", "config_hash", "materialized_at"}


def test_rows_match_the_tables_and_load(tmp_path: Path, phase2_result: Phase2Result) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.migrate()
    report = build_generation_report("mockshop", "b", _phase1_stats(), phase2_result.stats, 3)
    tables = {
        "trajectory_attempts": trajectory_attempt_rows(phase2_result.attempts),
        "user_turn_candidates": user_turn_candidate_rows(phase2_result.attempts),
        "trajectories": trajectory_rows(phase2_result.attempts),
        "passk_results": passk_result_rows(pass_hat_k_table("mockshop", "a", {"t": [True, False]}, 2)),
        "generation_report": report_rows(report),
    }
    writes = []
    for table, rows in tables.items():
        columns = set(warehouse.query("warehouse/table_columns", [table])["column_name"])
        assert rows and set(rows[0]) == columns - PARTITION_COLUMNS, table
        frame = pd.DataFrame([{**row, "domain": "mockshop", "batch": "b", "run_id": "r", "config_hash": "c",
                               "materialized_at": pd.Timestamp("2026-01-01")} for row in rows])
        writes.append(PartitionWrite(table, frame))
    counts = warehouse.replace_partition("mockshop", "b", writes)
    assert counts == {table: len(rows) for table, rows in tables.items()}
    stored = warehouse.read_partition("trajectories", "mockshop", "b")
    assert sorted(stored["trajectory_id"]) == sorted(a.trajectory_id for a in phase2_result.trajectories)
