"""The whole graph through Dagster on the mock plugin, offline: trajectories, export, pass^k, report."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pytest

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.paths import exports_dir, warehouse_path
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.support.runs import run_partition_logged

BATCH = "2026-11-22"
TABLES = ["trajectory_attempts", "user_turn_candidates", "trajectories", "passk_results", "generation_report"]


@pytest.fixture()
def config(mock_config) -> PipelineConfig:
    return PipelineConfig.model_validate({**mock_config.model_dump(mode="json"),
                                          "sampling": {"contexts_per_partition": 10},
                                          "evaluation": {"k": 2, "max_tasks": 3}})


def run_graph(config: PipelineConfig) -> dg.ExecuteInProcessResult:
    return run_partition_logged(config, "mockshop", BATCH)[0]


def metadata_of(result: dg.ExecuteInProcessResult, key: str) -> dict:
    return next(e.event_specific_data.materialization.metadata for e in result.get_asset_materialization_events()
                if e.event_specific_data.materialization.asset_key == dg.AssetKey(key))


def test_whole_graph_exports_a_verified_dataset_and_a_funnel(config):
    result, log_lines = run_partition_logged(config, "mockshop", BATCH)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["kept_trajectories_replay"] is True
    warehouse = Warehouse(warehouse_path())
    kept = warehouse.read_partition("trajectories", "mockshop", BATCH)
    assert len(kept) >= 1
    export_progress = [line for line in log_lines if line.startswith("training_dataset: trajectories rendered")]
    assert export_progress and export_progress[-1].startswith(
        f"training_dataset: trajectories rendered and checked: {len(kept)}/{len(kept)}, finished after ")
    root = exports_dir(warehouse.path.parent)
    sharegpt = pd.read_parquet(root / "apigen_mt" / "mockshop" / f"{BATCH}.parquet")
    assert list(sharegpt.columns) == ["conversations", "system", "tools"]
    assert len(sharegpt) == len(kept)
    openai_rows = [json.loads(line) for line in
                   (root / "openai" / "mockshop" / f"{BATCH}.jsonl").read_text().splitlines()]
    assert len(openai_rows) == len(kept) and all("messages" in r and "tools" in r for r in openai_rows)
    card = json.loads((root / "cards" / "mockshop" / f"{BATCH}.json").read_text())
    assert card["not_for_training"] is True
    assert card["models"]["agent"].startswith("simulated (rehearsing ")
    report = warehouse.read_partition("generation_report", "mockshop", BATCH).sort_values("stage_order")
    stages = dict(zip(report["stage"], report["count"], strict=True))
    assert stages["contexts"] == 10
    # Input tokens per request of each role, from the request log: in the report, its metadata and the card.
    logged = warehouse.query("report/prompt_tokens_by_role", ["mockshop", BATCH])
    by_role = json.loads(report["prompt_tokens_by_role"].iloc[0])
    assert {"generator", "judge", "agent", "human"} <= set(by_role)
    generator = logged[logged["role"] == "generator"].iloc[0]
    assert by_role["generator"]["requests"] == generator["requests"] > 0
    assert 0 < by_role["generator"]["p50"] == round(generator["p50"], 1) <= by_role["generator"]["p95"]
    assert metadata_of(result, "generation_report")["prompt_tokens_p50_generator"].value == by_role["generator"]["p50"]
    assert set(card["prompt_tokens_by_role"]) >= {"generator", "judge"}
    assert card["prompt_versions"]["generator"] == "v3"
    assert stages["dataset_rows"] == len(kept)
    passk = warehouse.read_partition("passk_results", "mockshop", BATCH)
    assert sorted(passk["k"]) == [1, 2]
    assert (passk["pass_hat_k"].diff().dropna() <= 1e-12).all()  # pass^k never rises with k
    assert metadata_of(result, "trajectories")["llm_requests_answered"].value > 0
    assert_simulated_provenance_everywhere(warehouse, root)
    report_metadata = metadata_of(result, "generation_report")
    assert report_metadata["simulated"].value == "true"
    assert "measure nothing about any model" in report_metadata["funnel"].value
    # Re-exported once a real backend is configured (APIGEN_LLM), the rehearsal stays a rehearsal: the
    # label comes from the rows' request log entries, not from the configuration in force.
    live = config.model_copy(update={"llm": config.llm.model_copy(update={"backend_override": "openai:gpt-4o-mini"})})
    reexport = export_only(live)
    assert reexport.success
    assert metadata_of(reexport, "training_dataset")["not_for_training"].value is True
    assert_simulated_provenance_everywhere(warehouse, root)
    assert checks["funnel_is_consistent"] is True
    yields = report["yield_from_previous"].dropna()
    assert len(yields) and (yields <= 1).all()
    assert_tables_and_code_versions(result, config)


def export_only(config: PipelineConfig) -> dg.ExecuteInProcessResult:
    job = build_definitions(config=config).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        return job.execute_in_process(partition_key=Partition("mockshop", BATCH).key(), instance=instance,
                                      asset_selection=[dg.AssetKey("training_dataset")], raise_on_error=False)


def assert_simulated_provenance_everywhere(warehouse: Warehouse, root: Path) -> None:
    """Rows, every Parquet file's schema metadata, the JSONL sidecars, lineage, task lineage and the card."""
    for table in ("blueprints", "trajectories"):
        assert set(warehouse.read_partition(table, "mockshop", BATCH)["simulated"]) == {"true"}, table
    for folder in ("apigen_mt", "openai", "lineage"):
        metadata = pq.read_schema(root / folder / "mockshop" / f"{BATCH}.parquet").metadata
        assert metadata[b"apigen.simulated"] == b"true" and metadata[b"apigen.not_for_training"] == b"true"
    for folder in ("apigen_mt", "openai"):
        sidecar = json.loads((root / folder / "mockshop" / f"{BATCH}.provenance.json").read_text())
        assert sidecar == {"apigen.simulated": "true", "apigen.not_for_training": "true"}
    lineage = [json.loads(line) for line in (root / "lineage" / "mockshop" / f"{BATCH}.jsonl").read_text().splitlines()]
    assert lineage and {row["simulated"] for row in lineage} == {"true"}
    assert all(row["blueprint_kind"] in ("simple", "recombined") and row["blueprint_voted_score"] is not None
               and row["blueprint_rounds_used"] is not None for row in lineage)
    tasks = json.loads((root / "tasks" / "mockshop" / f"{BATCH}.lineage.json").read_text())
    assert tasks and {task["simulated"] for task in tasks} == {"true"}
    card = json.loads((root / "cards" / "mockshop" / f"{BATCH}.json").read_text())
    assert card["simulated"] == "true" and card["not_for_training"] is True and card["backend"] == "simulated"
    assert "NOT FOR TRAINING" in (root / "cards" / "mockshop" / f"{BATCH}.md").read_text()


# Each DuckDB-backed asset and the table its rows land in.
ASSET_TABLES = {"environment_api_specs": "environment_tools", "task_contexts": "task_contexts",
                "blueprints": "blueprints", "committee_votes": "committee_votes",
                "recombined_blueprints": "blueprints", "trajectories": "trajectories",
                "passk_evaluation": "passk_results", "generation_report": "generation_report"}


def assert_tables_and_code_versions(result: dg.ExecuteInProcessResult, config: PipelineConfig) -> None:
    """Every DuckDB-backed asset names its table and columns for the UI; every asset has a code version."""
    for asset, table in ASSET_TABLES.items():
        metadata = metadata_of(result, asset)
        assert metadata["dagster/table_name"].value == f"warehouse.main.{table}"
        columns = [column.name for column in metadata["dagster/column_schema"].schema.columns]
        assert {"domain", "batch", "run_id", "config_hash"} <= set(columns)
    assert metadata_of(result, "task_contexts")["dagster/column_schema"].schema.columns[0].type
    specs = [spec for assets in build_definitions(config=config).assets or [] for spec in assets.specs]
    assert all(spec.code_version for spec in specs)
    assert {spec.key.to_user_string() for spec in specs} >= set(ASSET_TABLES) | {"training_dataset"}


def test_rematerializing_the_graph_sends_nothing_and_rewrites_identical_files(config):
    assert run_graph(config).success
    warehouse = Warehouse(warehouse_path())
    root = exports_dir(warehouse.path.parent)
    files = {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    assert len(files) >= 8
    hashes = {t: warehouse.partition_content_hash(t, "mockshop", BATCH) for t in TABLES}
    logged = len(warehouse.query("llm/all_requests", []))
    second = run_graph(config)
    assert second.success
    for asset in ("blueprints", "trajectories", "passk_evaluation"):
        assert metadata_of(second, asset)["llm_requests_answered"].value == 0
    assert len(warehouse.query("llm/all_requests", [])) == logged
    assert {t: warehouse.partition_content_hash(t, "mockshop", BATCH) for t in TABLES} == hashes
    assert {p: Path(p).read_bytes() for p in files} == files
