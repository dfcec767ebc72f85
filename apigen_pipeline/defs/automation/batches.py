"""Automation: the batch job, the schedule that generates the newest batch of every enabled domain, and
the sensor that backfills a range of batches.

Both the schedule and the sensor are idempotent through run keys: one run key per (domain, batch),
shared by both, so a batch is requested once whoever asks first. Dagster's daemons only deduplicate
run keys within one schedule tick or one sensor, so the evaluations also drop every run key that
already has a run in the instance; re-evaluating a tick, an hourly cron over daily batches, or a
sensor sweeping batches the schedule already made, all launch nothing new. The sensor also skips
every partition already materialized by any run (from the UI, `apigen run`, a Dagster backfill), which
carry none of these run keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from apigen_pipeline.config import BackfillRangeConfig, PipelineConfig
from apigen_pipeline.defs.shared.partitions import BATCH_DIMENSION, Partition
from apigen_pipeline.defs.shared.policies import (
    BATCH_SIZE_TAG,
    BATCH_TAG,
    DOMAIN_TAG,
    RUN_KEY_TAG,
    RUN_RETRY_TAGS,
    TRIGGER_TAG,
    llm_provider_tags,
)

BATCH_JOB_NAME = "generate_batch"
SCHEDULE_NAME = "generate_newest_batch"
BACKFILL_SENSOR_NAME = "backfill_batch_range"
RANGE_SEPARATOR = ".."
CONTEXTS_ASSET = "task_contexts"
EVALUATION_ASSET = "passk_evaluation"
CONTEXTS_COUNT_FIELD = "contexts_per_partition"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BatchRequest:
    """One planned run: every selected asset of one (domain, batch) partition."""

    domain: str
    batch: str
    trigger: str
    key: str | None = None  # a run key of its own (default: the one per partition shared by schedule and sensor)

    @property
    def run_key(self) -> str:
        return self.key or batch_run_key(self.domain, self.batch)


def batch_run_key(domain: str, batch: str) -> str:
    return f"batch:{domain}:{batch}"


def batches_between(start: str, end: str) -> list[str]:
    """Daily batch keys from start to end, both inclusive (empty when end precedes start)."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def parse_range_cursor(cursor: str | None) -> BackfillRangeConfig | None:
    """A sensor cursor set in the UI as `START..END` (or `START..`) overrides the configured range."""
    if not cursor or not cursor.strip():
        return None
    start, separator, end = cursor.strip().partition(RANGE_SEPARATOR)
    if not separator:
        raise ValueError(f"backfill cursor {cursor!r} is not START..END (e.g. 2026-11-01..2026-11-05)")
    return BackfillRangeConfig(start=start.strip(), end=end.strip() or None)


def requested_run_keys(instance: dg.DagsterInstance, run_keys: Sequence[str]) -> set[str]:
    """The run keys among `run_keys` that already have a run, whatever its status (a failed batch is
    re-run by run retries or by a person, not by automation looping on it)."""
    if not run_keys:
        return set()
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: list(run_keys)}))
    return {run.tags[RUN_KEY_TAG] for run in runs} & set(run_keys)


def not_yet_requested(instance: dg.DagsterInstance, planned: Sequence[BatchRequest]) -> list[BatchRequest]:
    taken = requested_run_keys(instance, [p.run_key for p in planned])
    return [p for p in planned if p.run_key not in taken]


def batch_assets(partitions_def: dg.PartitionsDefinition, assets: Sequence[dg.AssetsDefinition],
                 evaluate: bool) -> list[dg.AssetsDefinition]:
    """The assets a batch run materializes: all of those partitioned by domain x batch, the pass^k
    evaluation only when `evaluate` (it is opt-in: `evaluation.enabled`)."""
    return [a for a in assets if a.partitions_def == partitions_def
            and (evaluate or dg.AssetKey(EVALUATION_ASSET) not in a.keys)]


def batch_run_config(config: PipelineConfig, assets: Sequence[dg.AssetsDefinition]) -> dict:
    """Pins the batch size (contexts per partition) in the run, so the launchpad shows what a run made."""
    for asset in assets:
        if dg.AssetKey(CONTEXTS_ASSET) in asset.keys and _op_accepts(asset, CONTEXTS_COUNT_FIELD):
            count = config.sampling.contexts_per_partition
            return {"ops": {asset.op.name: {"config": {CONTEXTS_COUNT_FIELD: count}}}}
    return {}


def _op_accepts(asset: dg.AssetsDefinition, field_name: str) -> bool:
    config_field = asset.op.config_field
    fields = getattr(config_field.config_type, "fields", None) if config_field is not None else None
    return bool(fields) and field_name in fields


class BatchAutomation:
    """Builds the automation of one config; the partitions and assets come from `build_definitions`."""

    def __init__(self, config: PipelineConfig, partitions_def: dg.MultiPartitionsDefinition,
                 assets: Sequence[dg.AssetsDefinition], clock: Clock = utc_now):
        self.config = config
        self.partitions_def = partitions_def
        self.batches_def = _batch_dimension(partitions_def)
        self.assets = batch_assets(partitions_def, assets, evaluate=config.evaluation.enabled)
        if not self.assets:
            raise ValueError("no asset is partitioned by the given domain x batch partitions")
        self.run_config = batch_run_config(config, self.assets)
        self.clock = clock

    def job(self) -> dg.UnresolvedAssetJobDefinition:
        return dg.define_asset_job(
            BATCH_JOB_NAME,
            selection=dg.AssetSelection.assets(*self.assets),
            # The provider tag on the job: runs launched from its launchpad are throttled too.
            tags={**RUN_RETRY_TAGS, **llm_provider_tags(self.config.llm)},
            description="Every stage of one domain x batch partition (pass^k only with evaluation.enabled).",
        )

    def newest_batch(self, at: datetime) -> str | None:
        with dg.partition_loading_context(effective_dt=at):
            return self.batches_def.get_last_partition_key()

    def run_request(self, planned: BatchRequest) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=planned.run_key,
            partition_key=Partition(planned.domain, planned.batch).key(),
            run_config=self.run_config,
            tags={
                TRIGGER_TAG: planned.trigger,
                DOMAIN_TAG: planned.domain,
                BATCH_TAG: planned.batch,
                BATCH_SIZE_TAG: str(self.config.sampling.contexts_per_partition),
                **llm_provider_tags(self.config.llm),
            },
        )

    # -- schedule ------------------------------------------------------------------------------
    def schedule_requests(self, instance: dg.DagsterInstance, at: datetime) -> list[dg.RunRequest] | dg.SkipReason:
        batch = self.newest_batch(at)
        if batch is None:
            return dg.SkipReason(f"no batch exists yet at {at.isoformat()} "
                                 f"(batches start {self.config.batch_start_date})")
        planned = [BatchRequest(domain, batch, SCHEDULE_NAME) for domain in self.config.domain_names]
        fresh = not_yet_requested(instance, planned)
        if not fresh:
            return dg.SkipReason(f"batch {batch} was already requested for every domain")
        return [self.run_request(p) for p in fresh]

    def schedule(self, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
        automation = self

        @dg.schedule(
            name=SCHEDULE_NAME,
            cron_schedule=self.config.automation.batch_cron,
            execution_timezone=self.batches_def.timezone,
            job=job,
            default_status=(dg.DefaultScheduleStatus.RUNNING if self.config.automation.schedule_running
                            else dg.DefaultScheduleStatus.STOPPED),
            description="Generates the newest batch of every enabled domain "
                        f"({self.config.sampling.contexts_per_partition} contexts per partition).",
        )
        def generate_newest_batch(context: dg.ScheduleEvaluationContext):
            return automation.schedule_requests(context.instance, context.scheduled_execution_time)

        return generate_newest_batch

    # -- backfill sensor -----------------------------------------------------------------------
    def backfill_batches(self, requested: BackfillRangeConfig) -> list[str]:
        """The range's batches that exist as partitions: clipped to the first and newest batch."""
        newest = self.newest_batch(self.clock())
        if newest is None:
            return []
        start = max(requested.start, self.config.batch_start_date)
        end = min(requested.end or newest, newest)
        return batches_between(start, end) if start <= end else []

    def materialized_partitions(self, instance: dg.DagsterInstance) -> set[str]:
        """Partitions (string keys) of which every batch asset is materialized, by whatever run made them:
        a UI launch, `apigen run` or a backfill carry no run key of ours."""
        keys = [key for asset in self.assets for key in asset.keys]
        done = [set(instance.get_materialized_partitions(key)) for key in keys]
        return set.intersection(*done) if done else set()

    def sensor_requests(self, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult | dg.SkipReason:
        try:
            requested = parse_range_cursor(cursor) or self.config.automation.backfill
        except ValueError as error:
            return dg.SkipReason(str(error))
        if requested is None:
            return dg.SkipReason("no range to backfill: set automation.backfill in the config, or this "
                                 f"sensor's cursor to START{RANGE_SEPARATOR}END")
        batches = self.backfill_batches(requested)
        label = f"{requested.start}{RANGE_SEPARATOR}{requested.end or 'newest'}"
        if not batches:
            return dg.SkipReason(f"range {label} holds no existing batch")
        materialized = self.materialized_partitions(instance)
        planned = [BatchRequest(domain, batch, BACKFILL_SENSOR_NAME)
                   for batch in batches for domain in self.config.domain_names
                   if str(Partition(domain, batch).key()) not in materialized]
        fresh = not_yet_requested(instance, planned)
        if not fresh:
            return dg.SkipReason(f"every batch of {label} was already requested or materialized")
        # A bounded number per tick: the next tick continues, since launched keys are skipped.
        chunk = fresh[: self.config.automation.backfill_runs_per_tick]
        return dg.SensorResult(run_requests=[self.run_request(p) for p in chunk])

    def sensor(self, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
        automation = self

        @dg.sensor(
            name=BACKFILL_SENSOR_NAME,
            job=job,
            minimum_interval_seconds=self.config.automation.backfill_interval_seconds,
            default_status=dg.DefaultSensorStatus.STOPPED,
            description="Backfills every domain for a range of batches: automation.backfill in the config, "
                        f"or this sensor's cursor set to START{RANGE_SEPARATOR}END. Batches already materialized "
                        "(by any run: UI, CLI, backfill) or already requested by this automation are skipped.",
        )
        def backfill_batch_range(context: dg.SensorEvaluationContext):
            return automation.sensor_requests(context.instance, context.cursor)

        return backfill_batch_range



def _batch_dimension(partitions_def: dg.MultiPartitionsDefinition) -> dg.TimeWindowPartitionsDefinition:
    dimension = partitions_def.get_partitions_def_for_dimension(BATCH_DIMENSION)
    if not isinstance(dimension, dg.TimeWindowPartitionsDefinition):
        raise TypeError(f"the {BATCH_DIMENSION} dimension must be a time window, got {type(dimension).__name__}")
    return dimension
