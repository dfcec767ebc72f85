"""The automation area: the batch job, the newest-batch schedule, the backfill sensor and the dead-run reaper."""

from collections.abc import Sequence

import dagster as dg

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.defs.automation.batches import BatchAutomation, Clock, utc_now
from apigen_pipeline.defs.automation.dead_runs import reap_dead_runs_sensor


def automation_definitions(config: PipelineConfig, partitions_def: dg.MultiPartitionsDefinition,
                           assets: Sequence[dg.AssetsDefinition], clock: Clock = utc_now) -> dg.Definitions:
    """The job, schedule and sensors for `build_definitions` to merge with its assets."""
    return dg.Definitions.merge(BatchAutomation(config, partitions_def, assets, clock).definitions(),
                                dg.Definitions(sensors=[reap_dead_runs_sensor]))
