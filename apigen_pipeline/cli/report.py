"""`apigen report [--domain --batch]`: the funnel of each partition of one batch (the newest by default),
from the `generation_report` table, read-only."""

from __future__ import annotations

import argparse
from itertools import groupby

from apigen_pipeline.cli.reading import read_only_connection
from apigen_pipeline.cli.tables import dollars, percent, render
from apigen_pipeline.paths import apigen_home


def command(args: argparse.Namespace) -> int:
    from apigen_pipeline.warehouse.sql_files import load_sql

    with read_only_connection(apigen_home()) as con:
        batch = args.batch or con.execute(load_sql("ops/newest_report_batch"), [args.domain]).fetchone()[0]
        rows = con.execute(load_sql("ops/funnel"), [args.domain, batch]).fetchall() if batch else []
        available = None if rows else con.execute(load_sql("ops/report_partitions")).fetchone()
    if not rows:
        print(nothing_matches(args, batch, available))
        return 0
    for (domain, batch_key), partition in groupby(rows, key=lambda row: (row[0], row[1])):
        print_partition(domain, batch_key, list(partition))
    return 0


def print_partition(domain: str, batch: str, rows: list[tuple]) -> None:
    """`rows`: the columns of `sql/ops/funnel.sql`, one per stage; partition totals repeat on each."""
    run_id, materialized_at = rows[0][2], rows[0][3]
    when = f", {materialized_at:%Y-%m-%d %H:%M} UTC" if materialized_at else ""
    print(f"{domain}|{batch}  (run {(run_id or '-')[:8]}{when})")
    print(render(["stage", "count", "yield (of its base stage)"], [(row[4], row[6], percent(row[7])) for row in rows]))
    cost, projected, verified, per_verified, projected_per_verified = rows[0][8:13]
    print(f"  cost {dollars(cost)} (projected on the configured models: {dollars(projected)}); "
          f"{verified or 0} verified trajectories, {dollars(per_verified)} each "
          f"(projected {dollars(projected_per_verified)})")


def nothing_matches(args: argparse.Namespace, batch: str | None, available: tuple | None) -> str:
    domains, batches, first, last = available or (None, 0, None, None)
    if not batches:
        return "no funnel recorded in the warehouse yet (generation_report is written at the end of a run)"
    asked = " ".join(f"--{name} {value}" for name, value in (("domain", args.domain), ("batch", batch)) if value)
    return (f"no funnel for {asked}; funnels exist for domains {', '.join(domains)}, "
            f"{batches} batches from {first} to {last}")
