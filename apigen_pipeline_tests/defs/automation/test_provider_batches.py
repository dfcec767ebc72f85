"""The ended-batches sensor on a real instance, over batches submitted to the wire server: a partition is
relaunched once all its open provider batches ended, not while one still runs, not while a run of it is in
progress, and once per set of ended batches; after the relaunched partition read them there is nothing left."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.defs.automation.provider_batches import ENDED_BATCHES_SENSOR_NAME
from apigen_pipeline.defs.shared.policies import RUN_KEY_TAG, TRIGGER_TAG
from apigen_pipeline.defs.shared.resources import WarehouseResource
from apigen_pipeline.llm.batch import BatchPendingError, BatchStore
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.types import ChatMessage, LLMRequest
from apigen_pipeline.paths import warehouse_path
from apigen_pipeline.testing.wire_batches import mount_batches
from apigen_pipeline.testing.wire_servers import OpenAIWireServer
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.defs.automation.test_automation import (
    MOCK_PLUGIN,
    full_definitions,
    requested_partitions,
)

KEY_ENV = "APIGEN_SENSOR_TEST_KEY"
PARTITION = ("mockshop", "2026-11-20")


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-sensor")


def batch_config(base_url: str) -> PipelineConfig:
    generator = {"provider": "openai", "model": "wire-test-model", "base_url": base_url, "api_key_env": KEY_ENV,
                 "timeout_s": 5, "batch": True}
    return PipelineConfig.model_validate({
        "domains": [{"name": "mockshop", "plugin": MOCK_PLUGIN}, {"name": "minishop", "plugin": MOCK_PLUGIN}],
        "sampling": {"contexts_per_partition": 4},
        "llm": {"backend_override": "configured", "roles": {"generator": generator}, "batch_poll_interval_s": 0.05,
                "batch_max_wait_s": 0.3},
    })


def generate(config: PipelineConfig, warehouse: Warehouse) -> list:
    """What a step of the partition asks: three generator requests, through a provider batch."""
    asked = [LLMRequest(role="generator", messages=[ChatMessage(role="user", content=f"Write task {i}.")])
             for i in range(3)]
    context = CallContext(domain=PARTITION[0], batch=PARTITION[1], run_id="sensor-test", asset="blueprints")
    with RequestLog(warehouse, background=False) as log:
        gateway = LLMGateway(config.llm, log, batch_store=BatchStore(warehouse))
        try:
            return gateway.complete_many(asked, context)
        finally:
            log.flush()


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, home) -> dg.SensorExecutionData:
    sensor = defs.resolve_sensor_def(ENDED_BATCHES_SENSOR_NAME)
    context = dg.build_sensor_context(instance=instance, definitions=defs,
                                      resources={"warehouse": WarehouseResource(home=str(home))})
    return sensor.evaluate_tick(context)


def test_a_partition_is_relaunched_once_its_open_batches_ended_and_no_run_of_it_is_in_progress(instance, tmp_path):
    warehouse = Warehouse(warehouse_path(tmp_path))
    with OpenAIWireServer() as server:
        endpoints = mount_batches(server, completion_delay_s=60)
        config = batch_config(server.base_url)
        defs = full_definitions(config)
        assert defs.resolve_sensor_def(ENDED_BATCHES_SENSOR_NAME).default_status == dg.DefaultSensorStatus.RUNNING
        assert "no open provider batch" in tick(defs, instance, tmp_path).skip_message
        with pytest.raises(BatchPendingError):  # the run's step gave up waiting; say the run was stopped
            generate(config, warehouse)
        (batch_id,) = endpoints.batch_ids
        running = tick(defs, instance, tmp_path)
        assert not running.run_requests and f"{batch_id}: still running" in running.skip_message

        endpoints.completion_delay_s = 0.0  # the provider finishes while no process waits
        in_progress = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED,
                                          tags={"dagster/partition": f"{PARTITION[1]}|{PARTITION[0]}"})
        assert not tick(defs, instance, tmp_path).run_requests  # that run's retry reads the batch itself
        instance.report_run_failed(in_progress)

        (request,) = tick(defs, instance, tmp_path).run_requests
        assert requested_partitions([request]) == [PARTITION]
        assert request.run_key.startswith(f"provider-batches-ended:{PARTITION[0]}:{PARTITION[1]}:")
        assert request.tags[TRIGGER_TAG] == ENDED_BATCHES_SENSOR_NAME
        relaunched = dg.DagsterRun(job_name="generate_batch", run_id=str(uuid.uuid4()),
                                   status=dg.DagsterRunStatus.FAILURE, tags={**request.tags, RUN_KEY_TAG: request.run_key})
        instance.add_run(relaunched)
        assert "already relaunched" in tick(defs, instance, tmp_path).skip_message  # once per set of ended batches

        results = generate(config, warehouse)  # what the relaunched run's step does: reads the ended batch
    assert all(r.ok for r in results)
    assert endpoints.batch_ids == [batch_id]
    assert "no open provider batch" in tick(defs, instance, tmp_path).skip_message


def test_a_batch_of_a_model_no_longer_configured_for_batches_keeps_its_partition_waiting(instance, tmp_path):
    warehouse = Warehouse(warehouse_path(tmp_path))
    with OpenAIWireServer() as server:
        mount_batches(server, completion_delay_s=60)
        with pytest.raises(BatchPendingError):
            generate(batch_config(server.base_url), warehouse)
    moved = batch_config("http://127.0.0.1:9/v1")  # the generator now points elsewhere
    data = tick(full_definitions(moved), instance, tmp_path)
    assert not data.run_requests
    assert "is not configured for batches" in data.skip_message
