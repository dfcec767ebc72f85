"""The LLM resource turns a batch that must stop into one `dg.Failure` line: never retried when every
request would fail the same way (dead endpoint, auth, unknown model), retried when the failures pass."""

import dagster as dg
import pytest

from apigen_pipeline.defs.shared.llm_resource import BoundClient, LLMResource
from apigen_pipeline.llm.batch import BatchStore
from apigen_pipeline.llm.config import LLMSettings, ModelRef, RetrySettings, RoleModels
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.simulated_faults import FaultRates
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest, LLMResponse
from apigen_pipeline.simulated import Phase1SimulationRates, Phase2SimulationRates, SimulatedBackend
from apigen_pipeline.testing.wire_batches import mount_batches
from apigen_pipeline.testing.wire_servers import OpenAIWireServer
from apigen_pipeline.warehouse import Warehouse

CONTEXT = CallContext(domain="retail", batch="2026-01-01", run_id="r1", asset="blueprints")
SETTINGS = LLMSettings(backend_override="openai:gpt-4o", failure_rate_min_requests=4, max_concurrency=1,
                       retry=RetrySettings(max_attempts_transient=1, max_attempts_connection=1))


class Failing:
    name = "openai"

    def __init__(self, kind: ErrorKind, message: str):
        self.error = ProviderError(kind, message)

    async def send(self, request: LLMRequest, model: str) -> LLMResponse:
        raise self.error

    async def aclose(self) -> None:
        return None


def requests(count: int) -> list[LLMRequest]:
    return [LLMRequest(role="generator", messages=[ChatMessage(role="user", content=f"q{i}")]) for i in range(count)]


@pytest.mark.parametrize(("kind", "message", "expected"), [
    (ErrorKind.UNREACHABLE, "openai at http://127.0.0.1:9/v1: connection refused (nothing listening?)",
     "LLM endpoint unreachable for openai:gpt-4o (role generator) after 1 attempts: "
     "openai at http://127.0.0.1:9/v1: connection refused (nothing listening?)"),
    (ErrorKind.UNKNOWN_MODEL, "openai at https://api.example/v1: unknown model (HTTP 404): no gpt-4o here",
     "permanent error (unknown_model) from openai:gpt-4o for role generator: "
     "openai at https://api.example/v1: unknown model (HTTP 404): no gpt-4o here"),
])
def test_a_batch_every_request_would_fail_becomes_one_non_retryable_failure(tmp_path, kind, message, expected):
    with RequestLog(Warehouse(tmp_path / "w.duckdb"), background=False) as log:
        client = BoundClient(LLMGateway(SETTINGS, log, {"openai": Failing(kind, message)}), CONTEXT)
        with pytest.raises(dg.Failure) as caught:
            client.complete_many(requests(3))
    assert caught.value.description == expected and "\n" not in expected
    assert caught.value.allow_retries is False


def test_an_early_stop_on_passing_failures_is_a_retryable_failure_naming_rate_and_reasons(tmp_path):
    with RequestLog(Warehouse(tmp_path / "w.duckdb"), background=False) as log:
        client = BoundClient(LLMGateway(SETTINGS, log, {"openai": Failing(ErrorKind.TRANSIENT, "openai: HTTP 503")}),
                             CONTEXT)
        with pytest.raises(dg.Failure) as caught:
            client.complete_many(requests(10))
    assert caught.value.description.startswith("LLM batch stopped early: failure rate 100% (4 of 4 sent requests)")
    assert caught.value.description.endswith("top reasons: transient x4: openai: HTTP 503")
    assert caught.value.allow_retries is True


def test_retry_failed_is_resource_config_the_launchpad_shows():
    fields = LLMResource.to_config_schema().as_field().config_type.fields
    assert {"retry_failed", "lease_ttl_s"} <= set(fields)
    assert LLMResource().retry_failed is False


@pytest.mark.parametrize(("settings", "backend"), [
    (LLMSettings(simulated_seed=5), SimulatedBackend()),
    (LLMSettings(simulated_faults=FaultRates(invalid_json=0.5)), SimulatedBackend()),
    (LLMSettings(), SimulatedBackend(phase1=Phase1SimulationRates(revision_fix=0.9))),
    (LLMSettings(), SimulatedBackend(phase2=Phase2SimulationRates(critic_miss=0.0))),
], ids=["seed", "faults", "phase1_rates", "phase2_rates"])
def test_a_simulated_run_with_another_seed_or_rate_does_not_replay_the_old_answers(tmp_path, settings, backend):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    resource = LLMResource(spool_directory=str(tmp_path / "spool"))

    def ask(settings: LLMSettings, backend: SimulatedBackend):
        with resource.bind(settings, warehouse, CONTEXT, backend) as client:
            return client.complete_many(requests(1))[0]

    first = ask(LLMSettings(), SimulatedBackend())
    assert ask(LLMSettings(), SimulatedBackend()).from_cache
    changed = ask(settings, backend)
    assert not changed.from_cache and changed.request_key != first.request_key


def test_the_simulated_identity_ignores_what_does_not_change_answers():
    assert SimulatedBackend().cache_identity(LLMSettings()) == \
        SimulatedBackend().cache_identity(LLMSettings(simulated_latency_s=0.5, max_concurrency=3))
def batch_generator_settings(server: OpenAIWireServer, **waits: float) -> LLMSettings:
    """The generator through the server's batch API (key in APIGEN_BATCH_TEST_KEY), polled every 50 ms."""
    ref = ModelRef(provider="openai", model="gpt-4o", base_url=server.base_url,
                   api_key_env="APIGEN_BATCH_TEST_KEY", batch=True)
    return LLMSettings(backend_override="configured", roles=RoleModels(generator=ref), batch_poll_interval_s=0.05,
                       **waits)


def test_a_provider_batch_still_pending_puts_the_step_up_for_retry_after_the_configured_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("APIGEN_BATCH_TEST_KEY", "sk-test")
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with OpenAIWireServer() as server, RequestLog(warehouse, background=False) as log:
        endpoints = mount_batches(server, completion_delay_s=60)
        settings = batch_generator_settings(server, batch_max_wait_s=0.2, batch_retry_wait_s=42,
                                            batch_max_step_retries=7)
        client = BoundClient(LLMGateway(settings, log, batch_store=BatchStore(warehouse)), CONTEXT)
        with pytest.raises(dg.RetryRequested) as caught:
            client.complete_many(requests(2))
    (batch_id,) = endpoints.batch_ids
    assert (caught.value.seconds_to_wait, caught.value.max_retries) == (42, 7)
    cause = str(caught.value.__cause__)
    assert cause.startswith(f"provider batch {batch_id} not ended after ")
    assert cause.endswith("(batch_max_wait_s 0.2); a retry of the step polls it again")


def test_a_step_waiting_on_a_provider_batch_retries_outside_its_pool_and_resumes_the_same_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("APIGEN_BATCH_TEST_KEY", "sk-test")
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with OpenAIWireServer() as server:
        endpoints = mount_batches(server, completion_delay_s=1.5)
        settings = batch_generator_settings(server, batch_max_wait_s=0.3, batch_retry_wait_s=0.5,
                                            batch_max_step_retries=10)

        @dg.asset(pool="llm_api")
        def generated() -> int:
            with RequestLog(warehouse, background=False) as log:
                client = BoundClient(LLMGateway(settings, log, batch_store=BatchStore(warehouse)), CONTEXT)
                return sum(result.ok for result in client.complete_many(requests(3)))

        with dg.instance_for_test() as instance:
            result = dg.materialize([generated], instance=instance)
            retries = [event for event in result.all_events if event.event_type_value == "STEP_UP_FOR_RETRY"]
    assert result.success and result.output_for_node("generated") == 3
    assert retries  # the step gave its slot back while the provider worked
    assert len(endpoints.batch_ids) == 1 and set(endpoints.submitted_custom_ids().values()) == {1}
