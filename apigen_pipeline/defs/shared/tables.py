"""What the Dagster UI shows about a DuckDB-backed asset's table: its qualified name and its columns
(`dagster/table_name`, `dagster/column_schema`), read from the warehouse as it is, and the assets'
code versions."""

from __future__ import annotations

import dagster as dg

from apigen_pipeline.warehouse import Warehouse

# Bump an asset's version when the same inputs would now give different rows: Dagster then marks its
# materializations, and everything downstream, as made by older code.
CODE_VERSIONS: dict[str, str] = {
    "environment_api_specs": "1",
    "task_contexts": "1",
    "blueprints": "1",
    "committee_votes": "1",
    "recombined_blueprints": "1",
    "trajectories": "1",
    "passk_evaluation": "1",
    "training_dataset": "1",
    "generation_report": "2",  # yields are shares of the stage the items are drawn from
}


def table_metadata(store: Warehouse, table: str) -> dict[str, object]:
    schema = store.query("warehouse/table_schema", [table])
    if schema.empty:
        raise ValueError(f"table {table} is not in the warehouse")
    columns = [dg.TableColumn(name=name, type=data_type)
               for name, data_type in zip(schema["column_name"], schema["data_type"], strict=True)]
    return {"dagster/table_name": str(schema["qualified_name"].iloc[0]),
            "dagster/column_schema": dg.TableSchema(columns=columns)}
