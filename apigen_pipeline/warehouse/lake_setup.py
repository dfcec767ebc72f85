"""The DuckLake setup step: `python -m apigen_pipeline.warehouse.lake_setup init|check|compact`.

`init` runs once per deployment, before any worker starts (and again after an upgrade that adds
migrations): the first ATTACH creates the catalog's tables, and two processes doing that at once fail
with a duplicate-key error in PostgreSQL; concurrent CREATE TABLE on one lake conflicts too. Workers
therefore only `check`. `compact` is maintenance (a schedule, or after a backfill): it moves rows kept
inline in the catalog to Parquet on the data path and merges small files. All three read the storage
settings from the APIGEN_* environment variables.
"""

from __future__ import annotations

import argparse
import sys
import time

from apigen_pipeline.paths import apigen_home, warehouse_path
from apigen_pipeline.warehouse.migrations import SchemaError
from apigen_pipeline.warehouse.storage import StorageError, StorageSettings, shared_lake
from apigen_pipeline.warehouse.warehouse import Warehouse


def initialise_lake(settings: StorageSettings) -> list[int]:
    """Create the catalog (first ATTACH) and apply pending migrations; returns the versions applied."""
    if not settings.is_lake:
        raise StorageError("lake_setup needs APIGEN_STORAGE=ducklake (the local DuckDB file migrates itself)")
    return Warehouse(warehouse_path(apigen_home()), storage=settings.model_copy(update={"migrate_on_open": True})).migrate()


def check_lake(settings: StorageSettings) -> Warehouse:
    """What every worker does at start-up: attach, probe S3, and refuse a catalog that is not set up."""
    warehouse = Warehouse(warehouse_path(apigen_home()), storage=settings)
    warehouse.migrate()
    return warehouse


def compact_lake(settings: StorageSettings) -> None:
    warehouse = check_lake(settings)
    with warehouse.connect() as con:
        con.execute(f"CALL ducklake_flush_inlined_data('{settings.lake_name}')")
        con.execute(f"CALL ducklake_merge_adjacent_files('{settings.lake_name}')")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m apigen_pipeline.warehouse.lake_setup",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["init", "check", "compact"])
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        settings = StorageSettings.from_env()
        if args.command == "init":
            applied = initialise_lake(settings)
            print(f"initialised {settings.describe()}: applied migrations {applied or 'none (up to date)'}")
        elif args.command == "compact":
            compact_lake(settings)
            print(f"compacted {settings.describe()}")
        else:
            check_lake(settings)
            print(f"ok: {settings.describe()}")
    except (StorageError, SchemaError) as error:
        print(f"apigen storage: {error}", file=sys.stderr)
        return 2
    timings = shared_lake(settings).timings
    print(f"extension load {timings.extension_load_s:.2f}s, attach {timings.attach_s:.2f}s, "
          f"S3 probe {timings.probe_s:.2f}s, total {time.perf_counter() - started:.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
