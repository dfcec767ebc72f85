"""What a DuckDB error means for the warehouse, decided by exception type and DuckDB's exact message
template, never by a word found somewhere in the text ("lock" is also in "block at location ...").

The templates are DuckDB 1.5.5's (`src/common/local_file_system.cpp`,
`src/storage/single_file_block_manager.cpp`, the DuckLake extension's commit loop), pinned with
`duckdb==1.5.5` and reproduced by the tests in `apigen_pipeline_tests/warehouse/test_errors.py`:

- lock conflict (another process holds the file): `IOException`
  `IO Error: Could not set lock on file "<path>": Conflicting lock is held in <program> (PID <n>)[ by user <u>]`
  `[. However, you would be able to open this database in read-only mode, ...]. See also <url>` -- the only
  error worth waiting for: the other process's connection is short-lived;
- damage: `IOException` `IO Error: Corrupt database file: computed checksum ...` (an overwritten block),
  `IO Error: Could not read enough bytes from file "<path>": ...` (a truncated file),
  `IO Error: The file "<path>" exists, but it is not a valid DuckDB database file!`;
- DuckLake catalog never initialised: `InvalidInputException` `Invalid Input Error: Existing DuckLake at
  metadata catalog "<catalog>" does not exist - and creating a new DuckLake is explicitly disabled`;
- DuckLake commit conflict: `TransactionException`
  `TransactionContext Error: Failed to commit: Failed to commit DuckLake transaction.` + the cause: the
  whole transaction may be re-run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

_LOCK_CONFLICT = re.compile(
    r'IO Error: Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in (?P<holder>.+?)'
    r"(?:\. However, you would be able to open this database in read-only mode, e\.g\. by using the -readonly "
    r"parameter in the CLI)?\. See also https://duckdb\.org/docs/stable/connect/concurrency",
    re.DOTALL)
_HOLDER_PID = re.compile(r"(?:^|\()PID (?P<pid>\d+)\)?")
_CORRUPT_BLOCK = re.compile(
    r"IO Error: Corrupt database file: computed checksum \d+ does not match stored checksum \d+ in block"
    r"(?: at location (?P<offset>\d+))?")
_SHORT_READ = re.compile(
    r'IO Error: Could not read enough bytes from file "(?P<path>[^"]+)": attempted to read (?P<size>\d+) bytes '
    r"from location (?P<offset>\d+)")
_NOT_A_DATABASE = re.compile(r'IO Error: The file "(?P<path>[^"]+)" exists, but it is not a valid DuckDB database file!')
_DUCKLAKE_MISSING = re.compile(
    r'Invalid Input Error: Existing DuckLake at metadata catalog "(?P<catalog>.*)" does not exist - and creating a '
    r"new DuckLake is explicitly disabled", re.DOTALL)
_DUCKLAKE_COMMIT_FAILED = re.compile(
    r"TransactionContext Error: Failed to commit: Failed to commit DuckLake transaction\.\s", re.DOTALL)


class WarehouseError(RuntimeError):
    """The warehouse cannot be used; the message is one line naming the file and what to do."""


class WarehouseBusyError(WarehouseError):
    """Another process held the file's lock for longer than this process was willing to wait."""

    def __init__(self, message: str, holder: str):
        super().__init__(message)
        self.holder = holder      # "<program> (PID <n>)", as DuckDB names the lock's holder


class WarehouseDamagedError(WarehouseError):
    """The file is truncated, has a corrupt block, or is not a DuckDB database. Nothing was written to it."""


@dataclass(frozen=True)
class LockConflict:
    path: str
    holder: str               # "<program> (PID <n>)" as DuckDB names it
    pid: int | None


def lock_conflict(error: BaseException) -> LockConflict | None:
    """The lock another process holds on a DuckDB file, or None when `error` is anything else."""
    if type(error) is not duckdb.IOException:
        return None
    match = _LOCK_CONFLICT.fullmatch(str(error))
    if match is None:
        return None
    pid = _HOLDER_PID.search(match["holder"])
    return LockConflict(path=match["path"], holder=match["holder"], pid=int(pid["pid"]) if pid else None)


def damage(error: BaseException) -> str | None:
    """What is wrong with the file, when `error` is one of DuckDB's damaged-file errors; else None."""
    if type(error) is not duckdb.IOException:
        return None
    message = str(error)
    if match := _CORRUPT_BLOCK.fullmatch(message):
        where = f" at byte {match['offset']}" if match["offset"] else ""
        return f"a block fails its checksum{where} (overwritten or corrupted)"
    if match := _SHORT_READ.fullmatch(message):
        return f"it ends before byte {int(match['offset']) + int(match['size'])} that it needs (truncated)"
    if _NOT_A_DATABASE.fullmatch(message):
        return "it is not a DuckDB database file (wrong or overwritten header)"
    return None


def is_ducklake_commit_conflict(error: BaseException) -> bool:
    """A DuckLake commit that failed as a whole (another writer's snapshot won): safe to run again."""
    return type(error) is duckdb.TransactionException and _DUCKLAKE_COMMIT_FAILED.match(str(error)) is not None


def is_missing_ducklake(error: BaseException) -> bool:
    """ATTACH with CREATE_IF_NOT_EXISTS false on a catalog that was never initialised."""
    return type(error) is duckdb.InvalidInputException and _DUCKLAKE_MISSING.fullmatch(str(error)) is not None


def damaged_error(path: Path, what: str, *, checked_at_open: bool = True) -> WarehouseDamagedError:
    """`checked_at_open`: found by the check before any write (so nothing was written to it)."""
    state = "it was left unchanged" if checked_at_open else "found while in use"
    return WarehouseDamagedError(
        f"warehouse {path} is damaged: {what}; {state}. Restore it from a backup, or move it aside "
        f"(mv {path} {path}.damaged) to start an empty one (answered LLM requests in it would be paid again)")


def busy_error(path: Path, conflict: LockConflict, waited_s: float) -> WarehouseBusyError:
    return WarehouseBusyError(
        f"warehouse {path} is still locked by {conflict.holder} after {waited_s:.0f} s: wait for that process "
        "to finish, or stop it if it hangs", holder=conflict.holder)


def one_line(error: BaseException) -> str:
    """DuckDB's message on one line (some span several)."""
    return " ".join(str(error).split())
