import asyncio
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from apigen_pipeline.llm.config import LLMSettings, RetrySettings
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.gateway import (
    CallContext,
    FailureRateExceededError,
    LLMGateway,
    PermanentProviderError,
    ProviderUnreachableError,
)
from apigen_pipeline.llm.request_log import LogRecord, RequestLog
from apigen_pipeline.llm.simulated_faults import FaultRates
from apigen_pipeline.llm.structured import REPAIR_MARKER
from apigen_pipeline.llm.tokens import estimate_request_tokens
from apigen_pipeline.llm.types import (
    ChatMessage,
    ErrorKind,
    LLMRequest,
    LLMResponse,
    SamplingParams,
    ToolSchema,
    Usage,
)
from apigen_pipeline.simulated import SimulatedBackend
from apigen_pipeline.warehouse import Warehouse

CONTEXT = CallContext(domain="retail", batch="2025-01-01", run_id="run-1", asset="blueprints")
FAST_RETRY = RetrySettings(max_attempts_transient=4, max_attempts_rate_limit=4, backoff_base_s=0.001,
                           backoff_max_s=0.005)
Outcome = LLMResponse | ProviderError


class ScriptedProvider:
    """A fake provider: `script(request, attempt)` decides each reply; attempts count per prompt."""

    def __init__(self, script: Callable[[LLMRequest, int], Outcome], name: str = "openai",
                 delay: Callable[[LLMRequest], float] | None = None):
        self.name = name
        self.script = script
        self.delay = delay
        self.calls: list[tuple[LLMRequest, str]] = []
        self._attempts: Counter[str] = Counter()

    async def send(self, request: LLMRequest, model: str) -> LLMResponse:
        self.calls.append((request, model))
        prompt = request.messages[0].content or ""
        attempt = self._attempts[prompt]
        self._attempts[prompt] += 1
        if self.delay is not None:
            await asyncio.sleep(self.delay(request))
        outcome = self.script(request, attempt)
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome

    async def aclose(self) -> None:
        return None


def echo(request: LLMRequest, attempt: int) -> Outcome:
    return LLMResponse(text=f"echo {request.messages[0].content}",
                       usage=Usage(input_tokens=100, output_tokens=20))


def ask(text: str, **fields) -> LLMRequest:
    return LLMRequest(role=fields.pop("role", "generator"), messages=[ChatMessage(role="user", content=text)],
                      **fields)


SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}


def settings(**overrides) -> LLMSettings:
    base = {"backend_override": "openai:gpt-4o", "retry": FAST_RETRY}
    return LLMSettings(**{**base, **overrides})


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


class MemoryLog:
    """The request store in memory: keeps unit tests of the gateway's logic free of DuckDB's I/O."""

    def __init__(self):
        self.records: list[LogRecord] = []

    def append(self, record: LogRecord) -> None:
        self.records.append(record)

    def lookup_many(self, keys):
        wanted = set(keys)
        superseded = {r.supersedes for r in self.records if r.supersedes}
        return {r.request_key: r.to_answer() for r in self.records
                if r.status == "answered" and r.request_key in wanted and r.entry_id not in superseded}

    def rows(self) -> list[dict]:
        return [r.model_dump() for r in self.records]


def run(gateway_settings: LLMSettings, warehouse: Warehouse | MemoryLog | None, provider: ScriptedProvider | dict,
        requests: list[LLMRequest]) -> tuple[list, LLMGateway, list[dict]]:
    """One batch through a fresh gateway; rows read back from DuckDB when given a warehouse."""
    providers = provider if isinstance(provider, dict) else {provider.name: provider}
    if not isinstance(warehouse, Warehouse):
        log = warehouse if warehouse is not None else MemoryLog()
        gateway = LLMGateway(gateway_settings, log, providers, jitter_seed=0)
        return gateway.complete_many(requests, CONTEXT), gateway, log.rows()
    with RequestLog(warehouse, background=False) as log:
        gateway = LLMGateway(gateway_settings, log, providers, jitter_seed=0)
        results = gateway.complete_many(requests, CONTEXT)
    return results, gateway, RequestLog(warehouse, background=False).rows()


def test_answers_come_back_in_request_order(warehouse):
    provider = ScriptedProvider(echo, delay=lambda request: random.Random(request.messages[0].content).random() / 50)
    requests = [ask(f"q{i}") for i in range(40)]
    results, gateway, rows = run(settings(max_concurrency=8), warehouse, provider, requests)
    assert [r.response.text for r in results] == [f"echo q{i}" for i in range(40)]
    assert len(rows) == 40 and {row["status"] for row in rows} == {"answered"}
    row = rows[0]
    assert (row["domain"], row["batch"], row["run_id"], row["asset"]) == ("retail", "2025-01-01", "run-1", "blueprints")
    assert row["cost_usd"] == pytest.approx((100 * 2.5 + 20 * 10.0) / 1e6)  # gpt-4o list price
    assert gateway.stats.summary()["answered"] == 40


def test_answered_requests_are_served_from_the_log_and_never_resent(warehouse):
    requests = [ask(f"q{i}") for i in range(5)]
    first = ScriptedProvider(echo)
    run(settings(), warehouse, first, requests)
    second = ScriptedProvider(echo)
    results, gateway, rows = run(settings(), warehouse, second, requests + [ask("new")])
    assert len(first.calls) == 5
    assert [request.messages[0].content for request, _ in second.calls] == ["new"]
    assert all(r.from_cache for r in results[:5]) and not results[5].from_cache
    assert results[2].response.text == "echo q2"
    assert gateway.stats.summary()["cache_hits"] == 5
    assert len(rows) == 6


def test_identical_requests_in_one_batch_are_sent_once():
    provider = ScriptedProvider(echo, delay=lambda request: 0.01)
    results, _, rows = run(settings(), None, provider, [ask("same"), ask("same"), ask("same")])
    assert len(provider.calls) == 1
    assert [r.response.text for r in results] == ["echo same"] * 3
    assert len(rows) == 1


def test_transient_errors_are_retried_until_an_answer():
    def flaky(request, attempt):
        return ProviderError(ErrorKind.TRANSIENT, "HTTP 500") if attempt < 2 else echo(request, attempt)

    provider = ScriptedProvider(flaky)
    (result,), gateway, rows = run(settings(), None, provider, [ask("q")])
    assert result.ok and result.attempts == 3
    assert gateway.stats.retries["transient"] == 2
    assert rows[0]["attempts"] == 3


def test_transient_errors_give_up_after_the_configured_attempts():
    provider = ScriptedProvider(lambda request, attempt: ProviderError(ErrorKind.TRANSIENT, "timed out"))
    (result,), gateway, rows = run(settings(), None, provider, [ask("q")])
    assert result.status == "failed" and result.error_kind is ErrorKind.TRANSIENT
    assert len(provider.calls) == FAST_RETRY.max_attempts_transient
    assert rows[0]["status"] == "failed" and rows[0]["error_message"] == "timed out"


def test_rate_limit_waits_for_retry_after_then_succeeds():
    def limited(request, attempt):
        return ProviderError(ErrorKind.RATE_LIMIT, "429", retry_after=0.2) if attempt == 0 else echo(request, attempt)

    provider = ScriptedProvider(limited)
    started = time.monotonic()
    (result,), gateway, _ = run(settings(), None, provider, [ask("q")])
    assert result.ok and result.attempts == 2
    assert time.monotonic() - started >= 0.2
    assert gateway.stats.retries["rate_limit"] == 1


def test_rate_limit_gives_up_after_the_configured_attempts():
    provider = ScriptedProvider(lambda request, attempt: ProviderError(ErrorKind.RATE_LIMIT, "429", retry_after=0.0))
    (result,), _, _ = run(settings(), None, provider, [ask("q")])
    assert result.error_kind is ErrorKind.RATE_LIMIT
    assert len(provider.calls) == FAST_RETRY.max_attempts_rate_limit


def test_permanent_error_fails_fast_and_stops_the_batch_loudly(warehouse):
    provider = ScriptedProvider(lambda request, attempt: ProviderError(ErrorKind.PERMANENT, "HTTP 401 invalid key"),
                                delay=lambda request: 0.01)
    requests = [ask(f"q{i}") for i in range(10)]
    with RequestLog(warehouse, background=False) as log:
        gateway = LLMGateway(settings(max_concurrency=2), log, {"openai": provider})
        with pytest.raises(PermanentProviderError, match="401") as caught:
            gateway.complete_many(requests, CONTEXT)
    results = caught.value.results
    assert len(results) == 10
    assert len(provider.calls) <= 2  # only what was already in flight
    statuses = Counter((r.status, r.error_kind) for r in results)
    assert statuses[("failed", ErrorKind.PERMANENT)] == len(provider.calls)
    assert statuses[("not_sent", ErrorKind.ABORTED)] == 10 - len(provider.calls)
    assert all(r.attempts <= 1 for r in results)
    assert len(RequestLog(warehouse, background=False).rows()) == 10


def test_invalid_json_is_repaired_with_the_validation_error():
    def sloppy(request, attempt):
        text = '{"answer": "forty-two"' if attempt == 0 else '```json\n{"answer": 42}\n```'
        return LLMResponse(text=text, usage=Usage(input_tokens=50, output_tokens=10))

    provider = ScriptedProvider(sloppy)
    (result,), gateway, rows = run(settings(), None, provider, [ask("q", response_schema=SCHEMA)])
    assert result.ok and result.repair_turns == 1 and result.response.parsed == {"answer": 42}
    repaired = provider.calls[1][0].messages
    assert repaired[-2].role == "assistant" and repaired[-2].content == '{"answer": "forty-two"'
    assert repaired[-1].content.startswith(REPAIR_MARKER)
    assert rows[0]["repair_turns"] == 1 and rows[0]["input_tokens"] == 100  # both turns are paid for
    # The log keeps the original request (its key), not the repaired conversation.
    assert len(json.loads(rows[0]["request_json"])["messages"]) == 1


def test_schema_violation_repair_names_the_failing_path():
    def wrong_type(request, attempt):
        return LLMResponse(text='{"answer": "x"}' if attempt == 0 else '{"answer": 1}')

    provider = ScriptedProvider(wrong_type)
    (result,), _, _ = run(settings(), None, provider, [ask("q", response_schema=SCHEMA)])
    assert result.ok
    assert "$.answer" in provider.calls[1][0].messages[-1].content


def test_exhausted_repairs_end_as_invalid_output():
    provider = ScriptedProvider(lambda request, attempt: LLMResponse(text="no json, sorry"))
    (result,), gateway, _ = run(settings(max_repair_turns=2), None, provider,
                                [ask("q", response_schema=SCHEMA)])
    assert result.status == "failed" and result.error_kind is ErrorKind.INVALID_OUTPUT
    assert len(provider.calls) == 3 and result.repair_turns == 2
    assert "no valid JSON" in result.error_message


def test_provider_reported_invalid_output_is_repaired_too():
    def garbled(request, attempt):
        return ProviderError(ErrorKind.INVALID_OUTPUT, "tool arguments are not JSON") if attempt == 0 \
            else echo(request, attempt)

    provider = ScriptedProvider(garbled)
    (result,), _, _ = run(settings(), None, provider, [ask("q")])
    assert result.ok and result.repair_turns == 1
    assert provider.calls[1][0].messages[-1].content.startswith(REPAIR_MARKER)


def test_unknown_tool_call_is_repaired():
    tool = ToolSchema(name="get_user_details", description="d",
                      parameters={"type": "object", "properties": {"user_id": {"type": "string"}},
                                  "required": ["user_id"]})
    from apigen_pipeline.llm.types import ToolCallData

    def calls(request, attempt):
        name = "get_user" if attempt == 0 else "get_user_details"
        return LLMResponse(tool_calls=[ToolCallData(id="c", name=name, arguments={"user_id": "u1"})])

    provider = ScriptedProvider(calls)
    (result,), _, _ = run(settings(), None, provider, [ask("q", role="agent", tools=[tool])])
    assert result.ok and result.response.tool_calls[0].name == "get_user_details"
    assert "unknown tool" in provider.calls[1][0].messages[-1].content


def test_budget_cap_stops_within_one_requests_cost():
    output_tokens = 1000

    def exact(request, attempt):  # usage equals the gateway's estimate, so the test pins the rule
        return LLMResponse(text="ok", usage=Usage(input_tokens=estimate_request_tokens(request),
                                                  output_tokens=output_tokens))

    requests = [ask(f"q{i:03d}", sampling=SamplingParams(max_tokens=output_tokens)) for i in range(40)]
    per_request = (estimate_request_tokens(requests[0]) * 2.5 + output_tokens * 10.0) / 1e6
    cap = per_request * 10.5
    provider = ScriptedProvider(exact, delay=lambda request: 0.002)
    results, gateway, rows = run(settings(budget_usd=cap, max_concurrency=4), None, provider, requests)
    spent = sum(r.cost_usd for r in results)
    assert spent <= cap and cap - spent < per_request
    assert sum(r.ok for r in results) == 10
    assert {r.error_kind for r in results if not r.ok} == {ErrorKind.BUDGET}
    assert gateway.stats.not_sent["budget"] == 30
    assert len(provider.calls) == 10 and len(rows) == 40


def test_failure_rate_above_threshold_stops_the_batch_with_the_rate_and_top_reasons():
    gateway_settings = settings(max_concurrency=1, failure_rate_threshold=0.5, failure_rate_min_requests=20,
                                retry=RetrySettings(max_attempts_transient=1))
    provider = ScriptedProvider(lambda request, attempt: ProviderError(ErrorKind.TRANSIENT, "HTTP 503"))
    log = MemoryLog()
    gateway = LLMGateway(gateway_settings, log, {"openai": provider}, jitter_seed=0)
    with pytest.raises(FailureRateExceededError) as caught:
        gateway.complete_many([ask(f"q{i}") for i in range(50)], CONTEXT)
    results = caught.value.results
    assert len(provider.calls) == 20
    assert Counter(r.status for r in results) == {"failed": 20, "not_sent": 30}
    assert all(r.error_kind is ErrorKind.ABORTED for r in results if r.status == "not_sent")
    assert str(caught.value) == ("LLM batch stopped early: failure rate 100% (20 of 20 sent requests) passed the "
                                 "threshold of 50%; by kind: {'transient': 20}; top reasons: transient x20: HTTP 503")
    assert caught.value.retryable  # 5xx pass: a later attempt of the step may succeed
    assert len(log.records) == 50


def test_an_early_stop_on_invalid_output_is_not_retryable_and_names_the_top_reasons():
    gateway_settings = settings(max_concurrency=1, failure_rate_threshold=0.5, failure_rate_min_requests=4,
                                max_repair_turns=0)

    def mostly_prose(request, attempt):
        index = int(request.messages[0].content[1:])
        return LLMResponse(text='{"answer": 1}' if index % 5 == 4 else f"I think {'yes' if index % 2 else 'no'}.")

    gateway = LLMGateway(gateway_settings, MemoryLog(), {"openai": ScriptedProvider(mostly_prose)})
    with pytest.raises(FailureRateExceededError) as caught:
        gateway.complete_many([ask(f"q{i}", response_schema=SCHEMA) for i in range(20)], CONTEXT)
    message = str(caught.value)
    assert "failure rate 100% (4 of 4 sent requests)" in message
    assert "invalid_output x2: the reply contains no valid JSON object: 'I think no.'" in message
    assert "invalid_output x2: the reply contains no valid JSON object: 'I think yes.'" in message
    assert not caught.value.retryable


def test_failures_below_the_threshold_do_not_stop_the_batch():
    gateway_settings = settings(max_concurrency=1, retry=RetrySettings(max_attempts_transient=1))

    def every_third_fails(request, attempt):
        index = int(request.messages[0].content[1:])
        return ProviderError(ErrorKind.TRANSIENT, "x") if index % 3 == 0 else echo(request, attempt)

    provider = ScriptedProvider(every_third_fails)
    results, gateway, _ = run(gateway_settings, None, provider, [ask(f"q{i}") for i in range(60)])
    assert len(provider.calls) == 60 and gateway.stats.abort_reason is None
    assert sum(not r.ok for r in results) == 20


def test_judges_route_by_index_to_mixed_providers():
    openai_fake = ScriptedProvider(echo, name="openai")
    anthropic_fake = ScriptedProvider(echo, name="anthropic")
    gateway_settings = settings(backend_override="configured")
    requests = [ask("verdict", role="judge", tags={"judge_index": str(i)}) for i in range(3)]
    results, gateway, rows = run(gateway_settings, None, {"openai": openai_fake, "anthropic": anthropic_fake},
                                 requests)
    assert sorted(model for _, model in openai_fake.calls) == ["gpt-4o", "gpt-4o-mini"]
    assert [model for _, model in anthropic_fake.calls] == ["claude-3-5-sonnet-latest"]
    assert [r.model for r in results] == ["gpt-4o", "claude-3-5-sonnet-latest", "gpt-4o-mini"]
    assert {(row["provider"], row["model"]) for row in rows} == {
        ("openai", "gpt-4o"), ("anthropic", "claude-3-5-sonnet-latest"), ("openai", "gpt-4o-mini")}


def test_simulated_backend_costs_nothing_and_projects_the_configured_bill(warehouse):
    gateway_settings = LLMSettings(simulated_faults=FaultRates.none())
    requests = [ask(f"Give the answer for case {i}.", response_schema=SCHEMA) for i in range(5)]
    with RequestLog(warehouse, background=False) as log:
        gateway = LLMGateway(gateway_settings, log, provider_factories={"simulated": SimulatedBackend().provider})
        results = gateway.complete_many(requests, CONTEXT)
    assert all(r.ok and r.simulated and r.cost_usd == 0.0 for r in results)
    assert all(isinstance(r.response.parsed["answer"], int) for r in results)
    rows = RequestLog(warehouse, background=False).rows()
    assert all(row["simulated"] and row["projection_model"] == "gpt-4o" for row in rows)
    assert all(row["cost_usd"] == 0.0 and row["projected_cost_usd"] > 0 for row in rows)
    assert gateway.stats.projected_cost_usd == pytest.approx(sum(row["projected_cost_usd"] for row in rows))


def test_latency_percentiles_and_per_model_stats():
    provider = ScriptedProvider(echo, delay=lambda request: 0.001 * int(request.messages[0].content[1:]))
    _, gateway, _ = run(settings(max_concurrency=32), None, provider, [ask(f"q{i}") for i in range(20)])
    (model_stats,) = gateway.stats.by_model.values()
    assert model_stats.answered == 20 and model_stats.input_tokens == 2000
    assert model_stats.latency_p50_s < model_stats.latency_p95_s
    assert model_stats.latency_p95_s >= 0.015


def test_key_values_never_reach_the_log_or_log_records(warehouse, monkeypatch, caplog):
    secret = "sk-test-PLANTED-SECRET-123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    provider = ScriptedProvider(lambda request, attempt: ProviderError(ErrorKind.TRANSIENT, f"bad key {secret}"))
    caplog.set_level(logging.DEBUG)
    (result,), _, rows = run(settings(retry=RetrySettings(max_attempts_transient=1)), warehouse, provider,
                             [ask("q")])
    assert result.error_message == "bad key [redacted]"
    assert secret not in caplog.text and secret not in json.dumps(rows, default=str)
    assert secret.encode() not in warehouse.path.read_bytes()


def test_acomplete_uses_the_cache_too():
    provider = ScriptedProvider(echo)

    async def twice(gateway: LLMGateway):
        first = await gateway.acomplete(ask("q"), CONTEXT)
        second = await gateway.acomplete(ask("q"), CONTEXT)
        return first, second

    first, second = asyncio.run(twice(LLMGateway(settings(), MemoryLog(), {"openai": provider})))
    assert not first.from_cache and second.from_cache and len(provider.calls) == 1


def test_auth_failure_is_never_retried_and_stops_the_batch():
    provider = ScriptedProvider(lambda request, attempt: ProviderError(
        ErrorKind.AUTH, "openai at https://llm.example/v1: authentication failed (HTTP 401): bad key"),
        delay=lambda request: 0.01)
    gateway = LLMGateway(settings(max_concurrency=2), MemoryLog(), {"openai": provider})
    with pytest.raises(PermanentProviderError) as caught:
        gateway.complete_many([ask(f"q{i}") for i in range(10)], CONTEXT)
    assert not isinstance(caught.value, ProviderUnreachableError)
    assert str(caught.value) == ("permanent error (auth) from openai:gpt-4o for role generator: openai at "
                                 "https://llm.example/v1: authentication failed (HTTP 401): bad key")
    assert len(provider.calls) <= 2 and all(r.attempts <= 1 for r in caught.value.results)


def test_a_refused_connection_that_comes_back_is_ridden_out_and_holds_the_others_meanwhile():
    refusals = []

    def restarting(request, attempt):
        if len(refusals) < 2:
            refusals.append(request.messages[0].content)
            return ProviderError(ErrorKind.UNREACHABLE, "openai at http://127.0.0.1:1/v1: connection refused")
        return echo(request, attempt)

    provider = ScriptedProvider(restarting)
    results, gateway, _ = run(settings(max_concurrency=1), None, provider, [ask(f"q{i}") for i in range(6)])
    assert all(r.ok for r in results) and gateway.stats.abort_reason is None
    # One request met the refusals and retried; the others waited for it instead of being refused too.
    assert refusals == ["q0", "q0"] and results[0].attempts == 3
    assert [r.attempts for r in results[1:]] == [1] * 5


def test_an_endpoint_that_stays_down_fails_after_the_bounded_attempts():
    provider = ScriptedProvider(lambda request, attempt: ProviderError(
        ErrorKind.UNREACHABLE, "openai at http://127.0.0.1:1/v1: connection refused"))
    gateway = LLMGateway(settings(max_concurrency=4, retry=FAST_RETRY.model_copy(update={"max_attempts_connection": 2})),
                         MemoryLog(), {"openai": provider})
    with pytest.raises(ProviderUnreachableError) as caught:
        gateway.complete_many([ask(f"q{i}") for i in range(12)], CONTEXT)
    assert str(caught.value) == ("LLM endpoint unreachable for openai:gpt-4o (role generator) after 2 attempts: "
                                 "openai at http://127.0.0.1:1/v1: connection refused")
    # Only the first requests went out (with max_concurrency=4 at once); the others were held, then not sent.
    assert len(provider.calls) <= 4 * 2
    assert Counter(r.status for r in caught.value.results)["not_sent"] >= 8
