"""The warehouse: the only code that talks to DuckDB.

Connections are short-lived on purpose: DuckDB lets one process write a file at a time, and a
Dagster step that held a connection while waiting on an LLM would lock every other run out. Only
DuckDB's lock-conflict error is waited out; a damaged file fails at once, before any write, in one
line (`errors.py`, `integrity.py`).

In DuckLake mode (`StorageSettings(mode="ducklake")`, see `storage.py`) the same SQL runs against a
lake attached once per process; `connect()` hands out a short-lived cursor on it, and partition
writes are retried when another writer's commit conflicts with them.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from apigen_pipeline.warehouse.errors import busy_error, damage, damaged_error, lock_conflict
from apigen_pipeline.warehouse.integrity import verify_file, write_stamp
from apigen_pipeline.warehouse.migrations import Migration, SchemaError, discover_migrations
from apigen_pipeline.warehouse.sql_files import load_sql, with_table
from apigen_pipeline.warehouse.storage import StorageError, StorageSettings, retry_on_conflict, shared_lake

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Columns that say *which run* wrote a row, not *what* it holds: excluded from content hashes.
RUN_COLUMNS = ("run_id", "materialized_at")


# DuckDB shares one database instance per file inside a process, and its pandas scan is not safe
# to race from several threads: connections to one file are serialized per process.
_PROCESS_LOCKS: dict[Path, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()
# Connections open per file in this process (only touched under the file's process lock).
_OPEN_DEPTH: dict[Path, int] = {}


def _process_lock(path: Path) -> threading.RLock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(path.resolve(), threading.RLock())


@dataclass(frozen=True)
class PartitionWrite:
    table: str
    rows: pd.DataFrame


class Warehouse:
    def __init__(self, path: str | Path, *, lock_timeout_s: float = 120.0,
                 migrations: Sequence[Migration] | None = None, storage: StorageSettings | None = None):
        """`path`: the DuckDB file (local mode); in DuckLake mode only its folder is used, as the
        anchor for this machine's local files (request spools)."""
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.storage = storage or StorageSettings()
        self._migrations = list(migrations) if migrations is not None else discover_migrations()
        self._known_tables: set[str] | None = None
        self.conflict_retries = 0  # transactions re-run after a DuckLake write conflict, this object's lifetime

    def describe(self) -> str:
        return str(self.path) if not self.storage.is_lake else self.storage.describe()

    # -- connections --------------------------------------------------------------------------
    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open, yield, close. Waits (bounded) while another process holds the file's lock. Before a
        connection that may write, the file is checked whole (`integrity.py`): a damaged file raises
        `WarehouseDamagedError` before anything is written to it. DuckLake: a cursor on this process's
        attached lake (`read_only` is not enforced there)."""
        if self.storage.is_lake:
            with self._lake_cursor() as cursor:
                yield cursor
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = self.path.resolve()
        with _process_lock(self.path):
            # A nested connection of this thread shares the outer one's database, already checked.
            outermost = _OPEN_DEPTH.get(key, 0) == 0
            if outermost and not read_only:
                verify_file(self.path, lambda: self._open(read_only=True))
            con = self._open(read_only)
            _OPEN_DEPTH[key] = _OPEN_DEPTH.get(key, 0) + 1
            try:
                yield con
            except duckdb.Error as error:
                what = damage(error)
                if what is not None:
                    raise damaged_error(self.path, what, checked_at_open=False) from error
                raise
            finally:
                _OPEN_DEPTH[key] -= 1
                con.close()
            if outermost and not read_only:
                with suppress(OSError):  # without a stamp the next connection only checks again
                    write_stamp(self.path)

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """`duckdb.connect`, retried only while another process holds the file's lock (DuckDB's lock
        conflict, see `errors.py`); a damaged file is named in one line, anything else is raised as is."""
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as error:
                conflict = lock_conflict(error)
                if conflict is None:
                    what = damage(error)
                    if what is not None:
                        raise damaged_error(self.path, what) from error
                    raise
                if time.monotonic() > deadline:
                    raise busy_error(self.path, conflict, self.lock_timeout_s) from error
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    @contextmanager
    def _lake_cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        lake = shared_lake(self.storage)
        # One attached connection serves the whole process; its pandas scans and transactions are
        # serialized like the file mode's (the request log's ingest thread shares it).
        with lake.lock:
            cursor = lake.connection.cursor()
            try:
                cursor.execute(f"USE {self.storage.lake_name}")
                yield cursor
            finally:
                cursor.close()

    def _in_transaction(self, con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
        con.execute("BEGIN TRANSACTION")
        try:
            result = work()
            con.execute("COMMIT")
            return result
        except Exception:
            # A failed COMMIT (a DuckLake conflict) has already ended the transaction.
            with suppress(duckdb.TransactionException):
                con.execute("ROLLBACK")
            raise

    def write_transaction(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run `work(con)` as one write transaction and return its result. In DuckLake mode the whole
        transaction is re-run when another writer's commit conflicts with it, so `work` must only write
        through `con` (it may run more than once); retries add up in `conflict_retries`."""
        if not self.storage.is_lake:
            with self.connect() as con:
                return self._in_transaction(con, lambda: work(con))

        def attempt() -> T:
            with self.connect() as con:
                return self._in_transaction(con, lambda: work(con))

        def note(retry: int, error: BaseException) -> None:
            logger.warning("DuckLake write conflict, retry %d: %s", retry, " ".join(str(error).split()))

        result, retries = retry_on_conflict(attempt, attempts=self.storage.conflict_attempts,
                                            backoff_s=self.storage.conflict_backoff_s, on_retry=note)
        self.conflict_retries += retries
        return result

    # -- schema -------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations; refuse a schema newer than this code or an edited migration."""
        if self.storage.is_lake and not self.storage.migrate_on_open:
            return self._check_lake_schema()
        applied_now: list[int] = []
        with self.connect() as con:
            con.execute(load_sql("warehouse/create_migrations_table"))
            applied = {row[0]: (row[1], row[2]) for row in con.execute(load_sql("warehouse/applied_migrations")).fetchall()}
            known = {m.version: m for m in self._migrations}
            newer = sorted(v for v in applied if v not in known)
            if newer and newer[-1] > max(known, default=0):
                raise SchemaError(
                    f"warehouse {self.path} has schema version {max(applied)} but this code knows up to "
                    f"{max(known, default=0)}: upgrade apigen-pipeline or point APIGEN_HOME elsewhere")
            for version, (name, checksum) in sorted(applied.items()):
                if version in known and known[version].checksum != checksum:
                    raise SchemaError(f"migration {version:04d}_{name} was edited after it was applied "
                                      f"to {self.path}; add a new migration instead")
            for migration in self._migrations:
                if migration.version in applied:
                    continue

                def apply(migration: Migration = migration) -> None:
                    con.execute(migration.sql)
                    con.execute(load_sql("warehouse/record_migration"),
                                [migration.version, migration.name, migration.checksum, datetime.now(UTC)])

                self._in_transaction(con, apply)
                applied_now.append(migration.version)
            self._known_tables = self._read_known_tables(con)
        return applied_now

    def _check_lake_schema(self) -> list[int]:
        """Workers never create or migrate the lake's tables (concurrent DDL on one DuckLake conflicts):
        they check that the setup step did, and stop with the command to run if not."""
        with self.connect() as con:
            tables = self._read_known_tables(con)
            applied: dict[int, str] = {}
            if "schema_migrations" in tables:
                applied = {row[0]: row[2] for row in con.execute(load_sql("warehouse/applied_migrations")).fetchall()}
        pending = [m for m in self._migrations if m.version not in applied]
        edited = [m for m in self._migrations if m.version in applied and applied[m.version] != m.checksum]
        newer = [v for v in applied if v > max((m.version for m in self._migrations), default=0)]
        if newer:
            raise SchemaError(f"{self.describe()} has schema version {max(newer)} but this code knows up to "
                              f"{max(m.version for m in self._migrations)}: upgrade apigen-pipeline")
        if edited:
            raise SchemaError(f"migration {edited[0].version:04d}_{edited[0].name} was edited after it was "
                              f"applied to {self.describe()}; add a new migration instead")
        if pending:
            raise StorageError(
                f"{self.describe()} lacks migrations {', '.join(f'{m.version:04d}' for m in pending)}: run the "
                "setup step once (`python -m apigen_pipeline.warehouse.lake_setup init`) before starting workers")
        self._known_tables = tables
        return []

    def schema_version(self) -> int:
        with self.connect() as con:
            con.execute(load_sql("warehouse/create_migrations_table"))
            rows = con.execute(load_sql("warehouse/applied_migrations")).fetchall()
        return max((r[0] for r in rows), default=0)

    def known_tables(self) -> set[str]:
        if self._known_tables is None:
            with self.connect() as con:
                self._known_tables = self._read_known_tables(con)
        return self._known_tables

    @staticmethod
    def _read_known_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
        return {row[0] for row in con.execute(load_sql("warehouse/known_tables")).fetchall()}

    # -- partition writes ---------------------------------------------------------------------
    def replace_partition(self, domain: str, batch: str, writes: Sequence[PartitionWrite]) -> dict[str, int]:
        """Replace one (domain, batch) partition of several tables in one transaction."""
        known = self.known_tables()
        statements = [(with_table("warehouse/delete_partition", w.table, known),
                       with_table("warehouse/insert_by_name", w.table, known), w.rows) for w in writes]
        for write in writes:
            bad = write.rows[(write.rows["domain"] != domain) | (write.rows["batch"] != batch)] \
                if len(write.rows) else write.rows
            if len(bad):
                raise ValueError(f"{len(bad)} rows for {write.table} lie outside partition {domain}/{batch}")

        def write_all(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
            counts: dict[str, int] = {}
            for (delete_sql, insert_sql, rows), write in zip(statements, writes, strict=True):
                con.execute(delete_sql, [domain, batch])
                if len(rows):
                    con.register("incoming_rows", rows)
                    try:
                        con.execute(insert_sql)
                    finally:
                        con.unregister("incoming_rows")
                counts[write.table] = len(rows)
            return counts

        return self.write_transaction(write_all)

    def read_partition(self, table: str, domain: str, batch: str) -> pd.DataFrame:
        sql = with_table("warehouse/select_partition", table, self.known_tables())
        with self.connect() as con:
            return con.execute(sql, [domain, batch]).df()

    def query(self, name: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Run a named SQL file from `sql/` and return a DataFrame."""
        with self.connect() as con:
            return con.execute(load_sql(name), list(params)).df()

    def execute(self, name: str, params: Sequence[Any] = ()) -> None:
        with self.connect() as con:
            con.execute(load_sql(name), list(params))

    def partition_content_hash(self, table: str, domain: str, batch: str, order_by: Sequence[str] = ()) -> str:
        """A hash of a partition's content (excluding which-run columns): equal across identical re-runs."""
        frame = self.read_partition(table, domain, batch)
        return content_hash(frame, order_by)


def content_hash(frame: pd.DataFrame, order_by: Sequence[str] = ()) -> str:
    columns = sorted(c for c in frame.columns if c not in RUN_COLUMNS)
    frame = frame[columns]
    frame = frame.sort_values(list(order_by) or columns, kind="mergesort").reset_index(drop=True)
    digest = hashlib.sha256()
    digest.update("|".join(columns).encode())
    for row in frame.itertuples(index=False):
        digest.update(repr(tuple(None if pd.isna(v) else v for v in row)).encode())
    return digest.hexdigest()
