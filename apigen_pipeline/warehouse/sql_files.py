"""SQL lives in files under `sql/` (the repo's top level, shipped in the wheel as `apigen_pipeline/_sql`)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_CREATE_VIEW = "CREATE OR REPLACE VIEW "


def sql_root() -> Path:
    packaged = Path(__file__).resolve().parents[1] / "_sql"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "sql"


@cache
def load_sql(name: str) -> str:
    """`load_sql("warehouse/delete_partition")` -> the text of `sql/warehouse/delete_partition.sql`."""
    path = sql_root() / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL file {path}")
    return path.read_text()


def with_table(name: str, table: str, known_tables: set[str]) -> str:
    """Fill the `{table}` identifier slot of a template; only names that exist in the schema pass."""
    if not _IDENTIFIER.match(table) or table not in known_tables:
        raise ValueError(f"unknown warehouse table '{table}'")
    return load_sql(name).replace("{table}", f'"{table}"')


def as_temporary_view(name: str) -> str:
    """A `CREATE OR REPLACE VIEW` file (e.g. `views/generation_failures`) as a TEMP view, which a
    read-only connection may create: the operator commands read through the same view, never writing."""
    sql = load_sql(name)
    if sql.count(_CREATE_VIEW) != 1:
        raise ValueError(f"SQL file {name} does not create exactly one view")
    return sql.replace(_CREATE_VIEW, "CREATE OR REPLACE TEMP VIEW ", 1)
