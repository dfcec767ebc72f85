"""Environment benchmarks (issue: foundation). Prints each measurement, its target and the ratio.

    .venv/bin/python bench/environments.py [--domains retail airline] [--skip-100x]

Ratios are measured / target: below 1.0 meets the target.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.database import full_state_hash
from apigen_pipeline.environments.registry import find_plugin
from apigen_pipeline.phase1.contexts import ContextSampler, SamplingConfig

READ_CALLS = {
    "retail": ("get_order_details", "orders", "order_id"),
    "airline": ("get_reservation_details", "reservations", "reservation_id"),
}


def median_seconds(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def report(label: str, measured: float, target: float, unit: str) -> dict:
    ratio = measured / target
    print(f"  {label:<44} {measured:>10.4f} {unit:<3} target {target:>8.4f} {unit:<3} ratio {ratio:5.2f} "
          f"{'OK' if ratio <= 1 else 'MISSED'}")
    return {"label": label, "measured": measured, "target": target, "unit": unit, "ratio": ratio}


def bench_domain(name: str) -> list[dict]:
    plugin, _ = find_plugin(name)
    started = time.perf_counter()
    environment = Environment(plugin)
    snapshot = environment.snapshot
    build_s = time.perf_counter() - started
    counts = {t: len(r) for t, r in snapshot.tables.items()}
    print(f"{name}: seeded database built in {build_s:.2f} s, tables {counts}")
    results = [report("fresh database (median)", median_seconds(environment.fresh_database, 2000) * 1e3, 2.0, "ms")]

    tool, table, argument = READ_CALLS[name]
    ids = list(snapshot.tables[table])
    rng = random.Random(0)
    db = environment.fresh_database()
    results.append(report(f"read call {tool} (median)",
                          median_seconds(lambda: environment.execute(db, tool, {argument: rng.choice(ids)}), 5000) * 1e6,
                          50.0, "us"))

    touched = environment.fresh_database()
    for record_id in ids[:5]:
        touched.get_for_update(table, record_id)["_bench"] = 1
    results.append(report("state hash, 5 touched records (median)", median_seconds(touched.state_hash, 500) * 1e3,
                          20.0, "ms"))
    full = median_seconds(lambda: full_state_hash(touched.materialize()), 5) * 1e3
    results.append(report("state hash from scratch (median)", full, 20.0, "ms"))

    sampler = ContextSampler(environment, SamplingConfig(), domain=name)
    started = time.perf_counter()
    for index in range(10_000):
        sampler.sample("2026-11-25", index)
    results.append(report("sample 10,000 contexts", time.perf_counter() - started, 10.0, "s"))
    return results


def bench_scale_100(name: str) -> dict:
    """Generation at 100x the default size, in a child process so its peak memory is its own."""
    code = (
        "import json,resource,time\n"
        "from apigen_pipeline.environments.registry import find_plugin\n"
        f"plugin,_=find_plugin({name!r})\n"
        "t=time.perf_counter(); tables=plugin.generate_data(0, 100.0); s=time.perf_counter()-t\n"
        "print(json.dumps({'seconds': s, 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024,"
        " 'counts': {k: len(v) for k, v in tables.items()}}))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    measured = json.loads(output.strip().splitlines()[-1])
    print(f"  100x generation: {measured['seconds']:.1f} s, peak RSS {measured['peak_rss_mb']:.0f} MB, "
          f"counts {measured['counts']}")
    return measured


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--domains", nargs="+", default=["retail", "airline"])
    parser.add_argument("--skip-100x", action="store_true")
    args = parser.parse_args()
    summary = {}
    for name in args.domains:
        summary[name] = bench_domain(name)
        if not args.skip_100x:
            summary[f"{name}_100x"] = bench_scale_100(name)
    worst = max(r["ratio"] for rows in summary.values() if isinstance(rows, list) for r in rows)
    print(f"worst ratio {worst:.2f}; peak RSS of this process "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
