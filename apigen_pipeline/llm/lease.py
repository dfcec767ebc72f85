"""One holder at a time for a partition's LLM work: a lease per (domain, batch, asset) in the warehouse.

Two runs of the same partition at once (the CLI and the UI, a backfill over a batch someone re-runs by
hand) would each send every request, because an answer only becomes a cache hit for another process
once it is ingested. The step that does a partition's LLM work therefore holds this lease for as long
as its gateway lives: a second run of the same partition and asset waits, and starts once the first
has flushed its request log and released the lease, so it replays every answer from the log and sends
nothing the first one sent.

Why a partition lease and not a claim per request key:
- Requests are made in hundreds of small batches per step (one per Phase 2 turn); a claim per key
  would cost a warehouse write before every batch and make the waiting run poll for every key, and the
  answers it waits for would only be visible after the holder's next ingestion (a forced flush per
  batch). One lease is one write when the step starts, a heartbeat every `ttl_s / 4` and one at the end.
- Two runs of one partition make the same requests in the same order (every seed derives from
  domain, batch and item index), so the second run has nothing of its own to send while the first is
  busy: waiting costs it no throughput. Different partitions never share the lease, so the
  provider parallelism across partitions (the `llm_api` pool) is untouched.
- The second run then writes the partition from the replayed answers: rows equal a single run's.

The warehouse has no unique constraints (DuckLake), so exclusivity comes from the protocol: read the
scope's claims; if another live holder has it, wait; otherwise delete the stale claims and insert our
own in one transaction, then read again in a new one. We hold the lease only if that read shows no other
live claim; if it shows one (two claimed at the same moment) we withdraw ours and try again after a
random pause. Two holders at once would need each to miss the other's committed claim, which snapshot
isolation rules out. Claims carry an expiry renewed by a heartbeat: a crashed holder's claim expires
after `ttl_s`, sooner when it ran on this machine and its process is gone (`processes.judge`: a recycled
pid with another start time counts as gone). Clocks of the machines
sharing a warehouse must agree to well within `ttl_s` (NTP does).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType

import duckdb

from apigen_pipeline.processes import Liveness, RecordedProcess, judge, observe, process_started_at
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline.warehouse.sql_files import load_sql

logger = logging.getLogger(__name__)

DEFAULT_TTL_S = 60.0
_WAIT_LOG_EVERY_S = 30.0


class LeaseTimeoutError(TimeoutError):
    """The lease stayed held by another live holder for longer than the caller would wait."""


def lease_scope(domain: str, batch: str, asset: str) -> str:
    return f"{domain}|{batch}|{asset}"


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _machine() -> str:
    """Where a holder runs: host name and PID namespace (containers on one host have their own)."""
    return f"{socket.gethostname()}:{_pid_namespace()}"


def new_holder_id() -> str:
    """`<machine>/<pid>@<process start>/<token>`: the start time tells this pid's process from a later one."""
    pid = os.getpid()
    started = process_started_at(pid)
    return f"{_machine()}/{pid if started is None else f'{pid}@{started:.2f}'}/{uuid.uuid4().hex[:12]}"


def recorded_holder(holder: str) -> RecordedProcess | None:
    """The process a holder id names (None for an id in no known shape)."""
    machine, _, process = holder.rpartition("/")[0].rpartition("/")
    pid, _, started = process.partition("@")
    if not pid.isdigit():
        return None
    try:
        started_at = float(started) if started else None
    except ValueError:
        return None
    return RecordedProcess(pid=int(pid), host=machine, started_at=started_at)


def holder_process_is_gone(holder: str) -> bool:
    """True only when the holder ran on this machine and its process no longer runs: no such pid, a
    zombie, or another process under the recycled pid (`processes.judge`)."""
    recorded = recorded_holder(holder)
    if recorded is None:
        return False
    return judge(recorded, _machine(), observe(recorded.pid)).liveness is Liveness.GONE


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored as TIMESTAMP (UTC, no zone)


class PartitionLease:
    """`with PartitionLease(warehouse, scope):` waits for the scope, holds it (heartbeat), releases it."""

    def __init__(self, warehouse: Warehouse, scope: str, *, run_id: str | None = None, ttl_s: float = DEFAULT_TTL_S,
                 poll_s: float | None = None, holder: str | None = None,
                 is_gone: Callable[[str], bool] = holder_process_is_gone):
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.warehouse = warehouse
        self.scope = scope
        self.run_id = run_id
        self.ttl_s = ttl_s
        self.poll_s = poll_s if poll_s is not None else min(1.0, ttl_s / 4)
        self.holder = holder or new_holder_id()
        self._is_gone = is_gone
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.lost = False     # the heartbeat found the claim gone: someone took the scope over
        self.waited_s = 0.0   # how long acquiring waited for another holder

    # -- lifecycle ------------------------------------------------------------------------------
    def acquire(self, timeout_s: float | None = None) -> None:
        self.warehouse.migrate()
        started = time.monotonic()
        last_logged = -_WAIT_LOG_EVERY_S
        while True:
            others = self._live_others()
            if not others:
                self._claim()
                if not self._live_others():
                    break
                # Claimed at the same moment as another holder: both step back and try again.
                self._execute("llm/lease_release", [self.scope, self.holder])
            waited = time.monotonic() - started
            if timeout_s is not None and waited > timeout_s:
                raise LeaseTimeoutError(f"LLM lease on {self.scope} still held after {waited:.1f} s by "
                                        + ("; ".join(others) or "a holder that claimed it at the same moment"))
            if others and waited - last_logged >= _WAIT_LOG_EVERY_S:
                last_logged = waited
                logger.info("waiting for the LLM lease on %s, held by %s", self.scope, "; ".join(others))
            time.sleep(self.poll_s * (0.5 + random.random()))
        self.waited_s = time.monotonic() - started
        if self.waited_s > self.poll_s:
            logger.info("acquired the LLM lease on %s after waiting %.1f s", self.scope, self.waited_s)
        self._stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name=f"llm-lease {self.scope}", daemon=True)
        self._heartbeat.start()

    def release(self) -> None:
        if self._heartbeat is None:
            return
        self._stop.set()
        self._heartbeat.join()
        self._heartbeat = None
        self._execute("llm/lease_release", [self.scope, self.holder])

    def __enter__(self) -> PartitionLease:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    # -- internals ------------------------------------------------------------------------------
    def _holders(self) -> list[tuple[str, str | None, datetime]]:
        with self.warehouse.connect() as con:
            return con.execute(load_sql("llm/lease_holders"), [self.scope]).fetchall()

    def _live_others(self) -> list[str]:
        now = _utc_now()
        return [f"{holder} (run {run_id}) until {expires:%H:%M:%S} UTC"
                for holder, run_id, expires in self._holders()
                if holder != self.holder and expires > now and not self._is_gone(holder)]

    def _claim(self) -> None:
        """Clear the stale claims and insert ours, in one transaction."""
        now = _utc_now()
        gone = [holder for holder, _, _ in self._holders() if holder != self.holder and self._is_gone(holder)]

        def claim(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(load_sql("llm/lease_clear_stale"), [self.scope, now, gone])
            con.execute(load_sql("llm/lease_release"), [self.scope, self.holder])
            con.execute(load_sql("llm/lease_claim"),
                        [self.scope, self.holder, self.run_id, now, now + timedelta(seconds=self.ttl_s)])

        self.warehouse.write_transaction(claim)

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            try:
                renewed = self._execute("llm/lease_renew",
                                        [_utc_now() + timedelta(seconds=self.ttl_s), self.scope, self.holder])
            except Exception:  # a busy warehouse: the next beat tries again, well before expiry
                logger.warning("LLM lease heartbeat on %s failed; retrying", self.scope, exc_info=True)
                continue
            if renewed == 0 and not self.lost:
                self.lost = True
                logger.error("the LLM lease on %s expired and was taken over (a pause longer than %.0f s?): "
                             "another run may now send this partition's requests too", self.scope, self.ttl_s)

    def _execute(self, name: str, params: Sequence[object]) -> int:
        def run(con: duckdb.DuckDBPyConnection) -> int:
            row = con.execute(load_sql(name), list(params)).fetchone()
            return int(row[0]) if row else 0

        return self.warehouse.write_transaction(run)
