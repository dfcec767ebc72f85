"""`apigen status`: what the pipeline is doing, read-only.

- recent runs: the latest run of each partition among the last `--runs` runs, with its status;
- stuck runs: started runs whose process is gone (a pid recorded on this machine that no longer
  exists, or now belongs to a later process) or that have not logged an event for `--stale-minutes`;
- the `llm_api` pool: slots held (by which run and step) against the limit, steps waiting;
- spend today (UTC): the request log plus rows still waiting in this machine's spools.

It reads the Dagster instance and the warehouse and changes neither: it never starts, cancels or
fails a run, never frees a slot.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apigen_pipeline.cli.errors import CliError
from apigen_pipeline.cli.reading import read_only_connection, warehouse_exists
from apigen_pipeline.cli.run import SOURCE_TAG
from apigen_pipeline.cli.tables import dollars, render
from apigen_pipeline.paths import apigen_home, spool_dir
from apigen_pipeline.processes import Liveness, ObservedProcess, observe

if TYPE_CHECKING:
    import dagster as dg

ACTIVE_STATUSES = ("STARTING", "STARTED", "CANCELING")
PARTITION_TAG = "dagster/partition"
DIMENSION_TAGS = ("dagster/partition/domain", "dagster/partition/batch")
TRIGGER_TAGS = (("dagster/backfill", "backfill"), ("dagster/schedule_name", "schedule"),
                ("dagster/sensor_name", "sensor"))


@dataclass(frozen=True)
class RunRow:
    partition: str
    status: str
    run_id: str
    started: datetime | None
    ended: datetime | None
    source: str
    tags: dict[str, str]


@dataclass(frozen=True)
class StuckRun:
    run: RunRow
    why: str


def command(args: argparse.Namespace) -> int:
    home = apigen_home()
    now = datetime.now(UTC)
    print_runs_and_pool(args, now)
    print(spend_line(home, now))
    return 0


# -- runs ---------------------------------------------------------------------------------------

def dagster_home_or_none() -> Path | None:
    """DAGSTER_HOME as `apigen run` would use it, without creating it."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]).resolve()
    path = apigen_home() / "dagster_home"
    return path if path.is_dir() else None


def print_runs_and_pool(args: argparse.Namespace, now: datetime) -> None:
    home = dagster_home_or_none()
    if home is None or not ((home / "dagster.yaml").is_file() or (home / "storage").is_dir()):
        print(f"no Dagster history under {home or apigen_home() / 'dagster_home'} yet: `apigen run` starts one")
        return
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        rows = [run_row(record) for record in instance.get_run_records(limit=args.runs)]
        print(f"dagster home: {home}")
        print_recent_runs(rows, args.runs)
        stuck = find_stuck_runs(instance, rows, now, timedelta(minutes=args.stale_minutes))
        print_stuck_runs(stuck, args.stale_minutes)
        print(pool_line(instance))


def run_row(record: Any) -> RunRow:
    run = record.dagster_run
    tags = dict(run.tags)
    return RunRow(partition=partition_label(tags), status=run.status.value, run_id=run.run_id,
                  started=_utc(record.start_time), ended=_utc(record.end_time), source=source_label(tags), tags=tags)


def partition_label(tags: dict[str, str]) -> str:
    domain, batch = (tags.get(tag) for tag in DIMENSION_TAGS)
    if domain and batch:
        return f"{domain}|{batch}"
    return tags.get(PARTITION_TAG, "-")


def source_label(tags: dict[str, str]) -> str:
    if SOURCE_TAG in tags:
        return tags[SOURCE_TAG]
    return next((label for tag, label in TRIGGER_TAGS if tag in tags), "launched")


def _utc(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def latest_per_partition(rows: Iterable[RunRow]) -> list[tuple[RunRow, int]]:
    """The newest run of each partition (rows come newest first) and how many runs it had."""
    latest: dict[str, RunRow] = {}
    counts: dict[str, int] = {}
    for row in rows:
        latest.setdefault(row.partition, row)
        counts[row.partition] = counts.get(row.partition, 0) + 1
    return [(row, counts[partition]) for partition, row in sorted(latest.items())]


def print_recent_runs(rows: Sequence[RunRow], window: int) -> None:
    if not rows:
        print("runs: none yet")
        return
    table = [(row.partition, row.status, row.run_id[:8], _clock(row.started), _duration(row), row.source, count)
             for row, count in latest_per_partition(rows)]
    print(f"latest run per partition (of the last {len(rows)} runs; --runs {window}):")
    print(render(["partition", "status", "run", "started (UTC)", "took", "source", "runs"], table))


def _clock(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _duration(row: RunRow) -> str:
    if row.started is None:
        return "-"
    seconds = int(((row.ended or datetime.now(UTC)) - row.started).total_seconds())
    text = f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    return text if row.ended else text + "+"


# -- stuck runs ---------------------------------------------------------------------------------

def last_event_time(instance: dg.DagsterInstance, run_id: str) -> datetime | None:
    records = instance.get_records_for_run(run_id, limit=1, ascending=False).records
    return _utc(records[0].timestamp) if records else None


def find_stuck_runs(instance: dg.DagsterInstance, rows: Sequence[RunRow], now: datetime, stale: timedelta,
                    observer: Callable[[int], ObservedProcess] = observe) -> list[StuckRun]:
    from apigen_pipeline.defs.automation.dead_runs import run_verdict

    stuck = []
    for row in rows:
        if row.status not in ACTIVE_STATUSES:
            continue
        run = instance.get_run_by_id(row.run_id)
        verdict = run_verdict(instance, run, observer=observer) if run is not None else None
        if verdict is not None and verdict.liveness is Liveness.GONE:
            stuck.append(StuckRun(row, verdict.why))
            continue
        last = last_event_time(instance, row.run_id)
        if last is not None and now - last > stale:
            minutes = int((now - last).total_seconds() // 60)
            stuck.append(StuckRun(row, f"no event for {minutes} min (last at {_clock(last)})"))
    return stuck


def print_stuck_runs(stuck: Sequence[StuckRun], stale_minutes: int) -> None:
    if not stuck:
        print(f"stuck runs: none (started runs all have a live process and an event in the last {stale_minutes} min)")
        return
    print(f"stuck runs: {len(stuck)} (started, but their process is gone or silent for {stale_minutes}+ min):")
    print(render(["run", "partition", "status", "started (UTC)", "why"],
                 [(s.run.run_id, s.run.partition, s.run.status, _clock(s.run.started), s.why) for s in stuck]))


# -- pool ---------------------------------------------------------------------------------------

def pool_line(instance: dg.DagsterInstance) -> str:
    from apigen_pipeline.defs.shared.policies import LLM_API_POOL

    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return f"pool {LLM_API_POOL}: this instance's storage does not support pools"
    info = storage.get_concurrency_info(LLM_API_POOL)
    limit = "no limit" if info.limit is None else str(info.limit)
    holders = ", ".join(f"{slot.run_id[:8]}/{slot.step_key}" for slot in info.claimed_slots) or "none"
    return (f"pool {LLM_API_POOL}: {len(info.claimed_slots)}/{limit} slots held (by {holders}); "
            f"{info.pending_step_count} steps waiting")


# -- spend --------------------------------------------------------------------------------------

def spooled_requests(home: Path) -> list[dict[str, Any]]:
    """Rows finished but not yet ingested into the request log (this machine's spools)."""
    from apigen_pipeline.llm.request_log import SPOOL_SUFFIX, read_spool

    folder = spool_dir(home)
    if not folder.is_dir():
        return []
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.glob(f"*{SPOOL_SUFFIX}")):
        try:
            rows.extend(read_spool(path))
        except FileNotFoundError:
            continue  # ingested and deleted while we looked
    return rows


def spend_since(con: Any, since: datetime, spooled: list[dict[str, Any]]) -> tuple[int, int, float, float]:
    import pandas as pd

    from apigen_pipeline.warehouse.sql_files import load_sql

    columns = ["entry_id", "status", "cost_usd", "projected_cost_usd", "created_at"]
    frame = pd.DataFrame([{name: row.get(name) for name in columns} for row in spooled], columns=columns)
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True).dt.tz_localize(None)
    frame[["cost_usd", "projected_cost_usd"]] = frame[["cost_usd", "projected_cost_usd"]].astype("float64")
    naive = since.astimezone(UTC).replace(tzinfo=None)
    con.register("spooled_requests", frame)
    try:
        requests, in_spool, cost, projected = con.execute(load_sql("ops/spend_since"), [naive, naive]).fetchone()
    finally:
        con.unregister("spooled_requests")
    return int(requests), int(in_spool), float(cost), float(projected)


def spend_line(home: Path, now: datetime) -> str:
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    label = f"spend today ({midnight:%Y-%m-%d} UTC)"
    if not warehouse_exists(home):
        return f"{label}: no warehouse yet"
    try:
        with read_only_connection(home) as con:
            requests, in_spool, cost, projected = spend_since(con, midnight, spooled_requests(home))
    except CliError as error:
        return f"{label}: not read ({error})"
    spooled = f", {in_spool} of them not yet ingested" if in_spool else ""
    return (f"{label}: {dollars(cost)} over {requests} requests sent{spooled} "
            f"(projected on the configured models: {dollars(projected)})")
