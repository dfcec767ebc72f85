"""The first two assets materialized through Dagster, on the test-only mock plugin."""

import json

import dagster as dg
import pytest

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.paths import warehouse_path
from apigen_pipeline.warehouse import Warehouse

BATCH = "2026-11-20"


def materialize(config: PipelineConfig, domain: str = "mockshop", run_config: dict | None = None,
                config_path: str | None = None) -> dg.ExecuteInProcessResult:
    defs = build_definitions(config=config, config_path=config_path)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        return job.execute_in_process(partition_key=Partition(domain, BATCH).key(), instance=instance,
                                      run_config=run_config or {}, raise_on_error=False)


@pytest.fixture()
def config_file(tmp_path):
    path = tmp_path / "pipeline.yaml"
    path.write_text("domains:\n  - name: mockshop\n    plugin: apigen_pipeline_tests.mock_domain:plugin\n"
                    "sampling:\n  contexts_per_partition: 6\n")
    return str(path)


def test_specs_and_contexts_materialize_for_a_test_plugin(mock_config, config_file):
    result = materialize(mock_config, config_path=config_file)
    assert result.success
    warehouse = Warehouse(warehouse_path())
    tools = warehouse.read_partition("environment_tools", "mockshop", BATCH)
    assert sorted(tools["tool_name"]) == ["cancel_order", "find_user", "get_order", "rename_user"]
    assert set(tools["kind"]) == {"read", "write"}
    edges = warehouse.read_partition("environment_graph_edges", "mockshop", BATCH)
    assert ("find_user", "rename_user") in set(zip(edges["source_tool"], edges["target_tool"], strict=True))
    fingerprint = warehouse.read_partition("environment_fingerprints", "mockshop", BATCH).iloc[0]
    assert json.loads(fingerprint["table_counts"])["users"] == 20
    contexts = warehouse.read_partition("task_contexts", "mockshop", BATCH)
    assert len(contexts) == 6
    assert contexts["context_id"].is_unique
    assert set(contexts["config_hash"]) == {mock_config.fingerprint()}
    metadata = result.asset_materializations_for_node("task_contexts")[0].metadata
    assert metadata["dagster/row_count"].value == 6


def test_rematerializing_leaves_identical_rows(mock_config, config_file):
    assert materialize(mock_config, config_path=config_file).success
    warehouse = Warehouse(warehouse_path())
    tables = ["environment_tools", "environment_policies", "environment_graph_edges", "environment_fingerprints",
              "task_contexts"]
    first = {t: warehouse.partition_content_hash(t, "mockshop", BATCH) for t in tables}
    first_runs = set(warehouse.read_partition("task_contexts", "mockshop", BATCH)["run_id"])
    assert materialize(mock_config, config_path=config_file).success
    second = {t: warehouse.partition_content_hash(t, "mockshop", BATCH) for t in tables}
    assert first == second
    contexts = warehouse.read_partition("task_contexts", "mockshop", BATCH)
    assert len(contexts) == 6  # replaced, not appended
    assert set(contexts["run_id"]) != first_runs


def test_run_config_overrides_the_context_count(mock_config, config_file):
    result = materialize(mock_config, config_path=config_file,
                         run_config={"ops": {"task_contexts": {"config": {"contexts_per_partition": 3}}}})
    assert result.success
    assert len(Warehouse(warehouse_path()).read_partition("task_contexts", "mockshop", BATCH)) == 3


def test_a_malformed_plugin_fails_the_step_with_its_problem(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("domains:\n  - name: brokenshop\n    plugin: apigen_pipeline_tests.mock_domain:malformed_plugin\n")
    config = PipelineConfig.model_validate({"domains": [{"name": "brokenshop",
                                                         "plugin": "apigen_pipeline_tests.mock_domain:malformed_plugin"}]})
    result = materialize(config, domain="brokenshop", config_path=str(path))
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures
    message = failures[0].step_failure_data.error.message
    assert "duplicate tool names: find_user" in message
    # Bad plugins will not fix themselves: no step retries were attempted.
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
