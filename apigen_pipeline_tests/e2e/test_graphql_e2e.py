"""The whole graph materialized for one partition through the GraphQL API the UI uses."""

import pytest

from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.e2e.conftest import CONTEXTS_PER_PARTITION, DOMAIN, partition
from apigen_pipeline_tests.support.dagster_server import DagsterDevServer

pytestmark = pytest.mark.slow

BATCH = "2026-11-20"


def test_materializing_every_asset_of_one_partition_succeeds_and_reports_metadata(pipeline_server: DagsterDevServer, fast_run_config: dict):
    assets = pipeline_server.asset_keys()
    assert {"environment_api_specs", "task_contexts"} <= set(assets)
    key = partition(BATCH)

    run_id = pipeline_server.launch_run({"domain": DOMAIN, "batch": BATCH}, tags={"apigen/e2e": "graphql"},
                                        run_config=fast_run_config)
    run = pipeline_server.wait_for_run(run_id, timeout_s=300)

    assert run.status == "SUCCESS", pipeline_server.log_tail()
    assert run.steps_failed == 0
    for asset in assets:
        materialization = pipeline_server.latest_materialization(asset, key)
        assert materialization is not None, f"{asset} was not materialized"
        assert materialization["run_id"] == run_id
        assert materialization["partition"] == key
    contexts = pipeline_server.latest_materialization("task_contexts", key)["metadata"]
    assert contexts["dagster/row_count"] == CONTEXTS_PER_PARTITION
    assert "write tool" in contexts["write_tools_sampled"]
    rows = Warehouse(pipeline_server.apigen_home / "warehouse.duckdb").read_partition("task_contexts", DOMAIN, BATCH)
    assert len(rows) == CONTEXTS_PER_PARTITION
    assert set(rows["run_id"]) == {run_id}
