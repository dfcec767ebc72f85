import re

import pandas as pd

from apigen_pipeline.phase1.rows import blueprint_attempt_rows, blueprint_rows, committee_vote_rows
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.phase1.settings import Phase1Config
from apigen_pipeline.warehouse import PartitionWrite
from apigen_pipeline.warehouse.sql_files import sql_root
from apigen_pipeline.warehouse.warehouse import Warehouse
from apigen_pipeline_tests.phase1.helpers import mock_contexts, mock_environment, simulated_client

LINEAGE = {"domain", "batch", "run_id", "config_hash", "materialized_at"}


def migration_columns() -> dict[str, list[str]]:
    """Each Phase 1 table's columns: created in 0003, with the columns later migrations add to them."""
    migrations = sorted((sql_root() / "migrations").glob("*.sql"))
    tables: dict[str, list[str]] = {}
    for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\);",
                                 (sql_root() / "migrations" / "0003_phase1.sql").read_text(), re.DOTALL):
        tables[name] = [line.split()[0] for line in body.strip().splitlines() if line.strip()]
    for path in migrations:
        for name, column in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", path.read_text()):
            if name in tables:
                tables[name].append(column)
    return tables


def result():
    return run_phase1(mock_contexts(20), mock_environment(), simulated_client(seed=5), Phase1Config())


def test_row_keys_match_the_migration_columns_and_partition_writes_succeed(tmp_path):
    phase1 = result()
    builders = {"blueprint_attempts": blueprint_attempt_rows, "committee_votes": committee_vote_rows,
                "blueprints": blueprint_rows}
    columns = migration_columns()
    assert set(columns) == set(builders)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    warehouse.migrate()
    writes = []
    for table, builder in builders.items():
        rows = builder(phase1)
        assert rows, table
        assert set(rows[0]) == set(columns[table]) - LINEAGE
        frame = pd.DataFrame([{**row, "domain": "mockshop", "batch": "b1", "run_id": "r", "config_hash": "c",
                               "materialized_at": None} for row in rows])
        writes.append(PartitionWrite(table, frame))
    counts = warehouse.replace_partition("mockshop", "b1", writes)
    assert counts["blueprint_attempts"] == len(phase1.attempts)
    stored = warehouse.read_partition("blueprints", "mockshop", "b1")
    assert sorted(stored["blueprint_id"]) == sorted(b.blueprint_id for b in phase1.blueprints)
    assert set(stored["kind"]) <= {"simple", "recombined"}


def test_attempt_ids_derive_from_context_and_round():
    phase1 = result()
    rows = blueprint_attempt_rows(phase1)
    simple = [r for r in rows if r["kind"] == "simple"]
    assert all(r["attempt_id"] == f"{r['context_id']}-r{r['round']}" for r in simple)
    assert len({r["attempt_id"] for r in rows}) == len(rows)
