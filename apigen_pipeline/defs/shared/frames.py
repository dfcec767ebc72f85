"""Rows from the pure core become a partition's DataFrame: partition and lineage columns added."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from apigen_pipeline.defs.shared.partitions import Partition


def partition_frame(rows: Iterable[Mapping[str, Any]], partition: Partition, context: dg.AssetExecutionContext,
                    config_hash: str) -> pd.DataFrame:
    materialized_at = datetime.now(UTC).replace(tzinfo=None)
    run_id = context.run.run_id
    records = []
    for row in rows:
        record = {"domain": partition.domain, "batch": partition.batch, "run_id": run_id,
                  "config_hash": config_hash, "materialized_at": materialized_at}
        for key, value in row.items():
            record[key] = json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value
        records.append(record)
    return pd.DataFrame.from_records(records)
