"""Read-only access to the warehouse for the operator commands: never a write, never a long wait.

A read-only connection takes a shared lock for the milliseconds its queries need; a pipeline writing
at that moment waits for it (its connections retry DuckDB's lock conflict). If a writer holds the file
right now, the command waits a few seconds and then says so in one line, having read nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from apigen_pipeline.cli.errors import RUN_FAILED, CliError

if TYPE_CHECKING:
    import duckdb

# Writers hold the file for one partition write or one request-log ingestion: seconds at most.
READ_WAIT_S = 10.0


def warehouse_exists(home: Path) -> bool:
    from apigen_pipeline.paths import warehouse_path
    from apigen_pipeline.warehouse.storage import StorageSettings

    return StorageSettings.from_env().is_lake or warehouse_path(home).exists()


@contextmanager
def read_only_connection(home: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    from apigen_pipeline.paths import warehouse_path
    from apigen_pipeline.warehouse import Warehouse
    from apigen_pipeline.warehouse.errors import WarehouseBusyError
    from apigen_pipeline.warehouse.storage import StorageSettings

    storage = StorageSettings.from_env()
    path = warehouse_path(home)
    if not storage.is_lake and not path.exists():
        raise CliError(f"no warehouse at {path} yet (APIGEN_HOME={home}): `apigen run` creates it", RUN_FAILED)
    warehouse = Warehouse(path, storage=storage, lock_timeout_s=READ_WAIT_S)
    try:
        with warehouse.connect(read_only=True) as con:
            yield con
    except WarehouseBusyError as error:
        raise CliError(f"warehouse {path} is being written by {error.holder} (still after {READ_WAIT_S:.0f} s); "
                       "nothing was read: try again in a moment", RUN_FAILED) from error
