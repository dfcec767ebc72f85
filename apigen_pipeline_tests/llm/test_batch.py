"""Provider batch APIs through the official SDKs against the wire servers' batch endpoints (127.0.0.1 only):
submit, poll, partial failures back on the live path, a resumed step polling the batch it submitted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from apigen_pipeline.llm.batch import BatchPendingError, BatchStore
from apigen_pipeline.llm.config import LLMSettings, ModelRef, RoleModels, SettingsError
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.pricing import estimated_cost
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.tokens import estimate_request_tokens
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest, request_key
from apigen_pipeline.testing.wire_batches import mount_batches
from apigen_pipeline.testing.wire_servers import (
    WIRE_SERVERS,
    AnthropicWireServer,
    OpenAIWireServer,
    WireReply,
    WireServer,
    deterministic_responder,
)
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.llm.wire_cases import TASK_SCHEMA

KEY_ENV = "APIGEN_BATCH_TEST_KEY"
MODEL = "wire-test-model"
CONTEXT = CallContext(domain="retail", batch="2026-11-24", run_id="batch-test", asset="blueprints")
PRICE = {"input": 1.0, "cached_input": 0.5, "output": 2.0, "batch_discount": 0.5}


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-batch")


def requests(count: int) -> list[LLMRequest]:
    # Half structured (a JSON schema: OpenAI response_format, Anthropic a forced tool), half free text.
    return [LLMRequest(role="generator", messages=[ChatMessage(role="user", content=f"Write task number {i}.")],
                       response_schema=TASK_SCHEMA if i % 2 == 0 else None) for i in range(count)]


def settings(provider: str, base_url: str, batch: bool = True, context_window: int | None = None,
             **overrides) -> LLMSettings:
    ref = ModelRef(provider=provider, model=MODEL, base_url=base_url, api_key_env=KEY_ENV, timeout_s=5, batch=batch,
                   context_window=context_window)
    return LLMSettings(backend_override="configured", roles=RoleModels(generator=ref), prices={MODEL: PRICE},
                       batch_poll_interval_s=0.05, **{"batch_max_wait_s": 10.0, **overrides})


def run(provider: str, server: WireServer, warehouse: Warehouse, count: int, store: BatchStore | None = None,
        asked: list[LLMRequest] | None = None, **overrides):
    with RequestLog(warehouse, background=False) as log:
        gateway = LLMGateway(settings(provider, server.base_url, **overrides), log,
                             batch_store=store or BatchStore(warehouse))
        try:
            return gateway.complete_many(asked if asked is not None else requests(count), CONTEXT), gateway
        finally:
            log.flush()


def log_rows(warehouse: Warehouse) -> list[dict]:
    return RequestLog(warehouse, background=False).rows()


def key_of(provider: str, request: LLMRequest) -> str:
    return request_key(request, provider, MODEL)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_answers_like_live_requests_and_is_logged_as_via_batch(provider, tmp_path):
    live_warehouse = Warehouse(tmp_path / "live.duckdb")
    with WIRE_SERVERS[provider]() as live_server:  # the same requests sent live, for the answers to compare
        live, _ = run(provider, live_server, live_warehouse, 6, batch=False)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with WIRE_SERVERS[provider]() as server:
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
    with WIRE_SERVERS[provider]() as server:
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
    with WIRE_SERVERS[provider]() as server:
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
    with WIRE_SERVERS[provider](prose_first) as server:
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


def answers(warehouse: Warehouse) -> list[tuple]:
    """What a run leaves in the request log, without the which-run and timing columns."""
    return sorted((row["request_key"], row["status"], row["validation"], row["response_json"], row["cost_usd"],
                   row["via_batch"]) for row in log_rows(warehouse))


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_item_that_cannot_fit_its_context_window_is_refused_and_never_submitted(provider, tmp_path):
    asked = requests(4)
    huge = LLMRequest(role="generator", messages=[ChatMessage(role="user", content="Write a task. " + "filler " * 4000)])
    asked.insert(2, huge)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with WIRE_SERVERS[provider]() as server:
        endpoints = mount_batches(server)
        results, gateway = run(provider, server, warehouse, 0, asked=asked, context_window=3000)
    refused = results[2]
    assert (refused.status, refused.error_kind) == ("not_sent", ErrorKind.CONTEXT_TOO_LONG)
    assert "tokens" in refused.error_message and "context window of 3000 tokens" in refused.error_message
    assert [r.status for r in results[:2] + results[3:]] == ["answered"] * 4
    submitted = endpoints.submitted_custom_ids()
    assert key_of(provider, huge) not in submitted and len(submitted) == 4
    assert not any("filler filler" in json.dumps(r.body) for r in server.requests)  # not live either
    assert gateway.stats.not_sent == {"context_too_long": 1}
    rows = {row["request_key"]: row for row in log_rows(warehouse)}
    assert rows[key_of(provider, huge)]["status"] == "not_sent"


def batch_estimate(provider: str, asked: list[LLMRequest]) -> float:
    """What the gateway reserves for these requests in one batch: the estimate with the batch discount."""
    prices = settings(provider, "http://127.0.0.1:9").prices
    return sum(estimated_cost(estimate_request_tokens(r), r.sampling.max_tokens, MODEL, prices, via_batch=True)
               for r in asked)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_past_the_budget_is_not_submitted_and_its_requests_fail_as_over_budget(provider, tmp_path):
    asked = requests(4)
    estimate = batch_estimate(provider, asked)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with WIRE_SERVERS[provider]() as server:
        endpoints = mount_batches(server)
        results, gateway = run(provider, server, warehouse, 4, budget_usd=0.9 * estimate)
    assert [(r.status, r.error_kind) for r in results] == [("not_sent", ErrorKind.BUDGET)] * 4
    assert {r.error_message for r in results} == {f"budget cap of ${0.9 * estimate} reached"}
    assert endpoints.batch_ids == [] and server.requests == []  # neither batched nor sent live
    assert gateway.stats.not_sent == {"budget": 4}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_batch_is_reserved_at_its_discounted_estimate_and_settled_on_its_usage(provider, tmp_path):
    first, second = requests(6)[:3], requests(6)[3:]
    first_estimate, second_estimate = batch_estimate(provider, first), batch_estimate(provider, second)
    # Fits only at the discounted price; the second batch fits only once the first settled below its estimate.
    cap = first_estimate + second_estimate * 0.999
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with WIRE_SERVERS[provider]() as server, RequestLog(warehouse, background=False) as log:
        endpoints = mount_batches(server)
        gateway = LLMGateway(settings(provider, server.base_url, budget_usd=cap), log, batch_store=BatchStore(warehouse))
        assert all(r.ok for r in gateway.complete_many(first, CONTEXT))
        spent = gateway.stats.cost_usd
        assert 0 < spent < first_estimate * 0.5  # replies far shorter than max_tokens: room was freed
        assert all(r.ok for r in gateway.complete_many(second, CONTEXT))
        log.flush()
    assert len(endpoints.batch_ids) == 2
    assert gateway.stats.cost_usd == pytest.approx(sum(row["cost_usd"] for row in log_rows(warehouse)))
    assert gateway.stats.cost_usd <= cap


class ProcessDied(BaseException):
    """Stands for the process dying at a chosen point: nothing in the pipeline catches it."""


class DyingStore(BatchStore):
    """A batch store whose process dies right after one chosen write: the intent, or the provider's accept."""

    def __init__(self, warehouse: Warehouse, dies_after: str):
        super().__init__(warehouse)
        self.dies_after = dies_after

    def begin(self, *args, **kwargs):
        intent = super().begin(*args, **kwargs)
        if self.dies_after == "intent":
            raise ProcessDied("after the intent was written, before the provider was asked")
        return intent

    def record(self, *args, **kwargs):
        if self.dies_after == "accept":  # the provider accepted the batch; its items are not recorded yet
            raise ProcessDied("after the provider accepted the batch, before it was recorded")
        return super().record(*args, **kwargs)


def submissions(warehouse: Warehouse) -> list[tuple]:
    with warehouse.connect() as con:
        return con.execute("SELECT status, provider_batch_id FROM llm_batch_submissions ORDER BY created_at").fetchall()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_crash_after_the_provider_accepted_a_batch_adopts_it_instead_of_paying_twice(provider, tmp_path):
    clean = Warehouse(tmp_path / "clean.duckdb")
    with WIRE_SERVERS[provider]() as clean_server:
        mount_batches(clean_server)
        run(provider, clean_server, clean, 5)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with WIRE_SERVERS[provider]() as server:
        endpoints = mount_batches(server)
        with pytest.raises(ProcessDied):
            run(provider, server, warehouse, 5, store=DyingStore(warehouse, "accept"))
        (batch_id,) = endpoints.batch_ids
        assert submissions(warehouse) == [("submitting", None)]
        results, _ = run(provider, server, warehouse, 5)
    assert all(r.ok for r in results)
    assert endpoints.batch_ids == [batch_id]  # adopted, not submitted again
    assert set(endpoints.submitted_custom_ids().values()) == {1}
    assert [r.path for r in server.requests] == [f"batch:{endpoints.endpoint}"] * 5  # nothing went live
    assert submissions(warehouse) == [("submitted", batch_id)]
    assert answers(warehouse) == answers(clean)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_crash_before_the_provider_was_asked_submits_once_the_batch_is_provably_absent(provider, tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with WIRE_SERVERS[provider]() as server:
        endpoints = mount_batches(server)
        with pytest.raises(ProcessDied):
            run(provider, server, warehouse, 3, store=DyingStore(warehouse, "intent"))
        assert endpoints.batch_ids == [] and submissions(warehouse) == [("submitting", None)]
        results, _ = run(provider, server, warehouse, 3)
    assert all(r.ok for r in results)
    (batch_id,) = endpoints.batch_ids
    assert submissions(warehouse) == [("not_submitted", None), ("submitted", batch_id)]


def test_an_orphaned_anthropic_batch_still_running_keeps_the_step_pending_until_it_can_be_confirmed(tmp_path):
    # Message Batches carry no metadata: a running candidate's custom ids are unreadable until it ended.
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with AnthropicWireServer() as server:
        endpoints = mount_batches(server, completion_delay_s=60)
        with pytest.raises(ProcessDied):
            run("anthropic", server, warehouse, 4, store=DyingStore(warehouse, "accept"))
        with pytest.raises(BatchPendingError, match="neither found nor provably absent.*still running"):
            run("anthropic", server, warehouse, 4)
        assert len(endpoints.batch_ids) == 1 and submissions(warehouse) == [("submitting", None)]
        endpoints.completion_delay_s = 0.0
        results, _ = run("anthropic", server, warehouse, 4)
    assert all(r.ok for r in results)
    (batch_id,) = endpoints.batch_ids
    assert submissions(warehouse) == [("submitted", batch_id)]
    assert set(endpoints.submitted_custom_ids().values()) == {1}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_lost_answer_to_the_batch_create_is_looked_up_not_submitted_again(provider, tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with WIRE_SERVERS[provider]() as server:
        endpoints = mount_batches(server)
        endpoints.lose_create_answers = 1  # the provider creates the batch, the client sees a 500
        results, _ = run(provider, server, warehouse, 4)
    assert all(r.ok for r in results)
    (batch_id,) = endpoints.batch_ids
    assert set(endpoints.submitted_custom_ids().values()) == {1}
    assert [r.path for r in server.requests] == [f"batch:{endpoints.endpoint}"] * 4  # nothing went live
    assert submissions(warehouse) == [("submitted", batch_id)]


KILLED_CHILD = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from apigen_pipeline.llm.batch import BatchStore
    from apigen_pipeline.llm.gateway import LLMGateway
    from apigen_pipeline.llm.request_log import RequestLog
    from apigen_pipeline.warehouse import Warehouse
    from apigen_pipeline_tests.llm.test_batch import CONTEXT, requests, settings

    class KilledAfterAccept(BatchStore):
        def record(self, *args, **kwargs):
            os._exit(137)  # the provider accepted the batch: the process dies before anything records it

    db, provider, base_url, count = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    warehouse = Warehouse(db)
    with RequestLog(warehouse, background=False) as log:
        LLMGateway(settings(provider, base_url), log, batch_store=KilledAfterAccept(warehouse)).complete_many(
            requests(count), CONTEXT)
    sys.exit(0)  # not reached
""")


@pytest.mark.slow  # a child process per provider (its imports take seconds); the in-process crash tests above
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_process_killed_right_after_the_provider_accepted_its_batch_is_resumed_without_a_second_batch(
        provider, tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with WIRE_SERVERS[provider]() as server:
        endpoints = mount_batches(server)
        child = subprocess.run([sys.executable, "-c", KILLED_CHILD, str(warehouse.path), provider, server.base_url,
                                "4"], env={**os.environ, KEY_ENV: "sk-test-batch"}, capture_output=True, text=True,
                               timeout=120)
        assert child.returncode == 137, child.stderr[-2000:]
        (batch_id,) = endpoints.batch_ids
        results, _ = run(provider, server, warehouse, 4)
    assert all(r.ok for r in results)
    assert endpoints.batch_ids == [batch_id]
    assert set(endpoints.submitted_custom_ids().values()) == {1}
    assert submissions(warehouse) == [("submitted", batch_id)]
