"""Partitions: domain x batch. A batch is a daily time window, so schedules and date-range
backfills come for free; items (contexts, blueprints, trajectories) are rows inside a partition."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from apigen_pipeline.config import PipelineConfig

DOMAIN_DIMENSION = "domain"
BATCH_DIMENSION = "batch"


def build_partitions(config: PipelineConfig) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({
        DOMAIN_DIMENSION: dg.StaticPartitionsDefinition(config.domain_names),
        # end_offset=1: today's batch can be generated today, not only after midnight.
        BATCH_DIMENSION: dg.DailyPartitionsDefinition(start_date=config.batch_start_date, end_offset=1),
    })


@dataclass(frozen=True)
class Partition:
    domain: str
    batch: str

    @classmethod
    def of(cls, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> Partition:
        key = context.partition_key
        # Runs tagged only with the string form get a str: GraphQL and CLI launches, and backfill runs
        # of assets with a BackfillPolicy (they carry a one-key range instead of dimension tags).
        keys = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else parse_partition_key(key)
        return cls(domain=keys[DOMAIN_DIMENSION], batch=keys[BATCH_DIMENSION])

    def key(self) -> dg.MultiPartitionKey:
        return dg.MultiPartitionKey({DOMAIN_DIMENSION: self.domain, BATCH_DIMENSION: self.batch})


def parse_partition_key(key: str) -> dict[str, str]:
    """`"2026-11-20|retail"` -> {"batch": ..., "domain": ...}: the string form of a multi-partition key
    orders the values by dimension name."""
    names = sorted([DOMAIN_DIMENSION, BATCH_DIMENSION])
    values = key.split("|")
    if len(values) != len(names):
        raise ValueError(f"partition key {key!r} is not {'|'.join(names)}")
    return dict(zip(names, values, strict=True))
