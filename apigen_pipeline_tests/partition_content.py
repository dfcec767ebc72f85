"""What a partition holds, comparable across warehouses: a (row count, content hash) per partitioned table.

Two warehouses that ran the same partition (a lake and a local file, two concurrent runs and a single
one) must hold the same rows, apart from which run wrote them and when.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from apigen_pipeline.warehouse import Warehouse, content_hash

# Which-run columns, plus the request log's per-attempt bookkeeping (ids, clock times, latencies).
VOLATILE = {"llm_requests": ["entry_id", "created_at", "latency_s"]}
REPLY_COLUMNS = ("response_json", "repair_json")  # JSON holding replies, each with its `usage`

# What the provider billed for the same answers depends on what its prompt cache already held (a second
# run against one server reads prefixes the first one wrote): leave it out with `ignoring=PROVIDER_BILLING`
# where two runs share a provider, never the answers and rows themselves. The request log's replies
# (`response_json`, and each rejected reply in `repair_json`) repeat their usage, cache counts included: the
# same fields are left out of it there.
PROVIDER_BILLING = ("cached_input_tokens", "cache_write_input_tokens", "cost_usd", "projected_cost_usd",
                    "cost_per_verified_trajectory", "projected_cost_per_verified_trajectory")


def partitioned_tables(warehouse: Warehouse) -> list[str]:
    """Every table with domain and batch columns."""
    with warehouse.connect() as con:
        rows = con.execute("SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
                           "AND column_name IN ('domain', 'batch') GROUP BY table_name HAVING count(*) = 2 "
                           "ORDER BY table_name").fetchall()
    return [row[0] for row in rows]


def partition_hashes(warehouse: Warehouse, domain: str, batch: str, tables: list[str],
                     ignoring: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """`ignoring`: more columns to leave out of every table (e.g. `config_hash` across two configs)."""
    hashes = {}
    for table in tables:
        frame = warehouse.read_partition(table, domain, batch).drop(columns=VOLATILE.get(table, []))
        frame = frame.drop(columns=[column for column in ignoring if column in frame.columns])
        for column in (c for c in REPLY_COLUMNS if ignoring and c in frame.columns):
            frame[column] = frame[column].map(lambda text: _replies_without(text, ignoring))
        # Sums of floats (costs) depend on the order rows are scanned in, which differs between a
        # file and Parquet on S3 or between ingestion orders: compare them to 9 decimals, the rest exactly.
        floats = frame.select_dtypes("float").columns
        frame[floats] = frame[floats].round(9)
        hashes[table] = (len(frame), content_hash(frame))
    return hashes


def _replies_without(replies_json: str | None, ignoring: tuple[str, ...]) -> str | None:
    """Logged replies with the `ignoring` fields left out of every `usage` in them."""
    if replies_json is None or pd.isna(replies_json):
        return replies_json
    return json.dumps(_without_usage_fields(json.loads(replies_json), ignoring))


def _without_usage_fields(value: Any, ignoring: tuple[str, ...]) -> Any:
    if isinstance(value, list):
        return [_without_usage_fields(item, ignoring) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: ({k: v for k, v in item.items() if k not in ignoring} if key == "usage" and isinstance(item, dict)
                  else _without_usage_fields(item, ignoring)) for key, item in value.items()}
