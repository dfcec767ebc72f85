"""training_dataset's lineage sidecar names each row's blueprint: its kind, voted score and rounds."""

import json

import dagster as dg
import pandas as pd

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.paths import exports_dir, warehouse_path
from apigen_pipeline.warehouse import Warehouse

BATCH = "2026-11-24"
UP_TO_THE_DATASET = ["environment_api_specs", "task_contexts", "blueprints", "committee_votes",
                     "recombined_blueprints", "trajectories", "training_dataset"]


def test_every_lineage_row_carries_its_blueprints_kind_score_and_rounds(mock_config):
    config = PipelineConfig.model_validate({**mock_config.model_dump(mode="json"),
                                            "sampling": {"contexts_per_partition": 8},
                                            "evaluation": {"enabled": False}})
    job = build_definitions(config=config).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key=Partition("mockshop", BATCH).key(), instance=instance,
                                        asset_selection=[dg.AssetKey(k) for k in UP_TO_THE_DATASET],
                                        raise_on_error=False)
    assert result.success
    warehouse = Warehouse(warehouse_path())
    lineage_file = exports_dir(warehouse.path.parent) / "lineage" / "mockshop" / f"{BATCH}.jsonl"
    lineage = [json.loads(line) for line in lineage_file.read_text().splitlines()]
    assert lineage
    blueprints = warehouse.read_partition("blueprints", "mockshop", BATCH).set_index("blueprint_id")
    for row in lineage:
        stored = blueprints.loc[row["blueprint_id"]]
        assert row["blueprint_kind"] == stored["kind"] and row["blueprint_kind"] in ("simple", "recombined")
        assert row["blueprint_voted_score"] == int(stored["voted_score"])
        assert row["blueprint_rounds_used"] == int(stored["rounds_used"])
    parquet = pd.read_parquet(lineage_file.with_suffix(".parquet"))
    assert parquet[["blueprint_kind", "blueprint_voted_score", "blueprint_rounds_used"]].notna().all().all()
