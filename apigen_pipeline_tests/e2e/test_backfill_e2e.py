"""Backfills through GraphQL: 5 partitions complete, one run per partition; a backfill cancelled
halfway and resumed leaves exactly the rows an uninterrupted one leaves."""

import pandas as pd
import pytest

from apigen_pipeline.defs.automation.batches import batches_between
from apigen_pipeline.warehouse import PartitionWrite, Warehouse
from apigen_pipeline.warehouse.warehouse import RUN_COLUMNS, content_hash
from apigen_pipeline_tests.e2e.conftest import CONTEXTS_PER_PARTITION, DOMAIN, THROTTLE_TAG, partition
from apigen_pipeline_tests.support.dagster_server import (
    BackfillInfo,
    DagsterDevServer,
    DagsterServerError,
)

pytestmark = pytest.mark.slow

BATCHES = batches_between("2026-10-01", "2026-10-05")
LOG_TABLES = {"llm_requests", "schema_migrations"}  # logs of what ran, not partition content
PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def warehouse_of(server: DagsterDevServer) -> Warehouse:
    return Warehouse(server.apigen_home / "warehouse.duckdb")


def stage_tables(warehouse: Warehouse) -> list[str]:
    """Every table holding partition content, whatever stages exist today."""
    tables = []
    for table in sorted(warehouse.known_tables() - LOG_TABLES):
        columns = set(warehouse.query("warehouse/table_columns", [table])["column_name"])
        if {"domain", "batch", "run_id"} <= columns:
            tables.append(table)
    return tables


def content_hashes(warehouse: Warehouse) -> dict[tuple[str, str], str]:
    return {(table, batch): warehouse.partition_content_hash(table, DOMAIN, batch)
            for table in stage_tables(warehouse) for batch in BATCHES}


def differing_columns(before: pd.DataFrame, after: pd.DataFrame) -> list[str] | str:
    """Which content columns differ between two versions of a partition (for the failure message)."""
    if len(before) != len(after):
        return f"{len(before)} rows, then {len(after)}"
    columns = [c for c in before.columns if c not in RUN_COLUMNS]
    before, after = (frame[columns].astype(str).sort_values(columns).reset_index(drop=True) for frame in (before, after))
    return [c for c in columns if not before[c].equals(after[c])]


def content_differences(warehouse: Warehouse, expected: dict[tuple[str, str], pd.DataFrame]) -> dict:
    actual = {(table, batch): warehouse.read_partition(table, DOMAIN, batch) for table, batch in expected}
    return {key: differing_columns(expected[key], actual[key]) for key in expected
            if content_hash(expected[key]) != content_hash(actual[key])}


def materialized_by(server: DagsterDevServer, assets: list[str], key: str, run_ids: set[str]) -> bool:
    """Whether every asset's newest materialization of the partition came from one of these runs."""
    for asset in assets:
        latest = server.latest_materialization(asset, key)
        if latest is None or latest["run_id"] not in run_ids:
            return False
    return True


def clear_partitions(warehouse: Warehouse) -> None:
    empty = pd.DataFrame({"domain": pd.Series(dtype=str), "batch": pd.Series(dtype=str)})
    for batch in BATCHES:
        warehouse.replace_partition(DOMAIN, batch, [PartitionWrite(t, empty) for t in stage_tables(warehouse)])


def answered_llm_requests(warehouse: Warehouse) -> int:
    """Requests the LLM stages sent for these partitions (0 until a stage calls an LLM)."""
    if "llm_requests" not in warehouse.known_tables():
        return 0
    with warehouse.connect(read_only=True) as con:
        return con.execute("SELECT count(DISTINCT request_key) FROM llm_requests WHERE domain = ? AND batch IN "
                           f"({', '.join('?' * len(BATCHES))}) AND status = 'answered'",
                           [DOMAIN, *BATCHES]).fetchone()[0]


def duplicate_answers(warehouse: Warehouse) -> list[str]:
    """Request keys answered more than once: the request log must have served the resumed runs."""
    if "llm_requests" not in warehouse.known_tables():
        return []
    with warehouse.connect(read_only=True) as con:
        rows = con.execute("SELECT request_key FROM llm_requests WHERE status = 'answered' "
                           "GROUP BY request_key HAVING count(*) > 1").fetchall()
    return [row[0] for row in rows]


def partition_of_run(tags: dict[str, str]) -> str:
    """A backfill run's partition: a key tag, or (with a BackfillPolicy) a range of exactly one key."""
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG]
    assert tags[RANGE_START_TAG] == tags[RANGE_END_TAG], f"a run spans several partitions: {tags}"
    return tags[RANGE_START_TAG]


def contexts_rows(warehouse: Warehouse, batch: str) -> int:
    return len(warehouse.read_partition("task_contexts", DOMAIN, batch))


def test_a_cancelled_and_resumed_backfill_leaves_the_rows_of_an_uninterrupted_one(pipeline_server: DagsterDevServer, fast_run_config: dict):
    partitions = [partition(batch) for batch in BATCHES]
    warehouse = warehouse_of(pipeline_server)

    # 1. Uninterrupted: completes; every run covers exactly one partition.
    whole = pipeline_server.wait_for_backfill(pipeline_server.launch_backfill(partitions, title="e2e whole",
                                                                              run_config=fast_run_config),
                                              timeout_s=420)
    assert whole.status in {"COMPLETED", "COMPLETED_SUCCESS"}, pipeline_server.log_tail()
    assert sorted({partition_of_run(dict(run.tags)) for run in whole.runs}) == sorted(partitions)
    assert all(run.status == "SUCCESS" for run in whole.runs)
    assert [contexts_rows(warehouse, batch) for batch in BATCHES] == [CONTEXTS_PER_PARTITION] * len(BATCHES)
    expected = content_hashes(warehouse)
    expected_frames = {(table, batch): warehouse.read_partition(table, DOMAIN, batch)
                       for table, batch in expected}
    expected_requests = answered_llm_requests(warehouse)

    # 2. Interrupted: its runs go one at a time (throttle tag); cancel once one partition is complete,
    # i.e. every asset of it was materialized by this backfill (stages with different backfill
    # policies run in separate runs).
    clear_partitions(warehouse)
    assert [contexts_rows(warehouse, batch) for batch in BATCHES] == [0] * len(BATCHES)
    interrupted_id = pipeline_server.launch_backfill(partitions, tags={THROTTLE_TAG: "1"}, title="e2e interrupted",
                                                     run_config=fast_run_config)
    assets = pipeline_server.asset_keys()

    def complete_partitions(info: BackfillInfo) -> list[str]:
        if "SUCCESS" not in info.run_statuses:
            return []
        run_ids = {run.run_id for run in info.runs}
        return [key for key in partitions if materialized_by(pipeline_server, assets, key, run_ids)]

    def one_partition_complete(info: BackfillInfo) -> bool:
        if complete_partitions(info):
            return True
        if info.status in {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}:
            raise DagsterServerError(f"the backfill ended before it could be interrupted: {info}")
        return False

    pipeline_server.wait_for_backfill(interrupted_id, timeout_s=420, until=one_partition_complete)
    pipeline_server.cancel_backfill(interrupted_id)
    cancelled = pipeline_server.wait_for_backfill(interrupted_id, timeout_s=180)
    assert cancelled.status == "CANCELED"
    done = complete_partitions(cancelled)
    missing = [key for key in partitions if key not in done]
    assert done and missing, f"not interrupted halfway: {cancelled}"

    # 3. Resume: only the partitions the interrupted backfill did not finish.
    resumed = pipeline_server.wait_for_backfill(pipeline_server.launch_backfill(missing, title="e2e resumed",
                                                                                run_config=fast_run_config),
                                                timeout_s=420)
    assert resumed.status in {"COMPLETED", "COMPLETED_SUCCESS"}, pipeline_server.log_tail()
    assert sorted({partition_of_run(dict(run.tags)) for run in resumed.runs}) == sorted(missing)

    assert content_hashes(warehouse) == expected, content_differences(warehouse, expected_frames)
    assert answered_llm_requests(warehouse) == expected_requests
    assert duplicate_answers(warehouse) == []
