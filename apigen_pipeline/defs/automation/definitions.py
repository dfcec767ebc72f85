"""The automation area: the batch job, the newest-batch schedule, the backfill sensor, the dead-run reaper and
the sensor that relaunches partitions whose provider batches ended."""

from collections.abc import Sequence

import dagster as dg

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.defs.automation.batches import BatchAutomation, Clock, utc_now
from apigen_pipeline.defs.automation.dead_runs import reap_dead_runs_sensor
from apigen_pipeline.defs.automation.provider_batches import ended_batches_sensor


def automation_definitions(config: PipelineConfig, partitions_def: dg.MultiPartitionsDefinition,
                           assets: Sequence[dg.AssetsDefinition], clock: Clock = utc_now) -> dg.Definitions:
    """The job, schedule and sensors for `build_definitions` to merge with its assets."""
    automation = BatchAutomation(config, partitions_def, assets, clock)
    job = automation.job()
    return dg.Definitions(jobs=[job], schedules=[automation.schedule(job)],
                          sensors=[automation.sensor(job), ended_batches_sensor(automation, job), reap_dead_runs_sensor])
