"""Checks of the exported dataset: every written file is read back and every row re-validated, so a
row a trainer would reject never passes silently; and the funnel report is checked for consistency."""

import dagster as dg
from dagster_aws.s3 import S3Resource

from apigen_pipeline.dataset.report import funnel_problems
from apigen_pipeline.dataset.revalidate import revalidate_export
from apigen_pipeline.defs.dataset.assets import export_target
from apigen_pipeline.defs.shared.metadata import problems_check_result
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.defs.shared.resources import PipelineConfigResource, WarehouseResource


def build_dataset_checks(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset="training_dataset", blocking=True, partitions_def=partitions_def,
                    description="Reads the partition's exported files back (JSONL and Parquet, both formats, lineage, "
                                "card) and re-validates every row: formats agree, no empty conversation, every "
                                "row has a human turn, a function call and ends with an agent reply.")
    def exported_rows_revalidate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                                 pipeline_config: PipelineConfigResource, s3: S3Resource) -> dg.AssetCheckResult:
        partition = Partition.of(context)
        target, _ = export_target(pipeline_config.load().export.target, warehouse.get(), s3)
        problems = revalidate_export(target, partition.domain, partition.batch)
        return problems_check_result(problems, 1, "exports")

    @dg.asset_check(asset="generation_report", partitions_def=partitions_def,
                    description="The funnel as written: every stage present, no stage with more items than the "
                                "stage they are drawn from, and as many contexts as the partition's task_contexts.")
    def funnel_is_consistent(context: dg.AssetCheckExecutionContext,
                             warehouse: WarehouseResource) -> dg.AssetCheckResult:
        partition = Partition.of(context)
        store = warehouse.get()
        report = store.read_partition("generation_report", partition.domain, partition.batch)
        counts = {str(stage): int(count) for stage, count in zip(report["stage"], report["count"], strict=True)}
        problems = funnel_problems(counts)
        contexts = len(store.read_partition("task_contexts", partition.domain, partition.batch))
        if counts.get("contexts", contexts) != contexts:
            problems.append(f"the report counts {counts['contexts']} contexts, task_contexts holds {contexts}")
        return problems_check_result(problems, len(counts), "stages")

    return [exported_rows_revalidate, funnel_is_consistent]
