import threading

import duckdb
import pandas as pd
import pytest

from apigen_pipeline.warehouse import PartitionWrite, SchemaError, Warehouse, content_hash
from apigen_pipeline.warehouse.migrations import Migration, discover_migrations
from apigen_pipeline.warehouse.sql_files import as_temporary_view, load_sql, with_table


@pytest.fixture()
def warehouse(tmp_path) -> Warehouse:
    w = Warehouse(tmp_path / "w.duckdb")
    w.migrate()
    return w


def tools_frame(domain: str, batch: str, names: list[str], run_id: str = "r1") -> pd.DataFrame:
    return pd.DataFrame([{"domain": domain, "batch": batch, "run_id": run_id, "tool_name": n, "position": i}
                         for i, n in enumerate(names)])


def test_migrations_apply_once_and_are_recorded(tmp_path):
    w = Warehouse(tmp_path / "w.duckdb")
    first = w.migrate()
    assert first == [m.version for m in discover_migrations()]
    assert w.migrate() == []
    assert w.schema_version() == max(first)


def test_a_newer_schema_on_disk_is_a_clear_error(tmp_path):
    path = tmp_path / "w.duckdb"
    future = [*discover_migrations(), Migration(9999, "from_the_future", "CREATE TABLE future_t (x INTEGER);")]
    Warehouse(path, migrations=future).migrate()
    with pytest.raises(SchemaError, match="schema version 9999 but this code knows up to"):
        Warehouse(path).migrate()


def test_an_edited_migration_is_refused(tmp_path):
    path = tmp_path / "w.duckdb"
    migrations = discover_migrations()
    Warehouse(path, migrations=migrations).migrate()
    edited = [Migration(migrations[0].version, migrations[0].name, migrations[0].sql + "\n-- edited")] + migrations[1:]
    with pytest.raises(SchemaError, match="was edited after it was applied"):
        Warehouse(path, migrations=edited).migrate()


def test_a_failing_migration_leaves_nothing_half_applied(tmp_path):
    path = tmp_path / "w.duckdb"
    bad = [*discover_migrations(), Migration(9000, "bad", "CREATE TABLE ok_t (x INTEGER); SELECT * FROM missing_t;")]
    with pytest.raises(duckdb.Error):
        Warehouse(path, migrations=bad).migrate()
    with duckdb.connect(str(path)) as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        versions = {r[0] for r in con.execute("select version from schema_migrations").fetchall()}
    assert "ok_t" not in tables and 9000 not in versions


def test_replacing_a_partition_never_duplicates_and_leaves_others_alone(warehouse):
    warehouse.replace_partition("retail", "b1", [PartitionWrite("environment_tools", tools_frame("retail", "b1", ["a", "b"]))])
    warehouse.replace_partition("airline", "b1", [PartitionWrite("environment_tools", tools_frame("airline", "b1", ["x"]))])
    warehouse.replace_partition("retail", "b1", [PartitionWrite("environment_tools", tools_frame("retail", "b1", ["c"]))])
    assert list(warehouse.read_partition("environment_tools", "retail", "b1")["tool_name"]) == ["c"]
    assert list(warehouse.read_partition("environment_tools", "airline", "b1")["tool_name"]) == ["x"]


def test_a_failed_write_keeps_the_previous_partition(warehouse):
    warehouse.replace_partition("retail", "b1", [PartitionWrite("environment_tools", tools_frame("retail", "b1", ["a"]))])
    bad = pd.DataFrame([{"domain": "retail", "batch": "b1", "no_such_column": 1}])
    with pytest.raises(duckdb.Error):
        warehouse.replace_partition("retail", "b1", [
            PartitionWrite("environment_tools", tools_frame("retail", "b1", ["new"])),
            PartitionWrite("task_contexts", bad)])
    assert list(warehouse.read_partition("environment_tools", "retail", "b1")["tool_name"]) == ["a"]


def test_rows_outside_the_partition_are_rejected(warehouse):
    with pytest.raises(ValueError, match="outside partition retail/b1"):
        warehouse.replace_partition("retail", "b1", [PartitionWrite("environment_tools", tools_frame("retail", "b2", ["a"]))])


def test_unknown_tables_never_reach_sql(warehouse):
    with pytest.raises(ValueError, match="unknown warehouse table"):
        warehouse.read_partition("environment_tools; drop table x", "retail", "b1")
    with pytest.raises(ValueError):
        with_table("warehouse/select_partition", "nope", warehouse.known_tables())


def test_content_hash_ignores_which_run_wrote_rows(warehouse):
    a = tools_frame("retail", "b1", ["a", "b"], run_id="r1")
    b = tools_frame("retail", "b1", ["b", "a"], run_id="r2").assign(position=[1, 0])
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(tools_frame("retail", "b1", ["a", "c"]))


def test_concurrent_writers_wait_for_the_lock_instead_of_failing(warehouse):
    errors: list[Exception] = []

    def write(domain: str) -> None:
        try:
            for i in range(5):
                warehouse.replace_partition(domain, "b1", [PartitionWrite("environment_tools",
                                                                         tools_frame(domain, "b1", [f"t{i}"]))])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(d,)) for d in ("retail", "airline")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_sql_files_load_and_missing_ones_are_named():
    assert "DELETE FROM {table}" in load_sql("warehouse/delete_partition")
    with pytest.raises(FileNotFoundError, match="no SQL file"):
        load_sql("warehouse/does_not_exist")


def test_a_view_file_becomes_a_temporary_view_a_read_only_connection_may_create(warehouse):
    with warehouse.connect(read_only=True) as con:
        with pytest.raises(duckdb.InvalidInputException, match="read-only"):
            con.execute(load_sql("views/generation_failures"))
        con.execute(as_temporary_view("views/generation_failures"))
        assert con.execute("SELECT count(*) FROM generation_failures").fetchone() == (0,)
    with pytest.raises(ValueError, match="does not create exactly one view"):
        as_temporary_view("warehouse/delete_partition")
