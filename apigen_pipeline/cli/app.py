"""The `apigen` command line: arguments, dispatch, and one-line errors. Imports nothing heavy: each
command imports what it needs when it runs."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from datetime import date
from pathlib import Path

from apigen_pipeline.cli.errors import report

# command -> module under apigen_pipeline.cli with a `command(args) -> int`
COMMANDS = {"run": "run", "status": "status", "failures": "failures", "report": "report"}


def batch_date(value: str) -> str:
    """argparse type: a real calendar date written YYYY-MM-DD."""
    try:
        if len(value) == 10 and value == date.fromisoformat(value).isoformat():
            return value
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"'{value}' is not a real date written YYYY-MM-DD (e.g. 2026-11-20)")


def positive_int(value: str) -> int:
    if value.strip().isdigit() and int(value) >= 1:
        return int(value)
    raise argparse.ArgumentTypeError(f"'{value}' is not a whole number of at least 1")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", default=None, help="project home (default: $APIGEN_HOME or ./.apigen_home)")
    common.add_argument("--verbose", action="store_true",
                        help="tracebacks with errors (and, for run, Dagster's DEBUG event log)")
    parser = argparse.ArgumentParser(prog="apigen", description="Run the APIGen-MT pipeline through Dagster "
                                     "and inspect what it did (runs, failures, funnel).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,status,failures,report}")

    run = sub.add_parser("run", parents=[common], help="materialize the whole asset graph for one batch")
    run.add_argument("--domain", action="append", dest="domains",
                     help="domain to run (repeatable; default: every enabled domain)")
    run.add_argument("--batch", type=batch_date, default=None, help="batch date YYYY-MM-DD (default: today, UTC)")
    run.add_argument("--contexts", type=positive_int, default=None, help="task contexts per partition")
    run.add_argument("--config", default=None, help="pipeline config YAML (default: $APIGEN_CONFIG or built-in)")
    run.add_argument("--retry-failed", action="store_true",
                     help="re-ask the LLM requests whose stored answer failed validation (others replay from the log)")

    status = sub.add_parser("status", parents=[common],
                            help="recent runs by partition, stuck runs, llm_api pool slots, spend today")
    status.add_argument("--runs", type=positive_int, default=50, help="how many recent runs to look at (50)")
    status.add_argument("--stale-minutes", type=positive_int, default=30,
                        help="a started run without an event for this long is reported as stuck (30)")

    failures = sub.add_parser("failures", parents=[common], help="failed items by stage and reason")
    failures.add_argument("--domain", default=None, help="only this domain")
    failures.add_argument("--batch", type=batch_date, default=None, help="only this batch YYYY-MM-DD")
    failures.add_argument("--stage", default=None, help="only this failure stage (e.g. execution, committee)")
    failures.add_argument("--limit", type=positive_int, default=50, help="rows to show (50)")
    failures.add_argument("--counts", action="store_true", help="count failures by stage and reason instead")

    funnel = sub.add_parser("report", parents=[common], help="the funnel of each partition (generation_report)")
    funnel.add_argument("--domain", default=None, help="only this domain")
    funnel.add_argument("--batch", type=batch_date, default=None, help="this batch (default: the newest one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.home:
        os.environ["APIGEN_HOME"] = str(Path(args.home).resolve())
    try:
        module = importlib.import_module(f"apigen_pipeline.cli.{COMMANDS[args.command]}")
        return module.command(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`apigen failures | head`): nothing left to say, and nowhere to say it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:
        return report(error, args.verbose)


if __name__ == "__main__":
    raise SystemExit(main())
