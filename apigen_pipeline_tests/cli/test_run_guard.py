"""`apigen run`'s guard on a tiny job with one step in pool `llm_api` (limit 1), on a real instance: a
step waiting for the slot prints who holds it and reaps a dead holder; a relayed SIGTERM ends the run
canceled, with no slot held, whether it arrives during the wait or during the step.

The test plays the `apigen run` parent: it writes the signal's number into the guard's pipe, as the
parent's handler does (`test_cli_e2e` sends real signals to real `apigen run` processes)."""

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from apigen_pipeline.cli.run_guard import RunGuard
from apigen_pipeline.paths import apigen_home, ensure_dagster_home
from apigen_pipeline.processes import HOST_TAG, PID_TAG, PROCESS_STARTED_TAG, process_started_at
from apigen_pipeline_tests.support.processes import dead_pid, wait_until

POOL = "llm_api"


# As on the pipeline's LLM steps: Dagster applies the retry policy to an interrupted step too.
@dg.op(pool=POOL, config_schema={"seconds": float}, retry_policy=dg.RetryPolicy(max_retries=3, delay=0.5))
def call_the_llm(context: dg.OpExecutionContext) -> None:
    asyncio.run(asyncio.sleep(context.op_config["seconds"]))  # as the LLM gateway waits on its requests


@dg.job
def one_llm_step() -> None:
    call_the_llm()


@dataclass
class Guarded:
    guard: RunGuard
    run: dg.DagsterRun
    out: str
    seconds: float


@pytest.fixture()
def home(monkeypatch) -> Iterator[Path]:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    path = ensure_dagster_home(apigen_home())
    with dg.DagsterInstance.from_config(str(path)) as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
    yield path


def run_guarded(home: Path, step_seconds: float, meanwhile: Callable[[int, dg.DagsterInstance, io.StringIO], None]
                ) -> Guarded:
    """The job under a guard, as `apigen run` executes its runs; `meanwhile` acts from another thread."""
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    stop_requests, parent_end = os.pipe()
    try:
        with RunGuard(stop_requests, out=out, err=err, pool_check_s=0.2) as guard, \
                dg.DagsterInstance.from_config(str(home)) as instance:
            guard.watch(home)
            helper = threading.Thread(target=meanwhile, args=(parent_end, instance, out))
            helper.start()
            try:
                job_run_id = one_llm_step.execute_in_process(
                    instance=instance, tags=guard.tags, raise_on_error=False,
                    run_config={"ops": {"call_the_llm": {"config": {"seconds": step_seconds}}}}).run_id
            except KeyboardInterrupt:
                job_run_id = None
            helper.join()
    finally:  # only now: an end of file would tell the guard that its parent is gone
        os.close(parent_end)
        os.close(stop_requests)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags=guard.tags))
        assert len(runs) == 1 and job_run_id in (None, runs[0].run_id)
        return Guarded(guard, runs[0], out.getvalue(), time.monotonic() - started)


def relay(parent_end: int, signum: int) -> None:
    """What the `apigen run` parent does on a signal."""
    os.write(parent_end, bytes([signum]))


def slots(home: Path) -> tuple[set[str], set[str]]:
    """(runs holding a slot, runs waiting for one)."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(POOL)
        return info.active_run_ids, info.pending_run_ids


def holder_run(home: Path, pid: int, status: dg.DagsterRunStatus = dg.DagsterRunStatus.STARTED) -> dg.DagsterRun:
    """A run of another `apigen run` process, holding the pool's only slot."""
    tags = {PID_TAG: str(pid), HOST_TAG: socket.gethostname(), "dagster/partition/domain": "retail",
            "dagster/partition/batch": "2026-11-20", "apigen/source": "cli"}
    if (started := process_started_at(pid)) is not None:
        tags[PROCESS_STARTED_TAG] = f"{started:.2f}"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = create_run_for_test(instance, status=status, tags=tags)
        assert instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, "blueprints").is_claimed
    return run


def test_sigterm_during_a_step_cancels_the_run_and_frees_its_slot(home):
    def meanwhile(parent_end: int, instance: dg.DagsterInstance, out: io.StringIO) -> None:
        wait_until(lambda: bool(slots(home)[0]))
        relay(parent_end, signal.SIGTERM)

    guarded = run_guarded(home, step_seconds=120, meanwhile=meanwhile)
    assert guarded.guard.stopped_by == signal.SIGTERM and guarded.seconds < 60
    assert guarded.run.status == dg.DagsterRunStatus.CANCELED
    assert slots(home) == (set(), set())


def test_a_step_waiting_for_a_slot_prints_the_holders_and_sigterm_ends_the_wait(home):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        holder = holder_run(home, other.pid)

        def meanwhile(parent_end: int, instance: dg.DagsterInstance, out: io.StringIO) -> None:
            wait_until(lambda: "waits for a slot" in out.getvalue())
            relay(parent_end, signal.SIGTERM)

        guarded = run_guarded(home, step_seconds=0, meanwhile=meanwhile)
    finally:
        other.kill()
        other.wait()
    wait_lines = [line for line in guarded.out.splitlines() if "waits for a slot" in line]
    assert wait_lines[0] == (f"apigen: step call_the_llm waits for a slot of pool {POOL} (1/1 held by: run "
                             f"{holder.run_id} (STARTED, partition retail|2026-11-20, step blueprints, cli, "
                             f"pid {other.pid} on {socket.gethostname()}))")
    assert guarded.guard.stopped_by == signal.SIGTERM
    assert guarded.run.status == dg.DagsterRunStatus.CANCELED
    assert slots(home) == ({holder.run_id}, set())   # the live holder keeps its slot


def test_a_step_waiting_behind_a_dead_holder_reaps_it_and_runs(home):
    dead = dead_pid()
    holder = holder_run(home, dead)

    guarded = run_guarded(home, step_seconds=0, meanwhile=lambda parent_end, instance, out: None)
    assert guarded.run.status == dg.DagsterRunStatus.SUCCESS and guarded.guard.stopped_by is None
    assert (f"apigen: run {holder.run_id} held a slot of pool {POOL}, but its process {dead} on "
            f"{socket.gethostname()} is gone: marked failed, its slots freed") in guarded.out
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(holder.run_id).status == dg.DagsterRunStatus.FAILURE
    assert slots(home) == (set(), set())
