"""The dead-run reaper on a real instance: runs whose process is gone (or whose pid was recycled) are
marked failed and their pool slots freed; live runs, runs on other hosts and untagged runs are left
alone; finished runs lose the slots they still hold; the sensor does the same under the daemon."""

from __future__ import annotations

import os

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.test_utils import create_run_for_test

from apigen_pipeline.defs.automation.dead_runs import (
    REAPER_SENSOR_NAME,
    find_dead_runs,
    reap_dead_runs,
    reap_dead_runs_sensor,
)
from apigen_pipeline.processes import HOST_TAG, PID_TAG, PROCESS_STARTED_TAG, own_process_tags, this_host
from apigen_pipeline_tests.support.processes import dead_pid

POOL = "llm_api"


@pytest.fixture()
def instance(instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """The emptied shared instance (conftest), with the pool's slots the reaper frees."""
    instance.event_log_storage.set_concurrency_slots(POOL, 4)
    return instance


def started_run(instance: dg.DagsterInstance, tags: dict[str, str], step: str | None = "blueprints",
                status: dg.DagsterRunStatus = dg.DagsterRunStatus.STARTED) -> dg.DagsterRun:
    run = create_run_for_test(instance, status=status, tags=tags)
    if step is not None:
        assert instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, step).is_claimed
    return run


def holders(instance: dg.DagsterInstance) -> set[str]:
    return instance.event_log_storage.get_concurrency_info(POOL).active_run_ids


def status_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dg.DagsterRunStatus:
    reloaded = instance.get_run_by_id(run.run_id)
    assert reloaded is not None
    return reloaded.status


def test_dead_runs_are_marked_failed_and_free_their_slots_and_nothing_else_is_touched(instance):
    host = this_host()
    dead = started_run(instance, {PID_TAG: str(dead_pid()), HOST_TAG: host})
    own = own_process_tags()
    recycled = started_run(instance, {**own, PROCESS_STARTED_TAG: f"{float(own.get(PROCESS_STARTED_TAG, 0)) - 30:.2f}"},
                           step="trajectories")
    alive = started_run(instance, own, step="passk_evaluation")
    elsewhere = started_run(instance, {PID_TAG: str(dead_pid()), HOST_TAG: "another-host"}, step="committee")
    untagged = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED)
    expected_dead = {dead.run_id} | ({recycled.run_id} if PROCESS_STARTED_TAG in own else set())

    reaped = reap_dead_runs(instance)

    assert {run.run_id for run in reaped} == expected_dead
    assert all(run.status == "STARTED" and run.marked == "failed" and "is gone" in run.why for run in reaped)
    for run_id in expected_dead:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        failure = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        assert len(failure) == 1 and "dead-run reaper" in failure[0].event_log_entry.dagster_event.message
    assert holders(instance) == {alive.run_id, elsewhere.run_id} | ({recycled.run_id} - expected_dead)
    for run in (alive, elsewhere, untagged):
        assert status_of(instance, run) == dg.DagsterRunStatus.STARTED
    assert reap_dead_runs(instance) == []  # done once: a second pass (another reaper) marks nothing again


def test_a_dead_run_being_canceled_ends_canceled(instance):
    run = started_run(instance, {PID_TAG: str(dead_pid()), HOST_TAG: this_host()},
                      status=dg.DagsterRunStatus.CANCELING)
    assert [(dead.status, dead.marked) for dead in reap_dead_runs(instance)] == [("CANCELING", "canceled")]
    assert status_of(instance, run) == dg.DagsterRunStatus.CANCELED and holders(instance) == set()


def test_finished_runs_lose_the_slots_they_still_hold(instance):
    finished = started_run(instance, {}, status=dg.DagsterRunStatus.FAILURE)
    alive = started_run(instance, own_process_tags(), step="trajectories")
    assert reap_dead_runs(instance) == [] and holders(instance) == {alive.run_id}
    assert status_of(instance, finished) == dg.DagsterRunStatus.FAILURE


def test_reaping_can_be_limited_to_some_runs(instance):
    first = started_run(instance, {PID_TAG: str(dead_pid()), HOST_TAG: this_host()})
    second = started_run(instance, {PID_TAG: str(dead_pid()), HOST_TAG: this_host()}, step="committee")
    assert [run.run_id for run in find_dead_runs(instance, run_ids=[second.run_id])] == [second.run_id]
    assert find_dead_runs(instance, run_ids=[]) == []
    assert [run.run_id for run in reap_dead_runs(instance, run_ids=[first.run_id])] == [first.run_id]
    assert status_of(instance, second) == dg.DagsterRunStatus.STARTED and holders(instance) == {second.run_id}


def test_the_sensor_reaps_under_the_daemon(instance):
    run = started_run(instance, {PID_TAG: str(dead_pid()), HOST_TAG: this_host()})
    assert reap_dead_runs_sensor.name == REAPER_SENSOR_NAME
    assert reap_dead_runs_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    result = reap_dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.SkipReason) and result.skip_message == "reaped 1 dead run(s)"
    assert status_of(instance, run) == dg.DagsterRunStatus.FAILURE and holders(instance) == set()
    again = reap_dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert again.skip_message == "no dead run"


def test_a_run_launched_on_this_machine_is_judged_by_its_first_engine_event(instance):
    """Runs Dagster's default launcher starts carry no apigen tag: the pid of their worker's first engine event."""
    run = started_run(instance, {})
    instance.report_engine_event("Started process for run", run, EngineEventData.in_process(dead_pid()))
    alive = started_run(instance, {}, step="committee")
    instance.report_engine_event("Started process for run", alive, EngineEventData.in_process(os.getpid()))
    assert isinstance(instance.run_launcher, dg.DefaultRunLauncher)
    assert [dead.run_id for dead in reap_dead_runs(instance)] == [run.run_id]
    assert holders(instance) == {alive.run_id}
