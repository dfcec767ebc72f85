"""A damaged warehouse file (truncated; an overwritten block in the middle; an overwritten header) fails
when it is opened, before anything is written into it, at once (no lock-wait loop), in one line naming
the file and what to do; its bytes stay as they were. Whole files are scanned only when something other
than apigen changed them (the stamp)."""

import hashlib
import os
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from apigen_pipeline.warehouse import PartitionWrite, Warehouse
from apigen_pipeline.warehouse.errors import WarehouseDamagedError
from apigen_pipeline.warehouse.integrity import FileIdentity, read_stamp, stamp_path, verify_file
from apigen_pipeline_tests.warehouse.built_warehouse import (
    build_warehouse,
    duckdb_opens_but_cannot_read_every_table,
    flip_bytes,
    middle_data_block,
)

# Far above the few milliseconds the check takes on these files, far below the 120 s lock wait that
# used to swallow a checksum error ("block" contains "lock"): proves the failure does not wait.
FAILS_AT_ONCE_S = 5.0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def overwrite_middle_block(path: Path) -> None:
    flip_bytes(path, MIDDLE_DATA_BLOCK[path.stat().st_size] + 4096)


def overwrite_header(path: Path) -> None:
    """DuckDB then fails at connect with "... in block at location 4096": "block" once read as "lock"."""
    flip_bytes(path, 4096, 64)


# The offset of the block nearest the middle of the file that holds data (file size -> offset).
MIDDLE_DATA_BLOCK: dict[int, int] = {}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pristine")
    path = folder / "warehouse.duckdb"
    build_warehouse(path)
    assert path.stat().st_size > 20 * 262_144
    MIDDLE_DATA_BLOCK[path.stat().st_size] = middle_data_block(path, folder / "trial.duckdb")
    assert not duckdb_opens_but_cannot_read_every_table(path)
    return path


@pytest.fixture()
def copy_of(pristine, tmp_path):
    def make() -> Path:
        path = tmp_path / "warehouse.duckdb"
        path.write_bytes(pristine.read_bytes())
        return path
    return make


def task_contexts(domain: str, batch: str) -> pd.DataFrame:
    return pd.DataFrame([{"domain": domain, "batch": batch, "run_id": "new-run", "context_id": "c1"}])


@pytest.mark.parametrize("corrupt", [truncate_half, overwrite_middle_block, overwrite_header])
def test_a_damaged_file_fails_at_open_before_any_write(copy_of, corrupt):
    path = copy_of()
    corrupt(path)
    before = sha256(path)
    started = time.monotonic()
    with pytest.raises(WarehouseDamagedError) as caught:
        Warehouse(path).replace_partition("retail", "2026-11-22", [PartitionWrite("task_contexts",
                                                                                  task_contexts("retail", "2026-11-22"))])
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert elapsed < FAILS_AT_ONCE_S
    assert "\n" not in message and str(path) in message and "left unchanged" in message
    assert f"mv {path} {path}.damaged" in message
    assert sha256(path) == before
    assert not Path(f"{path}.wal").exists()


@pytest.mark.parametrize("corrupt", [truncate_half, overwrite_middle_block])
def test_migrating_a_damaged_file_fails_the_same_way(copy_of, corrupt):
    """What the Dagster resource does first: `migrate()` never writes into a damaged file either."""
    path = copy_of()
    corrupt(path)
    before = sha256(path)
    with pytest.raises(WarehouseDamagedError, match="is damaged"):
        Warehouse(path).migrate()
    assert sha256(path) == before


def test_reading_a_damaged_block_is_one_line_too(copy_of):
    path = copy_of()
    overwrite_middle_block(path)
    with pytest.raises(WarehouseDamagedError, match="fails its checksum") as caught, \
            Warehouse(path).connect(read_only=True) as con:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            con.execute(f'SELECT * FROM "{table}"').fetchall()
    assert "\n" not in str(caught.value)


def test_a_whole_file_written_by_apigen_is_vouched_for_by_its_stamp(copy_of, pristine):
    path = copy_of()
    # A copy is a new file (new inode): it is scanned once, then its stamp vouches for it.
    first = verify_file(path, lambda: duckdb.connect(str(path), read_only=True))
    second = verify_file(path, lambda: duckdb.connect(str(path), read_only=True))
    assert first.scanned and first.tables >= 10
    assert not second.scanned
    # Writes through the warehouse keep the stamp current.
    Warehouse(path).replace_partition("retail", "2026-11-22", [PartitionWrite("task_contexts",
                                                                              task_contexts("retail", "2026-11-22"))])
    assert read_stamp(path) == FileIdentity.of(path)
    assert not verify_file(path, lambda: duckdb.connect(str(path), read_only=True)).scanned


def test_a_change_apigen_did_not_make_is_scanned_again(copy_of):
    path = copy_of()
    Warehouse(path).migrate()
    with duckdb.connect(str(path)) as con:  # another tool writes the file
        con.execute("CREATE TABLE notes (text VARCHAR)")
    assert read_stamp(path) != FileIdentity.of(path)
    check = verify_file(path, lambda: duckdb.connect(str(path), read_only=True))
    assert check.scanned and read_stamp(path) == FileIdentity.of(path)


def test_a_connection_that_failed_leaves_no_stamp_that_vouches_for_what_it_wrote(copy_of):
    path = copy_of()
    warehouse = Warehouse(path)
    warehouse.migrate()
    with pytest.raises(duckdb.CatalogException), warehouse.connect() as con:
        con.execute("CREATE TABLE scratch AS SELECT range AS n FROM range(100000)")
        con.execute("INSERT INTO no_such_table VALUES (1)")
    assert read_stamp(path) != FileIdentity.of(path)
    assert verify_file(path, lambda: duckdb.connect(str(path), read_only=True)).scanned


def test_nested_connections_of_one_thread_share_the_checked_database(copy_of):
    path = copy_of()
    warehouse = Warehouse(path)
    stamp_path(path).unlink(missing_ok=True)
    with warehouse.connect() as outer, warehouse.connect() as inner:
        assert outer.execute("SELECT count(*) FROM blueprint_attempts").fetchone() == \
            inner.execute("SELECT count(*) FROM blueprint_attempts").fetchone()
