"""The sensor that relaunches a partition once every provider batch it left open has ended.

A step whose provider batches outlive `batch_max_wait_s` is retried by its run (`dg.RetryRequested`), so
the run's process waits; a run that was stopped (canceled, failed, its process gone) leaves its batches
open at the provider. This sensor polls the open batches of `llm_batch_items` (`llm/batch/watch.py`)
and, for each partition whose open batches have all ended and of which no run is queued or in
progress, requests a run of the partition: its steps replay what the request log holds and read the
ended batches' results. One run key per set of ended batches, so a partition is relaunched once for
them (a run that fails again is a person's, or run retries', to handle).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import dagster as dg

from apigen_pipeline.defs.automation.batches import (
    BatchAutomation,
    BatchRequest,
    not_yet_requested,
)
from apigen_pipeline.defs.shared.partitions import BATCH_DIMENSION, DOMAIN_DIMENSION, parse_partition_key
from apigen_pipeline.defs.shared.policies import BATCH_TAG, DOMAIN_TAG
from apigen_pipeline.defs.shared.resources import WarehouseResource
from apigen_pipeline.llm.batch import BatchStore
from apigen_pipeline.llm.batch.api import BatchAPI
from apigen_pipeline.llm.batch.watch import default_api_for, watch_batches
from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.warehouse import Warehouse

ENDED_BATCHES_SENSOR_NAME = "relaunch_ended_provider_batches"
ENDED_BATCHES_INTERVAL_S = 300
PARTITION_TAG = "dagster/partition"
IN_PROGRESS = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING,
               dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def ended_batches_run_key(domain: str, batch: str, provider_batch_ids: list[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(provider_batch_ids)).encode()).hexdigest()[:16]
    return f"provider-batches-ended:{domain}:{batch}:{digest}"


def partitions_in_progress(instance: dg.DagsterInstance) -> set[tuple[str, str]]:
    """(domain, batch) of every run queued or in progress, by its partition tag or this automation's tags."""
    busy = set()
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        tags = run.tags
        if DOMAIN_TAG in tags and BATCH_TAG in tags:
            busy.add((tags[DOMAIN_TAG], tags[BATCH_TAG]))
        if PARTITION_TAG in tags:
            try:
                keys = parse_partition_key(tags[PARTITION_TAG])
            except ValueError:
                continue
            busy.add((keys[DOMAIN_DIMENSION], keys[BATCH_DIMENSION]))
    return busy


def ended_batches_requests(automation: BatchAutomation, instance: dg.DagsterInstance, warehouse: Warehouse,
                           api_for: Callable[[ModelRef], BatchAPI] = default_api_for,
                           ) -> dg.SensorResult | dg.SkipReason:
    watch = watch_batches(BatchStore(warehouse), automation.config.llm, api_for)
    if not watch.ready and not watch.waiting:
        return dg.SkipReason("no open provider batch")
    busy = partitions_in_progress(instance)
    planned = [BatchRequest(domain, batch, ENDED_BATCHES_SENSOR_NAME, ended_batches_run_key(domain, batch, ids))
               for (domain, batch), ids in sorted(watch.ready.items())
               if domain in automation.config.domain_names and (domain, batch) not in busy]
    fresh = not_yet_requested(instance, planned)
    waiting = "; ".join(f"{domain}/{batch} waits ({why})" for (domain, batch), why in sorted(watch.waiting.items()))
    if not fresh:
        ready = ", ".join(f"{domain}/{batch}" for domain, batch in sorted(watch.ready)) or "none"
        return dg.SkipReason(f"nothing to relaunch: ended: {ready} (in progress, already relaunched or no longer "
                             f"a partition){'; ' + waiting if waiting else ''}")
    return dg.SensorResult(run_requests=[automation.run_request(p) for p in fresh])


def ended_batches_sensor(automation: BatchAutomation, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    uses_batches = any(route.batch for route in automation.config.llm.all_routes())

    @dg.sensor(
        name=ENDED_BATCHES_SENSOR_NAME,
        job=job,
        minimum_interval_seconds=ENDED_BATCHES_INTERVAL_S,
        # Running by default only where a role goes through a provider batch: it reads the warehouse.
        default_status=dg.DefaultSensorStatus.RUNNING if uses_batches else dg.DefaultSensorStatus.STOPPED,
        description="Relaunches a partition once every provider batch it left open (llm_batch_items) has "
                    "ended at its provider and no run of the partition is queued or in progress, so a stopped "
                    "run's batches are read without a process waiting on them.",
    )
    def relaunch_ended_provider_batches(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        return ended_batches_requests(automation, context.instance, warehouse.get())

    return relaunch_ended_provider_batches
