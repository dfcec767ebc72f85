"""An environment written for another harness (`foreign_shop`: plain-dict tools that mutate in place and
return `Error:` strings, a transfer tool, a fixed data set, no generator, no read/write tags) through the
whole graph on the simulated backend: with the simulated backend's hooks it yields verified data and task
files; without them the run stops at the first LLM step with one classified line naming the hooks."""

import json

import dagster as dg

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.dataset.task_files import load_blueprints, task_file_paths
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.paths import exports_dir, warehouse_path
from apigen_pipeline.phase1.validation.execution import replay
from apigen_pipeline.warehouse import Warehouse

BATCH = "2026-11-23"
DOMAIN = "foreignshop"
PLUGIN = "apigen_pipeline_tests.foreign_shop.plugin"


def run_graph(plugin_attribute: str) -> dg.ExecuteInProcessResult:
    config = PipelineConfig.model_validate({
        "domains": [{"name": DOMAIN, "plugin": f"{PLUGIN}:{plugin_attribute}"}],
        "sampling": {"contexts_per_partition": 4, "max_write_tools": 2},
        "evaluation": {"k": 2, "max_tasks": 2}})
    job = build_definitions(config=config).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        return job.execute_in_process(partition_key=Partition(DOMAIN, BATCH).key(), instance=instance,
                                      raise_on_error=False)


def test_the_foreign_plugin_goes_through_the_whole_graph_with_its_hooks():
    result = run_graph("plugin")
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["accepted_blueprints_reexecute"] and checks["kept_trajectories_replay"]
    assert checks["exported_rows_revalidate"]
    warehouse = Warehouse(warehouse_path())
    tools = warehouse.read_partition("environment_tools", DOMAIN, BATCH)
    assert dict(zip(tools["tool_name"], tools["kind"], strict=True))["cancel_pending_order"] == "write"  # inferred
    blueprints = warehouse.read_partition("blueprints", DOMAIN, BATCH)
    kept = warehouse.read_partition("trajectories", DOMAIN, BATCH)
    assert len(blueprints) >= 1 and len(kept) >= 1

    root = exports_dir(warehouse.path.parent)
    tasks_path, module_path, lineage_path = (root / p for p in task_file_paths(DOMAIN, BATCH))
    assert module_path.is_file()
    tasks = load_blueprints(tasks_path.read_bytes(), str(tasks_path))
    lineage = json.loads(lineage_path.read_text())
    # Task files hold the blueprints dedup kept: a (near) duplicate is left out, as from the dataset export.
    unique = blueprints[blueprints["duplicate_of"].isna()]
    assert [row["blueprint_id"] for row in lineage] == sorted(unique["blueprint_id"])
    assert len(tasks) == len(lineage)
    environment = load_environment(f"{PLUGIN}:plugin")
    for task, row in zip(tasks, lineage, strict=True):
        assert replay(task.actions, environment).state_hash == row["state_hash"]


def test_without_the_hooks_the_run_stops_at_the_first_llm_step_naming_them():
    result = run_graph("plugin_without_hooks")
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["phase1_blueprints"]
    failure = failures[0].step_failure_data.user_failure_data
    assert failure.description.count("\n") == 0
    assert failure.description.startswith(f"domain '{DOMAIN}': environment '{DOMAIN}' lacks the plugin hooks the "
                                          "simulated backend needs: propose_actions (generator); ToolSpec.utterance")
    assert failure.metadata["error_kind"].value == "missing_simulated_hooks"
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == {"environment_api_specs", "task_contexts"}  # the stages that need no LLM ran
