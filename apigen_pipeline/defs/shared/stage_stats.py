"""Per-stage summary statistics of a partition, kept in the warehouse for the generation report."""

from __future__ import annotations

import dagster as dg

from apigen_pipeline.defs.shared.frames import partition_frame
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.warehouse import PartitionWrite, Warehouse

_LINEAGE = ("domain", "batch", "run_id", "config_hash", "materialized_at")


def replace_stage_stats(store: Warehouse, stage: str, stats_json: str, partition: Partition,
                        context: dg.AssetExecutionContext, config_hash: str) -> None:
    """One row per stage: rewrite this stage's row, keep the other stages' rows of the partition."""
    existing = store.read_partition("stage_stats", partition.domain, partition.batch)
    others = [{k: v for k, v in row.items() if k not in _LINEAGE}
              for row in existing.to_dict("records") if row["stage"] != stage]
    frame = partition_frame([*others, {"stage": stage, "stats": stats_json}], partition, context, config_hash)
    store.replace_partition(partition.domain, partition.batch, [PartitionWrite("stage_stats", frame)])
