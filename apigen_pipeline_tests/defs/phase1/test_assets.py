"""Phase 1 through Dagster on the mock plugin with the offline simulated backend."""

import dagster as dg
import pytest

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.paths import warehouse_path
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.support.runs import run_partition_logged

BATCH = "2026-11-21"
PHASE1_TABLES = ["blueprint_attempts", "committee_votes", "blueprints"]


def run_partition(config: PipelineConfig, domain: str = "mockshop") -> dg.ExecuteInProcessResult:
    return run_partition_logged(config, domain, BATCH)[0]


@pytest.fixture()
def config(mock_config) -> PipelineConfig:
    return mock_config.model_copy(update={"sampling": mock_config.sampling.model_copy(
        update={"contexts_per_partition": 12})})


def materialization(result: dg.ExecuteInProcessResult, key: str) -> dict:
    events = [e for e in result.get_asset_materialization_events()
              if e.event_specific_data.materialization.asset_key == dg.AssetKey(key)]
    assert len(events) == 1
    return events[0].event_specific_data.materialization.metadata


def test_phase1_materializes_blueprints_votes_and_checks(config):
    result, log_lines = run_partition_logged(config, "mockshop", BATCH)
    assert result.success
    progress = [line for line in log_lines if line.startswith("blueprints: LLM requests sent: ")]
    assert progress and progress[-1].endswith("s") and ", finished after " in progress[-1]
    assert "answered" in progress[-1] and "cost so far $0.0000" in progress[-1]
    assert any(line.startswith("task_contexts: contexts sampled: 12/12") for line in log_lines)
    warehouse = Warehouse(warehouse_path())
    attempts = warehouse.read_partition("blueprint_attempts", "mockshop", BATCH)
    simple = attempts[attempts["kind"] == "simple"]
    assert set(simple["context_id"].str.startswith("mockshop-")) == {True}
    assert simple["context_id"].nunique() == 12
    assert {"accepted"} <= set(attempts["status"])
    blueprints = warehouse.read_partition("blueprints", "mockshop", BATCH)
    assert len(blueprints) >= 1
    votes = warehouse.read_partition("committee_votes", "mockshop", BATCH)
    assert len(votes) >= 3 * len(blueprints)
    metadata = materialization(result, "blueprints")
    assert metadata["contexts"].value == 12
    assert metadata["llm_requests_answered"].value > 0
    assert metadata["llm_cost_usd"].value == 0.0            # simulated backend: free
    assert metadata["llm_projected_cost_usd"].value > 0.0   # ... but the bill on the configured models is shown
    assert "| stage |" in metadata["funnel"].value
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["accepted_blueprints_reexecute"] is True
    assert {"accepted_blueprints_reexecute", "blueprint_yield", "judge_agreement"} <= set(checks)


def test_rematerializing_phase1_sends_nothing_and_rewrites_identical_rows(config):
    first = run_partition(config)
    assert first.success
    warehouse = Warehouse(warehouse_path())
    hashes = {t: warehouse.partition_content_hash(t, "mockshop", BATCH) for t in PHASE1_TABLES}
    logged = len(warehouse.read_partition("llm_requests", "mockshop", BATCH))
    second = run_partition(config)
    assert second.success
    metadata = materialization(second, "blueprints")
    assert metadata["llm_requests_answered"].value == 0
    assert metadata["llm_cache_hits"].value == materialization(first, "blueprints")["llm_requests_answered"].value
    assert {t: warehouse.partition_content_hash(t, "mockshop", BATCH) for t in PHASE1_TABLES} == hashes
    assert len(warehouse.read_partition("llm_requests", "mockshop", BATCH)) == logged


def test_zero_contexts_per_partition_is_refused_not_replaced_by_the_default(mock_config):
    """`0 or default` used to run the configured 20: a 0 in the launchpad must be refused, by name."""
    job = build_definitions(config=mock_config).resolve_job_def("generate_batch")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            partition_key=Partition("mockshop", BATCH).key(), instance=instance, raise_on_error=False,
            run_config={"ops": {"task_contexts": {"config": {"contexts_per_partition": 0}}}})
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "task_contexts"
    message = str(failure.step_failure_data.error.to_string())
    assert "contexts_per_partition" in message and "greater than or equal to 1" in message
    assert Warehouse(warehouse_path()).read_partition("task_contexts", "mockshop", BATCH).empty


def test_an_explicit_contexts_per_partition_overrides_the_config(mock_config):
    job = build_definitions(config=mock_config).resolve_job_def("generate_batch")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            partition_key=Partition("mockshop", BATCH).key(), instance=instance, raise_on_error=False,
            asset_selection=[dg.AssetKey("environment_api_specs"), dg.AssetKey("task_contexts")],
            run_config={"ops": {"task_contexts": {"config": {"contexts_per_partition": 3}}}})
    assert result.success
    assert len(Warehouse(warehouse_path()).read_partition("task_contexts", "mockshop", BATCH)) == 3
