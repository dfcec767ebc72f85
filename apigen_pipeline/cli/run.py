"""`apigen run`: check every input, then materialize the asset graph for one batch of each domain
through Dagster (the job the UI launches, recorded in the same instance), then print the funnel of
exactly the partitions just run."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apigen_pipeline.cli.errors import RUN_FAILED, one_line
from apigen_pipeline.cli.preflight import RunPlan, check_executor, open_warehouse, plan_run
from apigen_pipeline.cli.tables import dollars
from apigen_pipeline.paths import apigen_home, ensure_dagster_home, exports_dir, warehouse_path

SOURCE_TAG = "apigen/source"
# Which process runs an in-process run, so a run whose process is gone can be recognised (`apigen status`).
PID_TAG = "apigen/pid"
HOST_TAG = "apigen/host"


@dataclass(frozen=True)
class PartitionRun:
    domain: str
    batch: str
    run_id: str
    success: bool
    failed_steps: tuple[tuple[str, str], ...]   # (step key, first line of its error)


def command(args: argparse.Namespace) -> int:
    home = apigen_home()
    os.environ["APIGEN_HOME"] = str(home)
    plan, storage = plan_run(args.domains, args.batch, args.config)
    open_warehouse(home, storage)
    check_executor(os.environ)
    dagster_home = ensure_dagster_home(home)
    runs = execute(plan, args)
    for run in runs:
        print(f"run {run.run_id} partition {run.domain}|{run.batch}: {'SUCCESS' if run.success else 'FAILURE'}")
        for step, message in run.failed_steps:
            print(f"  {step}: {message}", file=sys.stderr)
    print_summary(home, runs, plan.config.export.target)
    print(f"warehouse:    {warehouse_path(home) if not storage.is_lake else storage.describe()}")
    print(f"dagster home: {dagster_home} (open the UI with: DAGSTER_HOME={dagster_home} dagster dev -w workspace.yaml)")
    if any(not run.success for run in runs) and not args.verbose:
        print("apigen: a run failed: `apigen failures` and `apigen status` tell more; --verbose shows Dagster's log",
              file=sys.stderr)
    return RUN_FAILED if any(not run.success for run in runs) else 0


def execute(plan: RunPlan, args: argparse.Namespace) -> list[PartitionRun]:
    import dagster as dg

    from apigen_pipeline.definitions import build_definitions
    from apigen_pipeline.defs.automation.batches import BATCH_JOB_NAME
    from apigen_pipeline.defs.shared.partitions import Partition

    definitions = build_definitions(config=plan.config, config_path=args.config)
    # The schedule's job: every stage of a batch, pass^k only when the config enables it.
    job = definitions.resolve_job_def(BATCH_JOB_NAME)
    # Dagster's console log repeats each step failure with its stack trace: only with --verbose.
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "DEBUG" if args.verbose else "CRITICAL"}}}}
    if args.contexts is not None:
        run_config["ops"] = {"task_contexts": {"config": {"contexts_per_partition": args.contexts}}}
    if args.retry_failed:
        run_config["resources"] = {"llm": {"config": {"retry_failed": True}}}
    tags = {SOURCE_TAG: "cli", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    runs = []
    with dg.DagsterInstance.get() as instance:
        for domain in plan.domains:
            result = job.execute_in_process(partition_key=Partition(domain, plan.batch).key(), instance=instance,
                                            run_config=run_config, raise_on_error=False, tags=tags)
            failed = tuple((event.step_key or "run", root_cause(event.step_failure_data.error))
                           for event in result.all_events
                           if event.is_step_failure and event.step_failure_data and event.step_failure_data.error)
            runs.append(PartitionRun(domain, plan.batch, result.run_id, result.success, failed))
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
