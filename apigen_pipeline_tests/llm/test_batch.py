"""Provider batch APIs through the official SDKs against the wire servers' batch endpoints (127.0.0.1 only):
submit, poll, partial failures back on the live path, a resumed step polling the batch it submitted."""

from __future__ import annotations

import pytest

from apigen_pipeline.llm.batch import BatchPendingError, BatchStore
from apigen_pipeline.llm.config import LLMSettings, ModelRef, RoleModels, SettingsError
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.types import ChatMessage, LLMRequest, request_key
from apigen_pipeline.testing.wire_batches import mount_batches
from apigen_pipeline.testing.wire_servers import (
    AnthropicWireServer,
    OpenAIWireServer,
    WireReply,
    WireServer,
    deterministic_responder,
)
from apigen_pipeline.warehouse import Warehouse

KEY_ENV = "APIGEN_BATCH_TEST_KEY"
MODEL = "wire-test-model"
CONTEXT = CallContext(domain="retail", batch="2026-11-24", run_id="batch-test", asset="blueprints")
SCHEMA = {"type": "object", "properties": {"instruction": {"type": "string"}, "priority": {"type": "integer"}},
          "required": ["instruction", "priority"]}
SERVERS = {"openai": OpenAIWireServer, "anthropic": AnthropicWireServer}
PRICE = {"input": 1.0, "cached_input": 0.5, "output": 2.0, "batch_discount": 0.5}


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-batch")


def requests(count: int) -> list[LLMRequest]:
    # Half structured (a JSON schema: OpenAI response_format, Anthropic a forced tool), half free text.
    return [LLMRequest(role="generator", messages=[ChatMessage(role="user", content=f"Write task number {i}.")],
                       response_schema=SCHEMA if i % 2 == 0 else None) for i in range(count)]


def settings(provider: str, base_url: str, batch: bool = True, **overrides) -> LLMSettings:
    ref = ModelRef(provider=provider, model=MODEL, base_url=base_url, api_key_env=KEY_ENV, timeout_s=5, batch=batch)
    return LLMSettings(backend_override="configured", roles=RoleModels(generator=ref), prices={MODEL: PRICE},
                       batch_poll_interval_s=0.05, **{"batch_max_wait_s": 10.0, **overrides})


def run(provider: str, server: WireServer, warehouse: Warehouse, count: int, **overrides):
    with RequestLog(warehouse, background=False) as log:
        gateway = LLMGateway(settings(provider, server.base_url, **overrides), log, batch_store=BatchStore(warehouse))
        try:
            return gateway.complete_many(requests(count), CONTEXT), gateway
        finally:
            log.flush()


def log_rows(warehouse: Warehouse) -> list[dict]:
    return RequestLog(warehouse, background=False).rows()


def key_of(provider: str, request: LLMRequest) -> str:
    return request_key(request, provider, MODEL)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_answers_like_live_requests_and_is_logged_as_via_batch(provider, tmp_path):
    live_warehouse = Warehouse(tmp_path / "live.duckdb")
    with SERVERS[provider]() as live_server:  # the same requests sent live, for the answers to compare
        live, _ = run(provider, live_server, live_warehouse, 6, batch=False)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with SERVERS[provider]() as server:
        endpoints = mount_batches(server, completion_delay_s=0.3)
        results, gateway = run(provider, server, warehouse, 6)
    assert [r.status for r in results] == ["answered"] * 6
    assert [r.response.text for r in results] == [r.response.text for r in live]
    assert [r.response.parsed for r in results[::2]] == [r.response.parsed for r in live[::2]]
    assert [r.response.usage for r in results] == [r.response.usage for r in live]  # estimated alike
    assert len(endpoints.batch_ids) == 1  # one call, one model: one batch
    assert {r.path for r in server.requests} == {f"batch:{endpoints.endpoint}"}  # nothing went live
    assert all(r.auth_header_present for r in server.requests)
    rows = log_rows(warehouse)
    assert [(row["status"], row["validation"], row["via_batch"]) for row in rows] == [("answered", "valid", True)] * 6
    assert gateway.stats.total("answered") == 6
    live_costs = sorted(row["cost_usd"] for row in log_rows(live_warehouse))
    assert live_costs[0] > 0
    assert sorted(row["cost_usd"] for row in rows) == pytest.approx([cost * 0.5 for cost in live_costs])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_failed_batch_items_go_back_to_the_live_path(provider, tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with SERVERS[provider]() as server:
        endpoints = mount_batches(server, failure_share=0.4, anthropic_failed_result="expired")
        results, gateway = run(provider, server, warehouse, 10)
    assert all(r.ok for r in results)
    live = [r for r in server.requests if not r.path.startswith("batch:")]
    failed_in_batch = [r for r in server.requests if r.path.startswith("batch:") and not r.answered]
    assert failed_in_batch and len(live) == len(failed_in_batch)  # each failed item re-sent live, once
    assert {r.body_hash for r in live} == {r.body_hash for r in failed_in_batch}
    assert server.bodies_answered_more_than_once() == []
    assert gateway.stats.retries["batch_item_failed"] == len(failed_in_batch)
    rows = log_rows(warehouse)
    answered = [row for row in rows if row["status"] == "answered"]
    assert len(answered) == 10 and sum(row["via_batch"] for row in answered) == 10 - len(live)
    assert [row["via_batch"] for row in rows if row["status"] == "failed"] == [True] * len(live)
    assert sum(endpoints.submitted_custom_ids().values()) == 10


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_step_past_its_wait_fails_pending_and_its_retry_polls_the_same_batch(provider, tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with SERVERS[provider]() as server:
        endpoints = mount_batches(server, completion_delay_s=60)
        with pytest.raises(BatchPendingError) as pending:
            run(provider, server, warehouse, 4, batch_max_wait_s=0.3)
        (batch_id,) = endpoints.batch_ids
        assert pending.value.provider_batch_ids == [batch_id]
        assert log_rows(warehouse) == []  # nothing answered yet, nothing logged
        endpoints.completion_delay_s = 0.0  # the provider finishes while no step waits
        results, _ = run(provider, server, warehouse, 4)
        assert all(r.ok for r in results)
        assert endpoints.batch_ids == [batch_id]  # resumed, not resubmitted
        assert set(endpoints.submitted_custom_ids().values()) == {1}
        again, _ = run(provider, server, warehouse, 4)  # answered: replayed from the log, no batch at all
    assert endpoints.batch_ids == [batch_id]
    assert all(r.from_cache for r in again)
    assert len(log_rows(warehouse)) == 4


def test_only_unanswered_requests_are_submitted(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with OpenAIWireServer() as server:
        endpoints = mount_batches(server)
        run("openai", server, warehouse, 3)
        run("openai", server, warehouse, 5)  # the first three are in the log
    first, second = endpoints.batch_ids
    submitted = endpoints.submitted_custom_ids()
    assert set(submitted.values()) == {1}
    assert {key_of("openai", r) for r in requests(5)[3:]} <= set(submitted)
    assert len(submitted) == 5


def test_batch_is_refused_for_roles_in_a_live_turn():
    with pytest.raises(SettingsError, match="critic"):
        LLMSettings.validated({"roles": {"critic": {"provider": "openai", "model": "gpt-4o-mini", "batch": True}}})


def test_simulated_routes_never_batch():
    batch_generator = ModelRef(provider="openai", model="gpt-4o", batch=True)
    simulated = LLMSettings(roles=RoleModels(generator=batch_generator))
    assert not simulated.route("generator").batch
    assert LLMSettings(roles=RoleModels(generator=batch_generator), backend_override="configured").route("generator").batch


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_an_invalid_batch_answer_is_repaired_live_not_asked_again(provider, tmp_path):
    def prose_first(body: dict, call_index: int) -> WireReply:
        # The original prompt (one user turn) gets prose; the repair re-ask (the reply and the problem added) JSON.
        if len(body["messages"]) == 1:
            return WireReply.of_text("Sure! Here is a task, in my own words.")
        return deterministic_responder(body, call_index)

    warehouse = Warehouse(tmp_path / "w.duckdb")
    with SERVERS[provider](prose_first) as server:
        mount_batches(server)
        (result,), _ = run(provider, server, warehouse, 1)
    assert result.ok and result.repair_turns == 1
    batch_items = [r for r in server.requests if r.path.startswith("batch:")]
    live = [r for r in server.requests if not r.path.startswith("batch:")]
    assert len(batch_items) == 1 and len(live) == 1
    assert len(live[0].body["messages"]) > 1  # the repair turn, not the original request again
    (row,) = log_rows(warehouse)
    assert (row["status"], row["validation"], row["attempts"], row["repair_turns"]) == ("answered", "valid", 2, 1)
    assert "in my own words" in row["repair_json"]


def test_a_mixed_committee_logs_the_ended_batch_and_its_live_retries_before_reporting_the_pending_one(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with OpenAIWireServer() as fast, AnthropicWireServer() as slow:
        fast_batches = mount_batches(fast, failure_share=1.0)  # every first submission fails
        slow_batches = mount_batches(slow, completion_delay_s=60)
        judges = [ModelRef(provider=provider, model=MODEL, base_url=server.base_url, api_key_env=KEY_ENV, batch=True)
                  for provider, server in (("openai", fast), ("anthropic", slow))]
        committee = LLMSettings(backend_override="configured", judges=judges, batch_max_wait_s=0.5,
                                batch_poll_interval_s=0.05)
        votes = [LLMRequest(role="judge", messages=[ChatMessage(role="user", content=f"Judge blueprint {i}.")],
                            tags={"judge_index": str(i % 2)}) for i in range(8)]

        def vote() -> list:
            with RequestLog(warehouse, background=False) as log:
                gateway = LLMGateway(committee, log, batch_store=BatchStore(warehouse))
                try:
                    return gateway.complete_many(votes, CONTEXT)
                finally:
                    log.flush()

        with pytest.raises(BatchPendingError):
            vote()
        sent_live = [r for r in fast.requests if not r.path.startswith("batch:")]
        assert len(sent_live) == 4  # the items that failed in the ended batch went live before the step gave up
        answered = [row for row in log_rows(warehouse) if row["status"] == "answered"]
        assert sorted(row["provider"] for row in answered) == ["openai"] * 4
        slow_batches.completion_delay_s = 0.0
        results = vote()
    assert all(r.ok for r in results)
    assert [r.from_cache for r in results[::2]] == [True] * 4  # the openai judges: replayed
    assert len(fast_batches.batch_ids) == 1 and len(slow_batches.batch_ids) == 1
    assert len(fast.requests) == 4 + len(sent_live)  # nothing sent again
