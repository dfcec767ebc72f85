"""The training_dataset check reads the written files back: it passes on a real export and fails, naming
the row, as soon as a written row would be rejected by a trainer's loader."""

import json

import dagster as dg

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.automation.batches import BATCH_JOB_NAME
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.paths import exports_dir, warehouse_path

BATCH = "2026-11-24"
UP_TO_THE_DATASET = ["environment_api_specs", "task_contexts", "blueprints", "committee_votes",
                     "recombined_blueprints", "trajectories", "training_dataset"]
CHECK = dg.AssetCheckKey(dg.AssetKey("training_dataset"), "exported_rows_revalidate")


def _check_passed(result: dg.ExecuteInProcessResult) -> bool:
    evaluations = [e.event_specific_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == CHECK.name]
    assert len(evaluations) == 1
    return evaluations[0].passed


def test_the_export_check_passes_on_a_real_export_and_fails_on_an_empty_conversation(mock_config):
    config = PipelineConfig.model_validate({**mock_config.model_dump(mode="json"),
                                            "evaluation": {"enabled": False}})
    # A job of the check alone: re-materializing the asset would rewrite the tampered file.
    definitions = dg.Definitions.merge(build_definitions(config=config), dg.Definitions(
        jobs=[dg.define_asset_job("export_check_only", selection=dg.AssetSelection.checks(CHECK))]))
    job = definitions.resolve_job_def(BATCH_JOB_NAME)
    key = Partition("mockshop", BATCH).key()
    with dg.instance_for_test() as instance:
        first = job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False,
                                       asset_selection=[dg.AssetKey(k) for k in UP_TO_THE_DATASET])
        assert first.success and _check_passed(first)

        sharegpt = exports_dir(warehouse_path().parent) / "apigen_mt" / "mockshop" / f"{BATCH}.jsonl"
        rows = [json.loads(line) for line in sharegpt.read_text().splitlines()]
        assert rows, "the mock domain must export at least one row for this test to mean anything"
        rows[0]["conversations"] = []
        sharegpt.write_text("".join(json.dumps(row) + "\n" for row in rows))

        # A checks-only job has no partitions definition of its own: the partition travels as run tags.
        again = definitions.resolve_job_def("export_check_only").execute_in_process(
            instance=instance, raise_on_error=False,
            tags={"dagster/partition": str(key), **{f"dagster/partition/{dimension}": value
                                                    for dimension, value in key.keys_by_dimension.items()}})
        assert not _check_passed(again)
