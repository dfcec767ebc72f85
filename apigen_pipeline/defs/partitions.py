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
    def of(cls, context: dg.AssetExecutionContext) -> Partition:
        keys = context.partition_key.keys_by_dimension  # type: ignore[attr-defined]
        return cls(domain=keys[DOMAIN_DIMENSION], batch=keys[BATCH_DIMENSION])

    def key(self) -> dg.MultiPartitionKey:
        return dg.MultiPartitionKey({DOMAIN_DIMENSION: self.domain, BATCH_DIMENSION: self.batch})
