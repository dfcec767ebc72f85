"""`apigen`: run the pipeline through Dagster from the command line.

`apigen run` materializes the whole asset graph for one batch of every enabled domain (or the ones
given) through Dagster itself, so the runs are recorded in the Dagster instance exactly like runs
launched from the UI, and prints where the outputs are.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from apigen_pipeline.paths import apigen_home, ensure_dagster_home, warehouse_path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="apigen", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialize the whole asset graph for one batch")
    run.add_argument("--domain", action="append", dest="domains",
                     help="domain to run (repeatable; default: every enabled domain)")
    run.add_argument("--batch", default=None, help="batch date YYYY-MM-DD (default: today, UTC)")
    run.add_argument("--contexts", type=int, default=None, help="task contexts per partition")
    run.add_argument("--config", default=None, help="pipeline config YAML (default: $APIGEN_CONFIG or built-in)")
    run.add_argument("--home", default=None, help="project home (default: $APIGEN_HOME or ./.apigen_home)")
    run.add_argument("--verbose", action="store_true", help="print Dagster's DEBUG event log")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run":
        return run(args)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.home:
        os.environ["APIGEN_HOME"] = str(Path(args.home).resolve())
    home = apigen_home()
    os.environ["APIGEN_HOME"] = str(home)
    dagster_home = ensure_dagster_home(home)

    import dagster as dg

    from apigen_pipeline.config import ConfigError, load_pipeline_config
    from apigen_pipeline.definitions import build_definitions
    from apigen_pipeline.defs.shared.partitions import Partition

    try:
        config = load_pipeline_config(args.config)
    except ConfigError as error:
        print(f"apigen: {error}", file=sys.stderr)
        return 2
    batch = args.batch or datetime.now(UTC).strftime("%Y-%m-%d")
    domains = args.domains or config.domain_names
    unknown = [d for d in domains if d not in config.domain_names]
    if unknown:
        print(f"apigen: unknown domain(s) {', '.join(unknown)}; enabled: {', '.join(config.domain_names)}",
              file=sys.stderr)
        return 2
    if args.contexts is not None and args.contexts < 1:
        print("apigen: --contexts must be at least 1", file=sys.stderr)
        return 2

    definitions = build_definitions(config=config, config_path=args.config)
    job = definitions.resolve_implicit_global_asset_job_def()
    run_config: dict = {"loggers": {"console": {"config": {"log_level": "DEBUG" if args.verbose else "WARNING"}}}}
    if args.contexts is not None:
        run_config["ops"] = {"task_contexts": {"config": {"contexts_per_partition": args.contexts}}}
    failed = False
    with dg.DagsterInstance.get() as instance:
        for domain in domains:
            result = job.execute_in_process(
                partition_key=Partition(domain, batch).key(), instance=instance, run_config=run_config,
                raise_on_error=False, tags={"apigen/source": "cli"})
            status = "SUCCESS" if result.success else "FAILURE"
            print(f"run {result.run_id} partition {domain}|{batch}: {status}")
            if not result.success:
                failed = True
                for event in result.all_events:
                    if event.is_step_failure:
                        print(f"  {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)
    _print_summary(home, batch, config.export.target)
    print(f"warehouse:    {warehouse_path(home)}")
    print(f"dagster home: {dagster_home} (open the UI with: DAGSTER_HOME={dagster_home} dagster dev -w workspace.yaml)")
    return 1 if failed else 0


def _print_summary(home: Path, batch: str, export_target: str | None) -> None:
    from apigen_pipeline.paths import exports_dir
    from apigen_pipeline.warehouse import Warehouse
    from apigen_pipeline.warehouse.storage import StorageSettings

    storage = StorageSettings.from_env()
    warehouse = Warehouse(warehouse_path(home), storage=storage)
    if storage.mode == "duckdb" and not warehouse.path.exists():
        return
    warehouse.migrate()
    summary = warehouse.query("report/funnel_summary", [batch])
    for row in summary.itertuples(index=False):
        print(f"  {row.domain}|{row.batch}: {row.contexts} contexts -> {row.kept_blueprints} blueprints -> "
              f"{row.kept_trajectories} verified trajectories; cost ${row.cost_usd:.4f} "
              f"(projected on the configured models: ${row.projected_cost_usd:.4f})")
    print(f"exports:      {export_target or exports_dir(home)}")


if __name__ == "__main__":
    raise SystemExit(main())
