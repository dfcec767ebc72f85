"""`apigen run`: check every input, then materialize the asset graph for one batch of each domain
through Dagster (the job the UI launches, recorded in the same instance), then print the funnel of
exactly the partitions just run."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apigen_pipeline.cli.errors import RUN_FAILED, one_line
from apigen_pipeline.cli.preflight import RunPlan, check_executor, open_warehouse, plan_run
from apigen_pipeline.cli.run_guard import RunGuard, supervised
from apigen_pipeline.cli.tables import dollars
from apigen_pipeline.paths import apigen_home, ensure_dagster_home, exports_dir, warehouse_path

SOURCE_TAG = "apigen/source"


@dataclass(frozen=True)
class PartitionRun:
    domain: str
    batch: str
    run_id: str
    status: str                                  # the run's Dagster status when it ended
    failed_steps: tuple[tuple[str, str], ...]   # (step key, first line of its error)

    @property
    def success(self) -> bool:
        return self.status == "SUCCESS"


def command(args: argparse.Namespace) -> int:
    """SIGINT/SIGTERM/SIGHUP stop it cleanly at any point (exit code 128 + the signal's number): see run_guard."""
    return supervised(lambda guard: guarded_command(args, guard), args.verbose)


def guarded_command(args: argparse.Namespace, guard: RunGuard) -> int:
    try:
        code = run_and_report(args, guard)
    except KeyboardInterrupt:
        if guard.stopped_by is None:
            raise
        code = 128 + guard.stopped_by
    if guard.stopped_by is None:
        return code
    guard.stand_down()
    guard.settle()
    for run_id in guard.settled:
        print(f"run {run_id}: CANCELED")
    print(f"apigen: stopped by {guard.signal_name}: no run of this process is left started and none holds a "
          "pool slot; `apigen run` again resumes from the request log", file=sys.stderr)
    return code


def run_and_report(args: argparse.Namespace, guard: RunGuard) -> int:
    home = apigen_home()
    os.environ["APIGEN_HOME"] = str(home)
    plan, storage = plan_run(args.domains, args.batch, args.config)
    open_warehouse(home, storage)
    check_executor(os.environ)
    dagster_home = ensure_dagster_home(home)
    runs = execute(plan, args, guard, dagster_home)
    for run in runs:
        print(f"run {run.run_id} partition {run.domain}|{run.batch}: {run.status}")
        for step, message in run.failed_steps:
            print(f"  {step}: {message}", file=sys.stderr)
    if guard.stopped_by is not None:
        return 128 + guard.stopped_by
    print_summary(home, runs, plan.config.export.target)
    print(f"warehouse:    {warehouse_path(home) if not storage.is_lake else storage.describe()}")
    print(f"dagster home: {dagster_home} (open the UI with: DAGSTER_HOME={dagster_home} dagster dev -w workspace.yaml)")
    if any(not run.success for run in runs) and not args.verbose:
        print("apigen: a run failed: `apigen failures` and `apigen status` tell more; --verbose shows Dagster's log",
              file=sys.stderr)
    return RUN_FAILED if any(not run.success for run in runs) else 0


def execute(plan: RunPlan, args: argparse.Namespace, guard: RunGuard, dagster_home: Path) -> list[PartitionRun]:
    import dagster as dg

    from apigen_pipeline.definitions import build_definitions
    from apigen_pipeline.defs.automation.batches import BATCH_JOB_NAME
    from apigen_pipeline.defs.automation.dead_runs import reap_dead_runs
    from apigen_pipeline.defs.shared.partitions import Partition
    from apigen_pipeline.defs.shared.policies import llm_provider_tags

    definitions = build_definitions(config=plan.config, config_path=args.config)
    # The schedule's job: every stage of a batch, pass^k only when the config enables it.
    job = definitions.resolve_job_def(BATCH_JOB_NAME)
    # Dagster's console log repeats each step failure with its stack trace: only with --verbose.
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "DEBUG" if args.verbose else "CRITICAL"}}}}
    if args.contexts is not None:
        run_config["ops"] = {"task_contexts": {"config": {"contexts_per_partition": args.contexts}}}
    if args.retry_failed:
        run_config["resources"] = {"llm": {"config": {"retry_failed": True}}}
    # Which process runs it (pid, host, start time): a run whose process is gone is recognised and reaped.
    # The provider tag is what the run throttle in dagster.yaml keys on.
    tags = {SOURCE_TAG: "cli", **guard.tags, **llm_provider_tags(plan.config.llm)}
    runs = []
    with dg.DagsterInstance.get() as instance:
        for dead in reap_dead_runs(instance):
            print(f"apigen: run {dead.run_id} was {dead.status} but {dead.why}: marked {dead.marked}, its pool slots "
                  "freed")
        # Only now: the instance's SQLite files exist (two connections creating one at once stamp its schema
        # twice), and the guard's thread may open its own.
        guard.watch(dagster_home)
        for domain in plan.domains:
            if guard.stopped_by is not None:
                break
            result = job.execute_in_process(partition_key=Partition(domain, plan.batch).key(), instance=instance,
                                            run_config=run_config, raise_on_error=False, tags=tags)
            failed = tuple((event.step_key or "run", root_cause(event.step_failure_data.error))
                           for event in result.all_events
                           if event.is_step_failure and event.step_failure_data and event.step_failure_data.error)
            ended = instance.get_run_by_id(result.run_id)
            status = ended.status.value if ended is not None else ("SUCCESS" if result.success else "FAILURE")
            runs.append(PartitionRun(domain, plan.batch, result.run_id, status, failed))
    return runs


def root_cause(error: Any) -> str:
    """The first line of the innermost cause: Dagster wraps the asset's own exception in "Error occurred
    while executing op ..."."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return first_line(error.message)


def first_line(message: str) -> str:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return one_line(lines[0]) if lines else "(no message)"


def print_summary(home: Path, runs: list[PartitionRun], export_target: str | None) -> None:
    """The funnel of the partitions these runs materialized, read-only; a partition whose run stopped
    before its report says so instead of showing an older run's funnel."""
    from apigen_pipeline.cli.reading import read_only_connection
    from apigen_pipeline.warehouse.sql_files import load_sql

    run_ids = [run.run_id for run in runs]
    with read_only_connection(home) as con:
        rows = con.execute(load_sql("report/funnel_summary"), [run_ids]).fetchall()
    reported = {(domain, batch): row for domain, batch, *row in rows}
    for run in runs:
        row = reported.get((run.domain, run.batch))
        if row is None:
            print(f"  {run.domain}|{run.batch}: no funnel (the run stopped before generation_report)")
            continue
        _, contexts, blueprints, trajectories, cost, projected, per_verified, projected_per_verified = row
        print(f"  {run.domain}|{run.batch}: {contexts} contexts -> {blueprints} blueprints -> {trajectories} "
              f"verified trajectories; cost ${cost or 0:.4f} (projected on the configured models: "
              f"${projected or 0:.4f}); per verified trajectory {dollars(per_verified)} "
              f"(projected {dollars(projected_per_verified)})")
    print(f"exports:      {export_target or exports_dir(home)}")
