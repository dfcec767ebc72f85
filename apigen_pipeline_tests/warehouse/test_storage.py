"""Storage modes behind the warehouse: settings from the environment, DuckLake on a local DuckDB-file
catalog (no services needed), conflict retries against real DuckLake conflicts, start-up errors.
The PostgreSQL + S3 catalog is exercised by `apigen_pipeline_tests/scaleout/` (slow)."""

import sys

import duckdb
import pandas as pd
import pytest

from apigen_pipeline.warehouse import PartitionWrite, Warehouse, content_hash
from apigen_pipeline.warehouse.errors import is_ducklake_commit_conflict
from apigen_pipeline.warehouse.lake_setup import compact_lake, initialise_lake
from apigen_pipeline.warehouse.storage import (
    StorageError,
    StorageSettings,
    close_shared_lakes,
    mask_secrets,
    open_lake_connection,
    retry_on_conflict,
    shared_lake,
)

pytest.importorskip("duckdb_extension_ducklake", reason="needs the scaleout extra (duckdb-extension-ducklake)")


@pytest.fixture(autouse=True)
def _fresh_shared_lakes():
    yield
    close_shared_lakes()


@pytest.fixture()
def lake_settings(tmp_path) -> StorageSettings:
    return StorageSettings(mode="ducklake", catalog=str(tmp_path / "catalog.ducklake"),
                           data_path=str(tmp_path / "lake_data") + "/")


@pytest.fixture()
def lake(tmp_path, lake_settings) -> Warehouse:
    initialise_lake(lake_settings)
    warehouse = Warehouse(tmp_path / "home" / "warehouse.duckdb", storage=lake_settings)
    warehouse.migrate()
    return warehouse


def tools(domain: str, batch: str, count: int, run_id: str = "r1") -> pd.DataFrame:
    return pd.DataFrame([{"domain": domain, "batch": batch, "run_id": run_id, "tool_name": f"tool_{i}",
                          "position": i} for i in range(count)])


# -- settings -------------------------------------------------------------------------------------

def test_the_default_is_the_local_duckdb_file():
    settings = StorageSettings.from_env({})
    assert settings.mode == "duckdb" and not settings.is_lake
    assert settings.required_extensions({}) == ()


def test_ducklake_settings_come_from_the_environment():
    settings = StorageSettings.from_env({
        "APIGEN_STORAGE": "ducklake", "APIGEN_LAKE_CATALOG": "postgres:dbname=lake host=db user=apigen",
        "APIGEN_LAKE_DATA_PATH": "s3://bucket/lake/", "APIGEN_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_DEFAULT_REGION": "eu-west-1"})
    assert (settings.catalog_kind, settings.on_s3) == ("postgres", True)
    assert (settings.s3.endpoint, settings.s3.use_ssl, settings.s3.region) == ("127.0.0.1:9000", False, "eu-west-1")
    with_keys = {"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}
    assert settings.required_extensions(with_keys) == ("ducklake", "postgres", "httpfs")
    # Without keys in the environment, credentials come from the AWS chain, which needs the aws extension.
    assert settings.required_extensions({}) == ("ducklake", "postgres", "httpfs", "aws")


@pytest.mark.parametrize(("env", "named"), [
    ({"APIGEN_STORAGE": "ducklake"}, "APIGEN_LAKE_CATALOG, APIGEN_LAKE_DATA_PATH"),
    ({"APIGEN_STORAGE": "ducklake", "APIGEN_LAKE_CATALOG": "x.ducklake", "APIGEN_LAKE_DATA_PATH": "rel/"},
     "absolute folder"),
    ({"APIGEN_STORAGE": "lakehouse"}, "APIGEN_STORAGE='lakehouse': Input should be 'duckdb' or 'ducklake'"),
    ({"APIGEN_LAKE_INLINE_ROWS": "many"}, "APIGEN_LAKE_INLINE_ROWS='many'"),
])
def test_bad_storage_environment_is_named(env, named):
    with pytest.raises(StorageError, match="APIGEN_"):
        try:
            StorageSettings.from_env(env)
        except StorageError as error:
            assert named in str(error)
            raise


def test_passwords_never_reach_messages():
    masked = mask_secrets("postgres:dbname=lake host=db password=s3cr3t user=x")
    assert "s3cr3t" not in masked and "password=***" in masked and "user=x" in masked


# -- DuckLake on a local catalog ----------------------------------------------------------------

def test_a_lake_holds_the_same_rows_as_the_local_file(tmp_path, lake):
    local = Warehouse(tmp_path / "local.duckdb")
    local.migrate()
    for store in (local, lake):
        store.replace_partition("retail", "2026-01-01", [PartitionWrite("environment_tools", tools("retail", "2026-01-01", 5))])
        store.replace_partition("airline", "2026-01-01", [PartitionWrite("environment_tools", tools("airline", "2026-01-01", 30))])
        # A re-run replaces, never duplicates, in both modes.
        store.replace_partition("retail", "2026-01-01", [PartitionWrite("environment_tools", tools("retail", "2026-01-01", 4, "r2"))])
    for domain, expected in (("retail", 4), ("airline", 30)):
        frames = [s.read_partition("environment_tools", domain, "2026-01-01") for s in (local, lake)]
        assert [len(f) for f in frames] == [expected, expected]
        assert content_hash(frames[0], ["position"]) == content_hash(frames[1], ["position"])
    # Small writes stay inline in the catalog until the maintenance step moves them to Parquet.
    assert not list((tmp_path / "lake_data").rglob("*.parquet"))
    compact_lake(lake.storage)
    assert list((tmp_path / "lake_data").rglob("*.parquet")), "DuckLake data files land under data_path"
    assert len(lake.read_partition("environment_tools", "airline", "2026-01-01")) == 30
    assert not (tmp_path / "home" / "warehouse.duckdb").exists(), "lake mode never creates the local file"


def test_one_attach_serves_every_warehouse_of_a_process(tmp_path, lake, lake_settings):
    other = Warehouse(tmp_path / "elsewhere" / "w.duckdb", storage=lake_settings)
    other.migrate()
    with lake.connect() as first, other.connect() as second:
        assert first.execute("SELECT current_database()").fetchone() == ("lake",)
        assert second.execute("SELECT current_database()").fetchone() == ("lake",)
    assert shared_lake(lake_settings) is shared_lake(lake_settings)
    assert shared_lake(lake_settings).timings.attach_s > 0


def test_workers_refuse_a_catalog_the_setup_step_did_not_create(tmp_path, lake_settings):
    worker = Warehouse(tmp_path / "w.duckdb", storage=lake_settings)
    with pytest.raises(StorageError, match="not initialised: run the setup step"):
        worker.migrate()


def test_workers_refuse_a_catalog_with_pending_migrations(tmp_path, lake_settings):
    from apigen_pipeline.warehouse.migrations import Migration, discover_migrations

    initialise_lake(lake_settings)
    close_shared_lakes()
    newer = [*discover_migrations(), Migration(9001, "later", "CREATE TABLE IF NOT EXISTS later_t (domain VARCHAR);")]
    with pytest.raises(StorageError, match="lacks migrations 9001"):
        Warehouse(tmp_path / "w.duckdb", storage=lake_settings, migrations=newer).migrate()


def test_a_write_conflict_is_retried_and_counted(lake):
    batch = "2026-01-01"
    for domain in ("retail", "airline"):
        lake.replace_partition(domain, batch, [PartitionWrite("environment_tools", tools(domain, batch, 2))])
    interfered = []

    def replace_retail(con: duckdb.DuckDBPyConnection) -> int:
        con.execute("DELETE FROM environment_tools WHERE domain = 'retail'")
        if not interfered:
            # Another writer replaces a different partition of the same table and commits first.
            interfered.append(True)
            lake.replace_partition("airline", batch, [PartitionWrite("environment_tools", tools("airline", batch, 7))])
        con.register("incoming_rows", tools("retail", batch, 3, "r2"))
        con.execute("INSERT INTO environment_tools BY NAME SELECT * FROM incoming_rows")
        con.unregister("incoming_rows")
        return 3

    assert lake.write_transaction(replace_retail) == 3
    assert lake.conflict_retries == 1
    assert len(lake.read_partition("environment_tools", "retail", batch)) == 3
    assert len(lake.read_partition("environment_tools", "airline", batch)) == 7


# DuckLake 1.5.5's message for two writers on one table (seen in the conflict test above).
REAL_CONFLICT = ("TransactionContext Error: Failed to commit: Failed to commit DuckLake transaction.\nTransaction "
                 'conflict - attempting to insert into table with index "6" - but another transaction has deleted '
                 "inlined data from it")


def test_retry_gives_up_after_the_configured_attempts_and_never_retries_other_errors():
    conflict = duckdb.TransactionException(REAL_CONFLICT)
    calls = []

    def always_conflicts() -> None:
        calls.append(1)
        raise conflict

    with pytest.raises(duckdb.TransactionException):
        retry_on_conflict(always_conflicts, attempts=3, backoff_s=0.0)
    assert len(calls) == 3

    calls.clear()

    def broken() -> None:
        calls.append(1)
        raise duckdb.CatalogException("Table with name nope does not exist")

    with pytest.raises(duckdb.CatalogException):
        retry_on_conflict(broken, attempts=5, backoff_s=0.0)
    assert len(calls) == 1
    assert is_ducklake_commit_conflict(conflict)
    # The same words in another error type or elsewhere in a message are not a commit conflict.
    assert not is_ducklake_commit_conflict(ValueError(REAL_CONFLICT))
    assert not is_ducklake_commit_conflict(duckdb.IOException(REAL_CONFLICT))
    assert not is_ducklake_commit_conflict(duckdb.TransactionException("Transaction conflict - x"))


# -- start-up failures --------------------------------------------------------------------------

def test_a_missing_extension_wheel_fails_at_once_naming_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb_extension_sqlite", None)  # the wheel is not installed
    settings = StorageSettings(mode="ducklake", catalog=f"sqlite:{tmp_path / 'c.sqlite'}",
                               data_path=str(tmp_path / "d") + "/", extension_directory=str(tmp_path / "ext"))
    with pytest.raises(StorageError, match=r"duckdb-extension-sqlite==1\.5\.5"):
        open_lake_connection(settings)


def test_an_unreachable_catalog_is_named_without_its_password(tmp_path):
    settings = StorageSettings(mode="ducklake", catalog=str(tmp_path / "no" / "such" / "dir" / "c.ducklake"),
                               data_path=str(tmp_path / "d") + "/", migrate_on_open=True)
    with pytest.raises(StorageError, match="cannot attach the DuckLake catalog"):
        open_lake_connection(settings)
