"""`apigen failures [--domain --batch --stage]`: the failed items of the generation stages, from the
`generation_failures` view (`sql/views/generation_failures.sql`), read-only. `--counts` groups them by
partition, stage and reason."""

from __future__ import annotations

import argparse

from apigen_pipeline.cli.reading import read_only_connection
from apigen_pipeline.cli.tables import render
from apigen_pipeline.paths import apigen_home

ROW_COLUMNS = ["domain", "batch", "kind", "item", "attempt", "outcome", "stage", "reason", "run"]
COUNT_COLUMNS = ["domain", "batch", "kind", "stage", "reason", "failures"]


def command(args: argparse.Namespace) -> int:
    from apigen_pipeline.warehouse.sql_files import as_temporary_view, load_sql

    filters = [args.domain, args.batch, args.stage]
    with read_only_connection(apigen_home()) as con:
        con.execute(as_temporary_view("views/generation_failures"))
        if args.counts:
            rows = con.execute(load_sql("ops/failure_counts"), filters).fetchall()
        else:
            rows = con.execute(load_sql("ops/failures"), [*filters, args.limit]).fetchall()
        available = None if rows else con.execute(load_sql("ops/failure_filter_values")).fetchone()
    if not rows:
        print(nothing_matches(args, available))
        return 0
    if args.counts:
        print(render(COUNT_COLUMNS, rows, indent=""))
        return 0
    matching = rows[0][-1]
    print(render(ROW_COLUMNS, [(*row[:8], row[8][:8] if row[8] else None) for row in rows], indent=""))
    if matching > len(rows):
        print(f"{len(rows)} of {matching} failed items shown (--limit {args.limit}; --counts groups them)")
    return 0


def nothing_matches(args: argparse.Namespace, available: tuple | None) -> str:
    asked = " ".join(f"--{name} {value}" for name, value in (("domain", args.domain), ("batch", args.batch),
                                                             ("stage", args.stage)) if value)
    domains, first, last, batches, stages = available or (None, None, None, 0, None)
    if not batches:
        return "no failed items recorded in the warehouse"
    return (f"no failed items match {asked}; failures exist for domains {', '.join(domains)}, "
            f"{batches} batches from {first} to {last}, stages {', '.join(stages)}")
