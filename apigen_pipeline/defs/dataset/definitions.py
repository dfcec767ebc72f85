"""The dataset area: the exported training data, pass^k on the generated tasks, and the funnel report."""

import dagster as dg

from apigen_pipeline.defs.dataset.assets import (
    build_generation_report_asset,
    build_passk_evaluation,
    build_training_dataset,
)
from apigen_pipeline.defs.dataset.checks import build_dataset_checks


def dataset_definitions(partitions_def: dg.PartitionsDefinition) -> dg.Definitions:
    return dg.Definitions(assets=[build_training_dataset(partitions_def), build_passk_evaluation(partitions_def),
                                  build_generation_report_asset(partitions_def)],
                          asset_checks=build_dataset_checks(partitions_def))
