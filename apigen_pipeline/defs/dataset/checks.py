"""Checks of the exported dataset: every written file is read back and every row re-validated, so a
row a trainer would reject never passes silently."""

import dagster as dg
from dagster_aws.s3 import S3Resource

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

    return [exported_rows_revalidate]
