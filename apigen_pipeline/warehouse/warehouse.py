"""The warehouse: the only code that talks to DuckDB.

Connections are short-lived on purpose: DuckDB lets one process write a file at a time, and a
Dagster step that held a connection while waiting on an LLM would lock every other run out.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from apigen_pipeline.warehouse.migrations import Migration, SchemaError, discover_migrations
from apigen_pipeline.warehouse.sql_files import load_sql, with_table

# Columns that say *which run* wrote a row, not *what* it holds: excluded from content hashes.
RUN_COLUMNS = ("run_id", "materialized_at")


# DuckDB shares one database instance per file inside a process, and its pandas scan is not safe
# to race from several threads: connections to one file are serialized per process.
_PROCESS_LOCKS: dict[Path, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(path.resolve(), threading.RLock())


@dataclass(frozen=True)
class PartitionWrite:
    table: str
    rows: pd.DataFrame


class Warehouse:
    def __init__(self, path: str | Path, *, lock_timeout_s: float = 120.0,
                 migrations: Sequence[Migration] | None = None):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._migrations = list(migrations) if migrations is not None else discover_migrations()
        self._known_tables: set[str] | None = None

    # -- connections --------------------------------------------------------------------------
    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open, yield, close. Waits (bounded) while another process holds the file's lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _process_lock(self.path):
            deadline = time.monotonic() + self.lock_timeout_s
            delay = 0.02
            while True:
                try:
                    con = duckdb.connect(str(self.path), read_only=read_only)
                    break
                except duckdb.IOException as error:
                    if "lock" not in str(error).lower() or time.monotonic() > deadline:
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
            try:
                yield con
            finally:
                con.close()

    # -- schema -------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply pending migrations; refuse a schema newer than this code or an edited migration."""
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
                con.execute("BEGIN TRANSACTION")
                try:
                    con.execute(migration.sql)
                    con.execute(load_sql("warehouse/record_migration"),
                                [migration.version, migration.name, migration.checksum, datetime.now(UTC)])
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise
                applied_now.append(migration.version)
            self._known_tables = self._read_known_tables(con)
        return applied_now

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
        counts: dict[str, int] = {}
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for (delete_sql, insert_sql, rows), write in zip(statements, writes, strict=True):
                    con.execute(delete_sql, [domain, batch])
                    if len(rows):
                        con.register("incoming_rows", rows)
                        con.execute(insert_sql)
                        con.unregister("incoming_rows")
                    counts[write.table] = len(rows)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        return counts

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
