"""While `apigen run` executes: it stops cleanly on SIGINT/SIGTERM/SIGHUP and never waits silently for a slot.

Dagster's in-process execution takes SIGINT/SIGTERM over while it runs and acts on them only inside a
step's own code; a step waiting for a concurrency slot never gets there, so the run ignored both, and
inside a step Dagster ends an interrupted run FAILURE, not canceled. Blocking the two signals instead is
no way out: every process Dagster starts (its log tailers) would inherit the mask and ignore the SIGTERM
that ends it. So `apigen run` forks (before anything heavy is imported or any thread exists):

- the parent is the `apigen run` process a user sees and signals. It only relays SIGINT/SIGTERM/SIGHUP
  to the child through a pipe and exits with the child's code; its pid and start time are the ones the
  runs are tagged with, so a killed `apigen run` is recognised by the pid a user knows;
- the child, in its own process group (a terminal's Ctrl-C reaches only the parent), does the work under
  `RunGuard`. The guard's thread reads the pipe: on a relayed signal it marks this process's active run
  canceling, then interrupts the main thread with SIGUSR1, whose handler raises KeyboardInterrupt
  wherever the main thread is: in a pool wait, the wait ends; in a step's LLM calls, their asyncio tasks
  are cancelled and the requests in flight stay unanswered for the next run (every finished answer is
  already in the request log or its spool). Dagster applies a step's retry policy to an interrupt too,
  so the guard interrupts again every second while the run is still active: the retry's wait is
  interrupted in turn, and Dagster records the run canceled. Leaving the guard cancels any run still
  unfinished and frees the slots of all of them. When the pipe closes, the parent is gone
  (killed): the child kills itself the same way, leaving its run to the reaper like any killed run.

The same thread looks every few seconds whether a step of this process's run waits for a slot; if so it
reaps the holders whose process is gone and prints which runs hold the slots (again when they change,
and every minute).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from apigen_pipeline.cli.errors import report
from apigen_pipeline.processes import own_process_tags, recorded_from_tags

if TYPE_CHECKING:
    import dagster as dg

# SIGHUP too: a closed terminal cancels cleanly as well. A signal ignored when `apigen run` starts
# (`nohup`, SIGINT in a background job of a script) stays ignored.
RELAYED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
INTERRUPT_SIGNAL = signal.SIGUSR1
REPEAT_WAIT_LINE_S = 60.0
REPEAT_INTERRUPT_S = 1.0


def supervised(work: Callable[[RunGuard], int], verbose: bool) -> int:
    """`work(guard)` in a forked child whose stop requests come from this process's SIGINT/SIGTERM/SIGHUP."""
    read_end, write_end = os.pipe()
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(write_end)
        os._exit(_child(work, verbose, read_end, parent))
    os.close(read_end)

    def relay(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):  # the child has already gone
            os.write(write_end, bytes([signum]))

    previous = {signum: signal.signal(signum, relay) for signum in RELAYED_SIGNALS
                if signal.getsignal(signum) is not signal.SIG_IGN}
    try:
        _, status = os.waitpid(child, 0)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(write_end)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _child(work: Callable[[RunGuard], int], verbose: bool, stop_requests: int, parent: int) -> int:
    code = 1
    try:
        os.setpgid(0, 0)
        with RunGuard(stop_requests, process=parent) as guard:
            try:
                code = work(guard)
            except KeyboardInterrupt:
                if guard.stopped_by is None:
                    raise
                guard.stand_down()
                code = 128 + guard.stopped_by
    except KeyboardInterrupt:
        code = 130
    except Exception as error:
        code = report(error, verbose)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


class RunGuard:
    """`stop_requests`: the read end of a pipe; a byte is a signal number to stop for, end of file means
    the process that writes it is gone. `process`: the pid whose identity the runs are tagged with."""

    def __init__(self, stop_requests: int, process: int | None = None, out: TextIO | None = None,
                 err: TextIO | None = None, poll_s: float = 0.2, pool_check_s: float = 2.0):
        self.tags = own_process_tags(process)
        self.stopped_by: int | None = None       # the signal that stopped this process's runs
        self.settled: list[str] = []             # runs the guard itself had to mark canceled or failed
        self._interrupting = False               # stopping: the main thread is interrupted until it stands down
        self._last_interrupt = 0.0
        self._stop_requests = stop_requests
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._poll_s = poll_s
        self._pool_check_s = pool_check_s
        self._home: str | None = None
        self._instance_obj: dg.DagsterInstance | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch_loop, name="apigen-run-guard", daemon=True)
        self._last_wait_line: dict[str, tuple[str, float]] = {}
        self._read_error_shown = False

    # -- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> RunGuard:
        self._previous_handler = signal.signal(INTERRUPT_SIGNAL, self._interrupt_main)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        self._thread.join()
        self.stand_down()
        try:
            self.settle()
        finally:
            signal.signal(INTERRUPT_SIGNAL, self._previous_handler)
            if self._instance_obj is not None:
                self._instance_obj.dispose()

    def watch(self, dagster_home: Path) -> None:
        """From now on the process's runs are in this instance."""
        self._home = str(dagster_home)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.stopped_by).name if self.stopped_by is not None else ""

    # -- this process's runs --------------------------------------------------------------------------
    def _instance(self) -> dg.DagsterInstance | None:
        if self._instance_obj is None and self._home is not None:
            import dagster as dg

            self._instance_obj = dg.DagsterInstance.from_config(self._home)
        return self._instance_obj

    def own_runs(self, instance: dg.DagsterInstance, active_only: bool) -> list[dg.DagsterRun]:
        import dagster as dg

        from apigen_pipeline.defs.automation.dead_runs import ACTIVE_STATUSES

        statuses = list(ACTIVE_STATUSES) if active_only else None
        return list(instance.get_runs(filters=dg.RunsFilter(tags=self.tags, statuses=statuses)))

    def settle(self) -> None:
        """No run of this process stays active and none keeps a slot."""
        instance = self._instance()
        if instance is None:
            return
        from apigen_pipeline.defs.automation.dead_runs import free_slots

        runs = self.own_runs(instance, active_only=False)
        for run in runs:
            if run.is_finished:
                continue
            if self.stopped_by is not None:
                instance.report_run_canceled(run, message=f"apigen run stopped by {self.signal_name}")
            else:
                instance.report_run_failed(run, message="apigen run ended without finishing this run")
            self.settled.append(run.run_id)
        free_slots(instance, [run.run_id for run in runs])

    # -- stop requests ------------------------------------------------------------------------------
    def _interrupt_main(self, signum: int, frame: FrameType | None) -> None:
        if self._interrupting:
            raise KeyboardInterrupt

    def stand_down(self) -> None:
        """The main thread has stopped its work: no more interrupts (it settles the runs now)."""
        self._interrupting = False

    def _send_interrupt(self) -> None:
        main = threading.main_thread().ident
        if main is not None and self._interrupting:
            self._last_interrupt = time.monotonic()
            signal.pthread_kill(main, INTERRUPT_SIGNAL)

    def _stop(self, signum: int) -> None:
        self.stopped_by = signum
        print(f"apigen: {self.signal_name} received: stopping (the current run is marked canceled, its pool "
              "slots freed)", file=self._err, flush=True)
        try:
            instance = self._instance()
            if instance is not None:
                for run in self.own_runs(instance, active_only=True):
                    instance.report_run_canceling(run, message=f"apigen run received {self.signal_name}")
        except Exception as error:  # stop anyway: Dagster then records the run failed, settling frees its slots
            print(f"apigen: could not mark the run canceling ({type(error).__name__}: {error})", file=self._err,
                  flush=True)
        self._interrupting = True
        self._send_interrupt()

    def _interrupt_again(self) -> None:
        """A step's retry policy turned the interrupt into a retry: interrupt its wait, or the retry, too."""
        try:
            instance = self._instance()
            still_running = instance is None or bool(self.own_runs(instance, active_only=True))
        except Exception:  # a busy SQLite file: interrupting once more is harmless, never stopping is not
            still_running = True
        if still_running:
            self._send_interrupt()

    def _watch_loop(self) -> None:
        last_pool_check = time.monotonic()
        while not self._done.is_set():
            readable, _, _ = select.select([self._stop_requests], [], [], self._poll_s)
            if readable:
                request = os.read(self._stop_requests, 64)
                if not request:  # the parent was killed: so is its work, as it would have been unforked
                    os.kill(os.getpid(), signal.SIGKILL)
                if self.stopped_by is None:
                    self._stop(request[0])
                continue
            if self._interrupting and time.monotonic() - self._last_interrupt >= REPEAT_INTERRUPT_S:
                self._interrupt_again()
            if self.stopped_by is None and time.monotonic() - last_pool_check >= self._pool_check_s:
                last_pool_check = time.monotonic()
                self._check_pool_wait()

    # -- pool waits -----------------------------------------------------------------------------------
    def _check_pool_wait(self) -> None:
        instance = self._instance()
        if instance is None or not instance.event_log_storage.supports_global_concurrency_limits:
            return
        try:
            self.report_pool_wait(instance)
        except Exception as error:  # a busy SQLite file: the next look will do; say it once
            if not self._read_error_shown:
                self._read_error_shown = True
                print(f"apigen: could not read the pool slots ({type(error).__name__}: {error}); trying again",
                      file=self._err, flush=True)

    def report_pool_wait(self, instance: dg.DagsterInstance) -> None:
        from apigen_pipeline.defs.automation.dead_runs import reap_dead_runs

        mine = {run.run_id for run in self.own_runs(instance, active_only=True)}
        if not mine:
            return
        storage = instance.event_log_storage
        for pool in sorted(storage.get_concurrency_keys()):
            info = storage.get_concurrency_info(pool)
            waiting = sorted(step.step_key for step in info.pending_steps
                             if step.run_id in mine and step.assigned_timestamp is None)
            if not waiting:
                continue
            for dead in reap_dead_runs(instance, run_ids=sorted(info.active_run_ids)):
                print(f"apigen: run {dead.run_id} held a slot of pool {pool}, but {dead.why}: marked {dead.marked}, "
                      "its slots freed", file=self._out, flush=True)
            info = storage.get_concurrency_info(pool)
            line = wait_line(instance, pool, waiting, info)
            previous = self._last_wait_line.get(pool)
            now = time.monotonic()
            if previous is None or previous[0] != line or now - previous[1] >= REPEAT_WAIT_LINE_S:
                print(line, file=self._out, flush=True)
                self._last_wait_line[pool] = (line, now)


def wait_line(instance: dg.DagsterInstance, pool: str, waiting: list[str], info: Any) -> str:
    """`apigen: step S waits for a slot of pool P (4/4 held by: run R (status, partition, step, process); ...)`;
    `info` is the pool's `ConcurrencyKeyInfo`."""
    claimed, limit = info.claimed_slots, info.limit
    holders = "; ".join(holder_text(instance, slot.run_id, slot.step_key) for slot in claimed) or "no run"
    return (f"apigen: step {', '.join(waiting)} waits for a slot of pool {pool} "
            f"({len(claimed)}/{'no limit' if limit is None else limit} held by: {holders})")


def holder_text(instance: dg.DagsterInstance, run_id: str, step_key: str) -> str:
    from apigen_pipeline.cli.status import partition_label, source_label

    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"run {run_id} (step {step_key}, not in this instance's history)"
    tags = dict(run.tags)
    process = recorded_from_tags(tags)
    where = f", pid {process.pid} on {process.host}" if process is not None else ""
    return (f"run {run_id} ({run.status.value}, partition {partition_label(tags)}, step {step_key}, "
            f"{source_label(tags)}{where})")
