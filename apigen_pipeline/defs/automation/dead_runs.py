"""Dead runs: runs the instance still shows as started although their process is gone (SIGKILL, OOM, a
reboot). Left alone they stay STARTED forever and keep their `llm_api` slots, and every later step of
the pool waits behind them. Reaping marks such a run failed (canceled if it was being canceled) and
frees its concurrency slots through the instance; it also frees the slots finished runs left behind.

Which process ran a run: the pid, host and start time `apigen run` tags its in-process runs with, or,
for runs Dagster's default launcher started on this machine, the pid of the run's first engine event.
Runs on another host are never judged here: Dagster's run monitoring (dagster.yaml `run_monitoring`)
watches the workers of the ECS and Kubernetes launchers. `apigen run` reaps before it starts and while
one of its steps waits for a slot; the `reap_dead_runs` sensor does it every minute under the daemon.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import dagster as dg

from apigen_pipeline.processes import (
    Liveness,
    ObservedProcess,
    RecordedProcess,
    Verdict,
    judge,
    observe,
    recorded_from_tags,
    this_host,
)

REAPER_SENSOR_NAME = "reap_dead_runs"
REAPER_INTERVAL_S = 60
ACTIVE_STATUSES = (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)
FINISHED_STATUSES = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)

Observer = Callable[[int], ObservedProcess]


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    status: str   # as found, before reaping
    why: str

    @property
    def marked(self) -> str:
        """What reaping makes of it: a run that was being canceled ends canceled, any other failed."""
        return "canceled" if self.status == dg.DagsterRunStatus.CANCELING.value else "failed"


def run_process(instance: dg.DagsterInstance, run: dg.DagsterRun, host: str) -> RecordedProcess | None:
    """The process that runs `run`, when this machine can know it: the tags of `apigen run`, else the pid
    of the run's first engine event when Dagster's default launcher starts runs here."""
    recorded = recorded_from_tags(dict(run.tags))
    if recorded is not None or not isinstance(instance.run_launcher, dg.DefaultRunLauncher):
        return recorded
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=20).records
    for record in records:
        event = record.event_log_entry.dagster_event
        metadata = getattr(getattr(event, "engine_event_data", None), "metadata", None) or {}
        pid = getattr(metadata.get("pid"), "value", None)
        if isinstance(pid, str) and pid.isdigit():
            return RecordedProcess(pid=int(pid), host=host, seen_at=record.timestamp)
    return None


def run_verdict(instance: dg.DagsterInstance, run: dg.DagsterRun, host: str | None = None,
                observer: Observer = observe) -> Verdict | None:
    """Whether the process of an active run is alive, gone, or not checkable; None when none is known."""
    host = host or this_host()
    recorded = run_process(instance, run, host)
    if recorded is None:
        return None
    return judge(recorded, host, observer(recorded.pid) if recorded.host == host else ObservedProcess(exists=True))


def find_dead_runs(instance: dg.DagsterInstance, run_ids: Sequence[str] | None = None, host: str | None = None,
                   observer: Observer = observe) -> list[DeadRun]:
    if run_ids is not None and not run_ids:
        return []
    filters = dg.RunsFilter(statuses=list(ACTIVE_STATUSES), run_ids=list(run_ids) if run_ids is not None else None)
    dead = []
    for record in instance.get_run_records(filters=filters):
        verdict = run_verdict(instance, record.dagster_run, host, observer)
        if verdict is not None and verdict.liveness is Liveness.GONE:
            dead.append(DeadRun(record.dagster_run.run_id, record.dagster_run.status.value, verdict.why))
    return dead


def reap_dead_runs(instance: dg.DagsterInstance, run_ids: Sequence[str] | None = None, host: str | None = None,
                   observer: Observer = observe) -> list[DeadRun]:
    """Mark every dead run failed (or canceled, if it was being canceled) and free its slots; then free the
    slots finished runs still hold. Returns the runs it marked."""
    reaped = []
    for dead in find_dead_runs(instance, run_ids, host, observer):
        run = instance.get_run_by_id(dead.run_id)   # again: another reaper may have been first
        if run is not None and not run.is_finished:
            message = f"Marked by apigen's dead-run reaper: {dead.why}; its concurrency slots are freed."
            if dead.marked == "canceled":
                instance.report_run_canceled(run, message=message)
            else:
                instance.report_run_failed(run, message=message)
            reaped.append(dead)
        free_slots(instance, [dead.run_id])
    free_slots(instance, finished_slot_holders(instance))
    return reaped


def free_slots(instance: dg.DagsterInstance, run_ids: Iterable[str]) -> None:
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in run_ids:
            storage.free_concurrency_slots_for_run(run_id)


def finished_slot_holders(instance: dg.DagsterInstance) -> list[str]:
    """Runs that hold or wait for a concurrency slot although they have finished."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    run_ids = set(storage.get_concurrency_run_ids())
    for key in storage.get_concurrency_keys():
        run_ids |= storage.get_concurrency_info(key).active_run_ids
    if not run_ids:
        return []
    finished = dg.RunsFilter(run_ids=sorted(run_ids), statuses=list(FINISHED_STATUSES))
    return [record.dagster_run.run_id for record in instance.get_run_records(filters=finished)]


@dg.sensor(name=REAPER_SENSOR_NAME, minimum_interval_seconds=REAPER_INTERVAL_S,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Marks runs failed whose process on this machine is gone (killed, OOM, reboot) and "
                       "frees their concurrency slots, so the llm_api pool never waits behind a dead run.")
def reap_dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    reaped = reap_dead_runs(context.instance)
    for dead in reaped:
        context.log.warning(f"run {dead.run_id} ({dead.status}) marked: {dead.why}")
    return dg.SkipReason(f"reaped {len(reaped)} dead run(s)" if reaped else "no dead run")
