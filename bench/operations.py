"""Operations benchmark: what the warehouse integrity check costs and how fast `apigen` answers.

- integrity: the scan at open on a warehouse of a normal size (150 MB, a day of both built-in domains
  at 20 contexts; or `--warehouse PATH`, e.g. a real run's file, copied first), the stamped check that
  replaces it while apigen alone writes the file, and how long a damaged copy takes to fail (truncated
  to half; a block of row data nearest the middle overwritten);
- CLI: `apigen --help`, and a bad input (`APIGEN_LLM=bogus apigen run`; `--batch 2026-13-45`).

Prints measured/target ratios (below 1 is within target).

    .venv/bin/python bench/operations.py [--size-mb 150] [--warehouse PATH] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline.warehouse.errors import WarehouseDamagedError
from apigen_pipeline.warehouse.integrity import stamp_path, verify_file
from apigen_pipeline_tests.warehouse.built_warehouse import build_warehouse, flip_bytes, middle_data_block

TARGETS_S = {
    "scan per 150 MB": 1.0,
    "stamped check": 0.005,
    "damaged file fails": 5.0,
    "apigen --help": 0.5,
    "bad input exit": 2.0,
    "bad --batch exit": 0.5,
}


def report(label: str, seconds: float, note: str = "") -> None:
    target = TARGETS_S[label]
    print(f"  {label:<20} {seconds * 1000:9.1f} ms   target {target * 1000:8.1f} ms   ratio {seconds / target:5.2f}"
          f"  {note}")


def build(folder: Path, size_mb: int) -> Path:
    path = folder / "warehouse.duckdb"
    count = max(2, size_mb // 8)  # about 8 MB per partition at this payload
    partitions = tuple(("retail" if i % 2 else "airline", f"2026-11-{1 + i // 2:02d}") for i in range(count))
    build_warehouse(path, partitions=partitions, payload_chars=60_000)
    return path


def bench_integrity(path: Path, repeat: int) -> None:
    size_mb = path.stat().st_size / 1e6
    print(f"\n== integrity check on {path.name}: {size_mb:.0f} MB")

    def open_read_only() -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(path), read_only=True)

    scans = []
    for _ in range(repeat):
        stamp_path(path).unlink(missing_ok=True)
        scans.append(verify_file(path, open_read_only).seconds)
    scan = statistics.median(scans)
    report("scan per 150 MB", scan * 150 / size_mb, f"(measured {scan:.3f} s for {size_mb:.0f} MB, {size_mb / scan:.0f} MB/s)")
    stamped = statistics.median(verify_file(path, open_read_only).seconds for _ in range(max(repeat, 20)))
    report("stamped check", stamped)
    middle = middle_data_block(path, path.with_name("trial.duckdb"))
    for label, damage in (("truncated", lambda p: os.truncate(p, p.stat().st_size // 2)),
                          ("overwritten block", lambda p: flip_bytes(p, middle + 4096))):
        copy = path.with_name(f"damaged-{label.replace(' ', '-')}.duckdb")
        shutil.copy(path, copy)
        damage(copy)
        started = time.perf_counter()
        try:
            Warehouse(copy).migrate()
            outcome = "NOT DETECTED"
        except WarehouseDamagedError:
            outcome = "detected"
        report("damaged file fails", time.perf_counter() - started, f"({label}: {outcome})")


def bench_cli(repeat: int, workdir: Path) -> None:
    print("\n== CLI")
    apigen = [sys.executable, "-m", "apigen_pipeline.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APIGEN_", "DAGSTER_"))}
    env["APIGEN_HOME"] = str(workdir / "home")
    for label, args, extra in (("apigen --help", ["--help"], {}),
                               ("bad input exit", ["run"], {"APIGEN_LLM": "bogus"}),
                               ("bad --batch exit", ["run", "--batch", "2026-13-45"], {})):
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run([*apigen, *args], env={**env, **extra}, capture_output=True, check=False)
            times.append(time.perf_counter() - started)
        report(label, statistics.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=150)
    parser.add_argument("--warehouse", type=Path, default=None, help="a warehouse file to measure (copied)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        if args.warehouse:
            path = workdir / "warehouse.duckdb"
            shutil.copy(args.warehouse, path)
        else:
            path = build(workdir, args.size_mb)
        bench_integrity(path, args.repeat)
        bench_cli(args.repeat, workdir)


if __name__ == "__main__":
    main()
