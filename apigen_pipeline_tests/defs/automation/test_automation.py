"""The batch schedule and the backfill sensor: which runs a tick requests, and that ticking again
requests nothing already launched (run keys checked against a real instance)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import dagster as dg
import pytest

from apigen_pipeline.config import EvaluationConfig, PipelineConfig
from apigen_pipeline.definitions import build_asset_graph
from apigen_pipeline.defs.automation.batches import (
    BACKFILL_SENSOR_NAME,
    BATCH_JOB_NAME,
    SCHEDULE_NAME,
    batch_run_key,
    batches_between,
    parse_range_cursor,
)
from apigen_pipeline.defs.automation.definitions import automation_definitions
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.defs.shared.policies import (
    BATCH_SIZE_TAG,
    LLM_PROVIDER_TAG,
    RUN_KEY_TAG,
    RUN_RETRY_TAGS,
    TRIGGER_TAG,
)
from apigen_pipeline.paths import warehouse_path
from apigen_pipeline.warehouse import Warehouse

MOCK_PLUGIN = "apigen_pipeline_tests.mock_domain:plugin"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def two_domain_config(**automation: object) -> PipelineConfig:
    return PipelineConfig.model_validate({
        "domains": [{"name": "mockshop", "plugin": MOCK_PLUGIN}, {"name": "minishop", "plugin": MOCK_PLUGIN}],
        "sampling": {"contexts_per_partition": 4},
        "automation": automation,
    })


def full_definitions(config: PipelineConfig, now: datetime = NOW) -> dg.Definitions:
    pipeline = build_asset_graph(config)
    assets = list(pipeline.assets or [])
    return dg.Definitions.merge(
        pipeline, automation_definitions(config, assets[0].partitions_def, assets, clock=lambda: now))


def tick_schedule(defs: dg.Definitions, instance: dg.DagsterInstance, at: datetime) -> dg.ScheduleExecutionData:
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=at,
                                        repository_def=defs.get_repository_def())
    return schedule.evaluate_tick(context)


def tick_sensor(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None = None):
    sensor = defs.resolve_sensor_def(BACKFILL_SENSOR_NAME)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
    return sensor.evaluate_tick(context)


def launch_as_daemon(instance: dg.DagsterInstance, requests) -> None:
    """Record each request as a run the way the daemons do: the run key becomes the run's tag."""
    for request in requests:
        instance.add_run(dg.DagsterRun(job_name=BATCH_JOB_NAME, run_id=str(uuid.uuid4()),
                                       status=dg.DagsterRunStatus.NOT_STARTED,
                                       tags={**request.tags, RUN_KEY_TAG: request.run_key}))


def requested_partitions(requests) -> list[tuple[str, str]]:
    keys = [request.partition_key.keys_by_dimension for request in requests]
    return [(key["domain"], key["batch"]) for key in keys]


def test_a_tick_requests_the_newest_batch_of_every_enabled_domain(instance):
    config = two_domain_config()
    defs = full_definitions(config)
    data = tick_schedule(defs, instance, datetime(2026, 11, 20, 0, 0, tzinfo=UTC))
    requests = data.run_requests or []
    assert sorted(requested_partitions(requests)) == [("minishop", "2026-11-20"), ("mockshop", "2026-11-20")]
    assert {r.run_key for r in requests} == {"batch:minishop:2026-11-20", "batch:mockshop:2026-11-20"}
    for request in requests:
        assert request.run_config == {"ops": {"task_contexts": {"config": {"contexts_per_partition": 4}}}}
        assert request.tags[BATCH_SIZE_TAG] == "4"
        assert request.tags[TRIGGER_TAG] == SCHEDULE_NAME
        assert request.tags[LLM_PROVIDER_TAG] == "simulated"  # the key of dagster.yaml's run throttle


def test_ticking_twice_requests_no_batch_twice(instance):
    defs = full_definitions(two_domain_config())
    at = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    first = tick_schedule(defs, instance, at)
    assert len(first.run_requests or []) == 2
    launch_as_daemon(instance, first.run_requests)
    again = tick_schedule(defs, instance, at)
    assert not again.run_requests
    assert "already requested" in (again.skip_message or "")
    # An hourly-style tick later the same day maps to the same batch: still nothing new.
    later = tick_schedule(defs, instance, datetime(2026, 11, 20, 13, 0, tzinfo=UTC))
    assert not later.run_requests
    next_day = tick_schedule(defs, instance, datetime(2026, 11, 21, 0, 0, tzinfo=UTC))
    assert sorted(requested_partitions(next_day.run_requests)) == [("minishop", "2026-11-21"),
                                                                   ("mockshop", "2026-11-21")]
    assert len(instance.get_runs()) == 2


def test_only_the_domains_without_a_run_are_requested_again(instance):
    defs = full_definitions(two_domain_config())
    at = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    first = tick_schedule(defs, instance, at)
    launch_as_daemon(instance, [r for r in first.run_requests if "mockshop" in r.run_key])
    again = tick_schedule(defs, instance, at)
    assert requested_partitions(again.run_requests) == [("minishop", "2026-11-20")]


def test_a_tick_before_the_first_batch_is_skipped(instance):
    defs = full_definitions(two_domain_config())
    data = tick_schedule(defs, instance, datetime(2025, 6, 1, tzinfo=UTC))
    assert not data.run_requests
    assert "no batch exists yet" in data.skip_message


def test_a_scheduled_request_materializes_its_partition_with_the_configured_batch_size(instance):
    config = two_domain_config()
    defs = full_definitions(config)
    request = next(r for r in tick_schedule(defs, instance, datetime(2026, 11, 20, tzinfo=UTC)).run_requests
                   if "mockshop" in r.run_key)
    result = defs.resolve_job_def(BATCH_JOB_NAME).execute_in_process(
        instance=instance, partition_key=request.partition_key, run_config=request.run_config,
        tags=request.tags)
    assert result.success
    assert len(Warehouse(warehouse_path()).read_partition("task_contexts", "mockshop", "2026-11-20")) == 4


def test_the_schedule_follows_the_configured_cadence_and_starts_stopped_by_default():
    daily = full_definitions(two_domain_config()).resolve_schedule_def(SCHEDULE_NAME)
    assert daily.cron_schedule == "0 0 * * *"
    assert daily.execution_timezone == "UTC"
    assert daily.default_status == dg.DefaultScheduleStatus.STOPPED
    custom = full_definitions(two_domain_config(batch_cron="30 6 * * 1", schedule_running=True))
    weekly = custom.resolve_schedule_def(SCHEDULE_NAME)
    assert weekly.cron_schedule == "30 6 * * 1"
    assert weekly.default_status == dg.DefaultScheduleStatus.RUNNING


def test_the_batch_job_selects_every_partitioned_asset_and_carries_run_retry_tags():
    config = two_domain_config().model_copy(update={"evaluation": EvaluationConfig(enabled=True)})
    pipeline = build_asset_graph(config)
    assets = list(pipeline.assets or [])

    @dg.asset
    def unpartitioned_report() -> None:
        return None

    defs = dg.Definitions.merge(
        dg.Definitions(assets=[*assets, unpartitioned_report], resources=pipeline.resources),
        automation_definitions(config, assets[0].partitions_def, [*assets, unpartitioned_report]))
    job = defs.resolve_job_def(BATCH_JOB_NAME)
    selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert selected == {key.to_user_string() for a in assets for key in a.keys}
    assert "unpartitioned_report" not in selected
    for key, value in RUN_RETRY_TAGS.items():
        assert job.tags[key] == value
    assert job.tags[LLM_PROVIDER_TAG] == "simulated"  # launches of this job from the UI are throttled too


def test_pass_k_is_opt_in_the_batch_job_leaves_it_out_unless_evaluation_is_enabled():
    default = two_domain_config()
    assert default.evaluation.enabled is False
    for enabled in (False, True):
        config = default.model_copy(update={"evaluation": EvaluationConfig(enabled=enabled)})
        job = full_definitions(config).resolve_job_def(BATCH_JOB_NAME)
        selected = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
        assert ("passk_evaluation" in selected) is enabled
        assert {"trajectories", "training_dataset", "generation_report"} <= selected


def test_automation_needs_an_asset_in_the_batch_partitions():
    config = two_domain_config()
    assets = list(build_asset_graph(config).assets or [])
    other = dg.MultiPartitionsDefinition({"domain": dg.StaticPartitionsDefinition(["x"]),
                                          "batch": dg.DailyPartitionsDefinition(start_date="2020-01-01")})
    with pytest.raises(ValueError, match="no asset is partitioned"):
        automation_definitions(config, other, assets)


# -- backfill sensor ----------------------------------------------------------------------------

def test_the_sensor_sweeps_a_configured_range_in_bounded_chunks_without_repeats(instance):
    config = two_domain_config(backfill={"start": "2026-11-01", "end": "2026-11-03"}, backfill_runs_per_tick=4)
    defs = full_definitions(config)
    first = tick_sensor(defs, instance)
    assert requested_partitions(first.run_requests) == [
        ("minishop", "2026-11-01"), ("mockshop", "2026-11-01"),
        ("minishop", "2026-11-02"), ("mockshop", "2026-11-02")]
    launch_as_daemon(instance, first.run_requests)
    second = tick_sensor(defs, instance)
    assert requested_partitions(second.run_requests) == [("minishop", "2026-11-03"), ("mockshop", "2026-11-03")]
    assert all(r.tags[TRIGGER_TAG] == BACKFILL_SENSOR_NAME for r in second.run_requests)
    launch_as_daemon(instance, second.run_requests)
    third = tick_sensor(defs, instance)
    assert not third.run_requests
    assert "already requested" in third.skip_message
    assert len(instance.get_runs()) == 6


def test_batches_the_schedule_already_requested_are_not_backfilled(instance):
    defs = full_definitions(two_domain_config(backfill={"start": "2026-11-19", "end": "2026-11-20"}))
    launch_as_daemon(instance, tick_schedule(defs, instance, datetime(2026, 11, 20, tzinfo=UTC)).run_requests)
    backfill = tick_sensor(defs, instance)
    assert requested_partitions(backfill.run_requests) == [("minishop", "2026-11-19"), ("mockshop", "2026-11-19")]


def test_the_sensor_skips_batches_materialized_by_any_run(instance):
    """A batch materialized from the UI carries no run key of the automation: the instance's
    materializations decide, and a partially materialized batch is still requested."""
    config = two_domain_config(backfill={"start": "2026-11-19", "end": "2026-11-20"})
    defs = full_definitions(config)
    keys = [key for asset in build_asset_graph(config).assets or [] for key in asset.keys]
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=key, partition=str(Partition("mockshop", "2026-11-19").key())))
    for key in keys[:1]:  # only the first stage of another batch: not done
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=key, partition=str(Partition("minishop", "2026-11-19").key())))
    backfill = tick_sensor(defs, instance)
    assert requested_partitions(backfill.run_requests) == [
        ("minishop", "2026-11-19"), ("minishop", "2026-11-20"), ("mockshop", "2026-11-20")]


def test_the_cursor_overrides_the_configured_range_and_the_range_is_clipped_to_existing_batches(instance):
    config = two_domain_config(backfill={"start": "2026-11-01", "end": "2026-11-01"})
    defs = full_definitions(config, now=datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    from_cursor = tick_sensor(defs, instance, cursor="2026-11-23..2026-12-31")
    open_ended = tick_sensor(defs, instance, cursor="2026-11-24..")
    before_start = tick_sensor(defs, instance, cursor="2026-10-30..2026-11-01")
    # The newest batch at 2026-11-24 09:00 is 2026-11-24 (today's batch exists: end_offset=1).
    assert sorted({batch for _, batch in requested_partitions(from_cursor.run_requests)}) == ["2026-11-23",
                                                                                               "2026-11-24"]
    assert {batch for _, batch in requested_partitions(open_ended.run_requests)} == {"2026-11-24"}
    assert {batch for _, batch in requested_partitions(before_start.run_requests)} == {"2026-11-01"}


def test_the_sensor_explains_why_it_does_nothing(instance):
    defs = full_definitions(two_domain_config())
    unset = tick_sensor(defs, instance)
    malformed = tick_sensor(defs, instance, cursor="2026-11-01")
    future = tick_sensor(defs, instance, cursor="2027-01-01..2027-01-05")
    assert not unset.run_requests and "no range to backfill" in unset.skip_message
    assert not malformed.run_requests and "START..END" in malformed.skip_message
    assert not future.run_requests and "holds no existing batch" in future.skip_message


def test_the_sensor_is_stopped_by_default_and_ticks_at_the_configured_interval():
    sensor = full_definitions(two_domain_config(backfill_interval_seconds=120)).resolve_sensor_def(
        BACKFILL_SENSOR_NAME)
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.minimum_interval_seconds == 120


# -- pure helpers -------------------------------------------------------------------------------

def test_batches_between_is_inclusive_and_crosses_month_ends():
    assert batches_between("2026-02-27", "2026-03-01") == ["2026-02-27", "2026-02-28", "2026-03-01"]
    assert batches_between("2026-03-02", "2026-03-01") == []


def test_range_cursor_parsing():
    assert parse_range_cursor(None) is None
    assert parse_range_cursor("  ") is None
    parsed = parse_range_cursor("2026-11-01..2026-11-05")
    assert (parsed.start, parsed.end) == ("2026-11-01", "2026-11-05")
    assert parse_range_cursor("2026-11-01..").end is None
    with pytest.raises(ValueError):
        parse_range_cursor("2026-11-05..2026-11-01")


def test_run_keys_name_the_domain_and_the_batch():
    assert batch_run_key("retail", "2026-11-20") == "batch:retail:2026-11-20"
    assert Partition("retail", "2026-11-20").key().keys_by_dimension == {"domain": "retail", "batch": "2026-11-20"}


def test_automation_is_not_part_of_the_config_fingerprint():
    assert two_domain_config().fingerprint() == two_domain_config(batch_cron="0 * * * *").fingerprint()
    assert two_domain_config().fingerprint() != PipelineConfig.model_validate(
        {"domains": [{"name": "mockshop", "plugin": MOCK_PLUGIN}]}).fingerprint()
