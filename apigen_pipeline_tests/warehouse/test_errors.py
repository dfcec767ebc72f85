"""DuckDB errors are classified by exception type and DuckDB's exact message, reproduced with a second
process holding the file, never by a word in the text ("block" contains "lock")."""

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from apigen_pipeline.warehouse import PartitionWrite, Warehouse
from apigen_pipeline.warehouse.errors import WarehouseBusyError, damage, lock_conflict

HOLDER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read_only")
print("held", flush=True)
sys.stdin.readline()
con.close()
"""


@contextmanager
def held_by_other_process(path: Path, mode: str = "read_write") -> Iterator[subprocess.Popen]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), mode], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        release(holder)


def release(holder: subprocess.Popen) -> None:
    if holder.poll() is None:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.fixture()
def database(tmp_path) -> Path:
    path = tmp_path / "w.duckdb"
    Warehouse(path).migrate()
    return path


def tools() -> pd.DataFrame:
    return pd.DataFrame([{"domain": "retail", "batch": "b1", "run_id": "r", "tool_name": "t", "position": 0}])


def connect_error(path: Path, read_only: bool) -> duckdb.Error:
    with pytest.raises(duckdb.Error) as caught:
        duckdb.connect(str(path), read_only=read_only)
    return caught.value


@pytest.mark.parametrize(("held_as", "open_read_only"), [("read_write", False), ("read_write", True),
                                                          ("read_only", False)])
def test_a_lock_held_by_another_process_is_recognised_with_its_holder(database, held_as, open_read_only):
    with held_by_other_process(database, held_as) as holder:
        error = connect_error(database, open_read_only)
    conflict = lock_conflict(error)
    assert type(error) is duckdb.IOException
    assert conflict is not None and conflict.path == str(database) and conflict.pid == holder.pid
    assert damage(error) is None


def test_words_that_look_like_a_lock_are_not_a_lock_conflict(database):
    with held_by_other_process(database) as holder:
        message = str(connect_error(database, False))
    assert lock_conflict(duckdb.IOException(message)) is not None
    # The same text in another exception type, a checksum error ("block" contains "lock") or a lock
    # message with something else after it are not the lock conflict.
    assert lock_conflict(duckdb.InvalidInputException(message)) is None
    assert lock_conflict(ValueError(message)) is None
    checksum = duckdb.IOException("IO Error: Corrupt database file: computed checksum 1 does not match stored "
                                  "checksum 2 in block at location 12288")
    assert lock_conflict(checksum) is None and damage(checksum) is not None
    assert lock_conflict(duckdb.IOException(message + " and something else")) is None
    assert holder.returncode == 0


def test_a_writer_waits_for_another_process_and_then_writes(database):
    warehouse = Warehouse(database, lock_timeout_s=60)
    with held_by_other_process(database) as holder:
        releaser = threading.Timer(1.0, release, [holder])
        releaser.start()
        started = time.monotonic()
        counts = warehouse.replace_partition("retail", "b1", [PartitionWrite("environment_tools", tools())])
        waited = time.monotonic() - started
        releaser.join()
    assert counts == {"environment_tools": 1}
    assert waited >= 0.5  # it really waited for the other process


def test_a_lock_held_too_long_is_one_line_naming_the_holder(database):
    warehouse = Warehouse(database, lock_timeout_s=0.5)
    frame_written = False
    with held_by_other_process(database) as holder:
        started = time.monotonic()
        with pytest.raises(WarehouseBusyError) as caught:
            warehouse.replace_partition("retail", "b1", [PartitionWrite("environment_tools", tools())])
            frame_written = True
        waited = time.monotonic() - started
    message = str(caught.value)
    assert not frame_written and "\n" not in message
    assert str(database) in message and f"PID {holder.pid}" in message
    assert 0.5 <= waited < 30
