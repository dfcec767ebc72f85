"""The automation area: the batch job, the newest-batch schedule and the backfill sensor."""

from collections.abc import Sequence

import dagster as dg

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.defs.automation.batches import BatchAutomation, Clock, utc_now


def automation_definitions(config: PipelineConfig, partitions_def: dg.MultiPartitionsDefinition,
                           assets: Sequence[dg.AssetsDefinition], clock: Clock = utc_now) -> dg.Definitions:
    """The job, schedule and sensor for `build_definitions` to merge with its assets."""
    return BatchAutomation(config, partitions_def, assets, clock).definitions()
