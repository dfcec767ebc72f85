"""Is the warehouse file whole? Checked before every connection that may write, cheaply.

A damaged file must fail before anything is written into it: DuckDB only notices a truncated file or
an overwritten block when it reads the bytes concerned, which may come after a step has written other
tables (a half-truncated file once received new `task_contexts` before the read error).

The check opens the file read-only (nothing on disk changes, whatever it finds) and reads every
table in full, so DuckDB verifies the checksum of every block that holds data and notices any block
that lies past the end of the file. It costs one scan of the data (about 0.3 s for a day of both
built-in domains, 150 MB; see `bench/warehouse_integrity.py`), so its result is remembered in a stamp
next to the file (`<file>.verified`): the file's identity (size, inode, mtime and ctime of it and of
its WAL) after apigen last verified it or closed a connection that wrote it without an error. A file
whose identity matches its stamp was last changed by apigen itself and is not scanned again (a stat and
a small read per connection); any other change (a crash mid-write, a copy or restore, a truncation, a
stray write) does not match and is scanned.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from apigen_pipeline.warehouse.errors import damage, damaged_error
from apigen_pipeline.warehouse.sql_files import load_sql

STAMP_SUFFIX = ".verified"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileIdentity:
    size: int
    inode: int
    mtime_ns: int
    ctime_ns: int
    wal_size: int
    wal_mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        try:
            wal = Path(f"{path}.wal").stat()
            wal_size, wal_mtime_ns = wal.st_size, wal.st_mtime_ns
        except FileNotFoundError:
            wal_size, wal_mtime_ns = -1, -1
        return cls(size=stat.st_size, inode=stat.st_ino, mtime_ns=stat.st_mtime_ns, ctime_ns=stat.st_ctime_ns,
                   wal_size=wal_size, wal_mtime_ns=wal_mtime_ns)


@dataclass(frozen=True)
class IntegrityCheck:
    """What one check did: `scanned` is False when the stamp vouched for the file."""

    path: Path
    scanned: bool
    tables: int
    seconds: float


def stamp_path(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def read_stamp(path: Path) -> FileIdentity | None:
    try:
        return FileIdentity(**json.loads(stamp_path(path).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def write_stamp(path: Path) -> None:
    """Record the file's identity as one apigen wrote or verified (atomically: a torn stamp never vouches)."""
    identity = FileIdentity.of(path)
    if identity is None:
        return
    target = stamp_path(path)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(identity)))
    os.replace(temporary, target)


def scan_every_table(con: duckdb.DuckDBPyConnection) -> int:
    """Read every column of every table, so DuckDB checks every data block; returns the table count."""
    tables = con.execute(load_sql("warehouse/main_tables")).fetchall()
    for schema, table in tables:
        # Identifiers from the catalog, not from input; hash() makes DuckDB read every value of every column.
        con.execute(f"SELECT bit_xor(hash(*COLUMNS(*))) FROM {_quoted(schema)}.{_quoted(table)}").fetchall()
    return len(tables)


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def verify_file(path: Path, open_read_only: Callable[[], duckdb.DuckDBPyConnection]) -> IntegrityCheck:
    """Raise `WarehouseDamagedError` (one line, file unchanged) unless the file is whole.
    `open_read_only` opens the file read-only, waiting for another process's lock as the caller does."""
    started = time.perf_counter()
    identity = FileIdentity.of(path)
    if identity is None:
        return IntegrityCheck(path, scanned=False, tables=0, seconds=0.0)
    if read_stamp(path) == identity:
        return IntegrityCheck(path, scanned=False, tables=0, seconds=time.perf_counter() - started)
    try:
        con = open_read_only()
        try:
            tables = scan_every_table(con)
        finally:
            con.close()
    except duckdb.Error as error:
        what = damage(error)
        if what is None:
            raise
        raise damaged_error(path, what) from error
    # A stamp that cannot be written only means the next process scans again.
    with suppress(OSError):
        if FileIdentity.of(path) == identity:
            write_stamp(path)
    check = IntegrityCheck(path, scanned=True, tables=tables, seconds=time.perf_counter() - started)
    logger.info("checked warehouse %s whole (%d tables) in %.2f s", path, tables, check.seconds)
    return check
