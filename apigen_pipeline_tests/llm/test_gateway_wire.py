"""The gateway through the real OpenAI and Anthropic SDKs against local wire servers (127.0.0.1 only)."""

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from apigen_pipeline.llm.config import LLMSettings, ModelRef, RetrySettings, RoleModels
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest
from apigen_pipeline.testing.wire_servers import (
    WIRE_SERVERS,
    FaultPlan,
    OpenAIWireServer,
    WireReply,
    WireServer,
    deterministic_responder,
)
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.llm.wire_cases import TASK_SCHEMA

PLANTED_KEY = "sk-test-PLANTED-SECRET-123"
KEY_ENV = "APIGEN_WIRE_TEST_KEY"
CONTEXT = CallContext(domain="retail", batch="b1", run_id="wire", asset="blueprints")


def wire_requests(count: int) -> list[LLMRequest]:
    # Half ask for schema JSON, half for plain text: both structured and free replies cross the wire.
    return [LLMRequest(role="generator", messages=[ChatMessage(role="user", content=f"Write task number {i}.")],
                       response_schema=TASK_SCHEMA if i % 2 == 0 else None)
            for i in range(count)]


def wire_settings(provider: str, base_url: str, **overrides) -> LLMSettings:
    ref = ModelRef(provider=provider, model="wire-test-model", base_url=base_url, api_key_env=KEY_ENV, timeout_s=0.5)
    return LLMSettings(backend_override="configured", roles=RoleModels(generator=ref),
                       prices={"wire-test-model": {"input": 1.0, "cached_input": 0.5, "output": 2.0}},
                       **overrides)


def log_rows(warehouse: Warehouse) -> list[dict]:
    return RequestLog(warehouse, background=False).rows()


def leaked_anywhere(secret: str, warehouse: Warehouse, *texts: str) -> list[str]:
    places = [str(path) for path in warehouse.path.parent.rglob("*")
              if path.is_file() and secret.encode() in path.read_bytes()]
    return places + [f"text #{i}" for i, text in enumerate(texts) if secret in text]


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_fault_injection_over_1000_requests(provider, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    caplog.set_level(logging.DEBUG)
    plan = FaultPlan(rate_limit=0.20, server_error=0.10, timeout=0.05, invalid_json=0.05, seed=11,
                     retry_after_s=0.02, timeout_delay_s=1.0)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    requests = wire_requests(1000)
    server: WireServer = WIRE_SERVERS[provider](fault_plan=plan)
    with server:
        settings = wire_settings(provider, server.base_url, max_concurrency=32,
                                 retry=RetrySettings(max_attempts_transient=4, max_attempts_rate_limit=6,
                                                     backoff_base_s=0.01, backoff_max_s=0.1))
        with RequestLog(warehouse, ingest_interval_s=0.2) as log:
            gateway = LLMGateway(settings, log, jitter_seed=1)
            results = gateway.complete_many(requests, CONTEXT)
    seen = server.requests
    rows = log_rows(warehouse)

    assert len(results) == 1000 and len(rows) == 1000
    statuses = Counter(r.status for r in results)
    assert set(statuses) <= {"answered", "failed"} and statuses["answered"] >= 950
    assert all(r.error_kind is not None for r in results if r.status == "failed")
    assert all(r.response.parsed is not None for i, r in enumerate(results) if r.ok and i % 2 == 0)
    # No request answered twice in the log ...
    answered_keys = [row["request_key"] for row in rows if row["status"] == "answered"]
    assert len(answered_keys) == len(set(answered_keys)) == statuses["answered"]
    # ... and the server answered a body twice only where the client had given up on a slow reply.
    attempts_by_body = Counter(record.body_hash for record in seen)
    for digest in server.bodies_answered_more_than_once():
        assert any(plan.draw(digest, attempt) == "timeout" for attempt in range(attempts_by_body[digest]))
    # Every send the server saw is counted in the log. Under load a client timeout can fire before the
    # server has read the request, so the log may count a few more sends, never more than its transport failures.
    logged_sends = sum(row["attempts"] for row in rows)
    transport_failures = sum(gateway.stats.retries[kind] + gateway.stats.failures[kind]
                             for kind in ("timeout", "transient", "unreachable"))
    assert len(seen) <= logged_sends <= len(seen) + transport_failures
    # ... and every fault kind was met and handled.
    assert {"rate_limit", "transient"} <= set(gateway.stats.retries)
    assert sum(r.repair_turns for r in results) + gateway.stats.retries["transient"] > 0
    assert all(record.auth_header_present for record in seen)
    assert leaked_anywhere(PLANTED_KEY, warehouse, caplog.text) == []


def test_permanent_auth_error_through_the_sdk_fails_the_batch_loudly(tmp_path, monkeypatch):
    from apigen_pipeline.llm.gateway import PermanentProviderError
    from apigen_pipeline.testing.wire_servers import WireReply

    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with OpenAIWireServer(lambda body, index: WireReply.unauthorized()) as server:
        settings = wire_settings("openai", server.base_url, max_concurrency=2)
        with RequestLog(warehouse, background=False) as log, pytest.raises(PermanentProviderError) as caught:
            LLMGateway(settings, log).complete_many(wire_requests(20), CONTEXT)
        assert server.request_count <= 2
    assert Counter(r.status for r in caught.value.results)["not_sent"] >= 18


CHILD = textwrap.dedent("""
    import logging, sys
    from apigen_pipeline.llm.config import LLMSettings, ModelRef, RoleModels
    from apigen_pipeline.llm.gateway import CallContext, LLMGateway
    from apigen_pipeline.llm.request_log import RequestLog
    from apigen_pipeline.llm.types import ChatMessage, LLMRequest
    from apigen_pipeline.warehouse import Warehouse

    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    db, base_url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ref = ModelRef(provider="openai", model="wire-test-model", base_url=base_url,
                   api_key_env="APIGEN_WIRE_TEST_KEY", timeout_s=5)
    settings = LLMSettings(backend_override="configured", roles=RoleModels(generator=ref), max_concurrency=8)
    requests = [LLMRequest(role="generator", messages=[ChatMessage(role="user", content=f"Write task number {i}.")])
                for i in range(count)]
    with RequestLog(Warehouse(db), ingest_interval_s=0.2) as log:
        results = LLMGateway(settings, log).complete_many(
            requests, CallContext(domain="retail", batch="b1", run_id="child", asset="blueprints"))
    print(sum(r.ok for r in results), sum(r.from_cache for r in results))
""")


def run_child(db: Path, base_url: str, count: int, stderr_path: Path) -> subprocess.Popen:
    env = {**os.environ, KEY_ENV: PLANTED_KEY, "APIGEN_LLM": ""}
    with open(stderr_path, "ab") as stderr:
        return subprocess.Popen([sys.executable, "-c", CHILD, str(db), base_url, str(count)], env=env,
                                stdout=subprocess.PIPE, stderr=stderr, text=True)


def answered_rows(warehouse: Warehouse) -> dict[str, str]:
    return {row["request_key"]: row["response_json"] for row in log_rows(warehouse) if row["status"] == "answered"}


@pytest.mark.slow
def test_sigkill_mid_batch_resumes_without_resending_answers(tmp_path):
    count, concurrency = 300, 8
    stderr_path = tmp_path / "child.stderr"
    killed_db, clean_db = tmp_path / "killed" / "w.duckdb", tmp_path / "clean" / "w.duckdb"
    with OpenAIWireServer(latency_s=0.02) as server:
        child = run_child(killed_db, server.base_url, count, stderr_path)
        deadline = time.monotonic() + 60
        while server.request_count < 120 and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
        first_run = server.requests
        answered_before_kill = {record.body_hash for record in first_run if record.answered}
        assert 120 <= len(first_run) < count, "the kill must land mid-batch"
        server.clear_records()

        resumed = run_child(killed_db, server.base_url, count, stderr_path)
        out, _ = resumed.communicate(timeout=120)
        assert resumed.returncode == 0
        assert out.split()[0] == str(count)
        second_run = server.requests
        resent = {record.body_hash for record in second_run} & answered_before_kill
        # Only what was in flight at the kill may go out again.
        assert len(resent) <= concurrency
        assert len(second_run) <= count - len(answered_before_kill) + concurrency
        server.clear_records()

        again = run_child(killed_db, server.base_url, count, stderr_path)
        out, _ = again.communicate(timeout=120)
        assert out.split() == [str(count), str(count)]
        assert server.request_count == 0  # a finished batch sends nothing

        clean = run_child(clean_db, server.base_url, count, stderr_path)
        clean.communicate(timeout=120)
    killed_warehouse, clean_warehouse = Warehouse(killed_db), Warehouse(clean_db)
    assert answered_rows(killed_warehouse) == answered_rows(clean_warehouse)
    assert len(answered_rows(killed_warehouse)) == count
    assert not list(killed_db.parent.glob("*.llm-spool/*.jsonl"))
    logs = stderr_path.read_text()
    assert "LLM batch done" in logs
    assert leaked_anywhere(PLANTED_KEY, killed_warehouse, logs) == []


# ---- an answer is an answer ---------------------------------------------------------------------------------

class WeakModel:
    """Answers every third task with prose instead of the JSON asked for (repairs included) until `fixed`."""

    def __init__(self):
        self.fixed = False

    def __call__(self, body: dict, call_index: int) -> WireReply:
        task = task_number(body)
        if task % 3 == 0 and not self.fixed:
            return WireReply.of_text(f"Sure! Task {task} is about cancelling an order.")
        return WireReply.of_json({"instruction": f"task {task}", "priority": task})


def task_number(body: dict) -> int:
    first_user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return int(first_user.removeprefix("Write task number ").rstrip("."))


def schema_requests(count: int) -> list[LLMRequest]:
    return [LLMRequest(role="generator", messages=[ChatMessage(role="user", content=f"Write task number {i}.")],
                       response_schema=TASK_SCHEMA) for i in range(count)]


def classified(results) -> list[tuple]:
    return [(r.status, r.error_kind, r.error_message, r.attempts, r.repair_turns,
             r.response.parsed if r.response else None) for r in results]


def run_batch(warehouse: Warehouse, base_url: str, requests: list[LLMRequest], **gateway_options):
    # A generous timeout: these tests count attempts, which a slow connect on a busy machine would add to.
    settings = wire_settings("openai", base_url, max_concurrency=4, max_repair_turns=1,
                             retry=RetrySettings(max_attempts_transient=1))
    generator = settings.roles.generator.model_copy(update={"timeout_s": 30.0})
    settings = settings.model_copy(update={"roles": settings.roles.model_copy(update={"generator": generator})})
    with RequestLog(warehouse, background=False) as log:
        return LLMGateway(settings, log, **gateway_options).complete_many(requests, CONTEXT)


def test_a_reply_that_fails_validation_is_answered_and_replayed_without_a_request(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    requests = schema_requests(12)
    model = WeakModel()
    with OpenAIWireServer(model) as server:
        first = run_batch(warehouse, server.base_url, requests)
        sent_first = server.request_count
        rows_after_first = log_rows(warehouse)
        server.clear_records()

        second = run_batch(warehouse, server.base_url, requests)
        assert server.request_count == 0  # the identical re-run pays for nothing, invalid answers included
        assert classified(second) == classified(first)
        assert all(r.from_cache for r in second)
        assert len(log_rows(warehouse)) == len(rows_after_first)  # and the log does not grow

        model.fixed = True
        third = run_batch(warehouse, server.base_url, requests, retry_failed=True)
        resent = sorted(task_number(record.body) for record in server.requests)
        server.clear_records()
        fourth = run_batch(warehouse, server.base_url, requests)
        assert server.request_count == 0

    failed_tasks = [i for i, r in enumerate(first) if not r.ok]
    assert failed_tasks == [0, 3, 6, 9]
    assert {(r.error_kind, r.repair_turns, r.attempts) for r in first if not r.ok} == {(ErrorKind.INVALID_OUTPUT, 1, 2)}
    assert sent_first == 12 + len(failed_tasks)  # each invalid one had its repair turn
    # The log holds each key once, answered, with the validation outcome and the rejected replies.
    assert Counter((row["status"], row["validation"]) for row in rows_after_first) == {
        ("answered", "valid"): 8, ("answered", "invalid"): 4}
    invalid_row = next(row for row in rows_after_first if row["validation"] == "invalid")
    assert json.loads(invalid_row["response_json"])["text"].startswith("Sure! Task")
    assert [turn["problem"] for turn in json.loads(invalid_row["repair_json"])] == [invalid_row["error_message"]]
    # --retry-failed re-asks the failed keys only, once each; the new answers replace the invalid ones.
    assert resent == failed_tasks
    assert all(r.ok for r in third) and [r.from_cache for r in third] == [i not in failed_tasks for i in range(12)]
    assert classified(fourth) == classified(third)
    rows = log_rows(warehouse)
    superseded = {row["supersedes"] for row in rows if row["supersedes"]}
    assert superseded == {row["entry_id"] for row in rows if row["validation"] == "invalid"}


def test_transport_failures_stay_unanswered_and_are_sent_again_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    requests = schema_requests(6)
    broken = {1, 4}

    def flaky(body: dict, call_index: int) -> WireReply:
        task = task_number(body)
        return WireReply.server_error() if task in broken else WireReply.of_json({"instruction": "x", "priority": task})

    with OpenAIWireServer(flaky) as server:
        first = run_batch(warehouse, server.base_url, requests)
        server.clear_records()
        broken.clear()
        second = run_batch(warehouse, server.base_url, requests)
        resent = sorted(task_number(record.body) for record in server.requests)
    assert [(r.status, r.error_kind) for r in first if not r.ok] == [("failed", ErrorKind.TRANSIENT)] * 2
    assert resent == [1, 4]
    assert all(r.ok for r in second)


# ---- a dead provider stops the batch ------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_nothing_listening_stops_the_batch_with_one_line_naming_the_endpoint(tmp_path, monkeypatch, caplog):
    from apigen_pipeline.llm.gateway import ProviderUnreachableError

    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    settings = wire_settings("openai", base_url, max_concurrency=4).model_copy(
        update={"retry": RetrySettings(backoff_base_s=0.05, backoff_max_s=0.1)})
    warehouse = Warehouse(tmp_path / "w.duckdb")
    started = time.monotonic()
    with RequestLog(warehouse, background=False) as log, pytest.raises(ProviderUnreachableError) as caught:
        LLMGateway(settings, log).complete_many(wire_requests(20), CONTEXT)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert message == (f"LLM endpoint unreachable for openai:wire-test-model (role generator) after 3 attempts: "
                       f"openai at {base_url}: connection refused (nothing listening?)")
    assert caught.value.result.error_kind is ErrorKind.UNREACHABLE
    statuses = Counter((r.status, r.error_kind) for r in caught.value.results)
    assert statuses[("failed", ErrorKind.UNREACHABLE)] <= 4  # what was in flight; the rest is never sent
    assert statuses[("not_sent", ErrorKind.ABORTED)] >= 16
    assert elapsed < 10  # refused at once: three quick attempts, not the reply timeout
    assert leaked_anywhere(PLANTED_KEY, warehouse, caplog.text, message) == []


def llama_cpp_like(body: dict, call_index: int) -> WireReply:
    """llama.cpp's Python server: json_schema is a 500, json_object with a schema works."""
    if (body.get("response_format") or {}).get("type") == "json_schema":
        return WireReply.server_error('response_format type must be one of "text" or "json_object", '
                                      "but got: json_schema")
    return deterministic_responder(body, call_index)


def test_structured_mode_is_detected_once_per_endpoint_by_each_gateway(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, PLANTED_KEY)
    with OpenAIWireServer(llama_cpp_like) as server, \
            RequestLog(Warehouse(tmp_path / "w.duckdb"), background=False) as log:
        generator = ModelRef(provider="openai", model="small", base_url=server.base_url, api_key_env=KEY_ENV)
        # Another model and tool-call mode at the same endpoint: another provider instance.
        summarizer = generator.model_copy(update={"model": "smaller", "tool_call_mode": "json"})
        settings = LLMSettings(backend_override="configured", roles=RoleModels(generator=generator,
                                                                               summarizer=summarizer))

        def ask(role: str, count: int, first: int = 0) -> list[LLMRequest]:
            return [LLMRequest(role=role, messages=[ChatMessage(role="user", content=f"{role} task {i}.")],
                               response_schema=TASK_SCHEMA) for i in range(first, first + count)]

        gateway = LLMGateway(settings, log)
        first = gateway.complete_many(ask("generator", 3), CONTEXT)    # each call runs its own event loop
        second = gateway.complete_many(ask("summarizer", 3), CONTEXT)
        formats = [r.body.get("response_format", {}).get("type") for r in server.requests]
        assert all(result.ok for result in first + second)
        assert formats.count("json_schema") == 1 and formats.count("json_object") == 6
        # Nothing is learned process-wide: another gateway finds out for itself.
        LLMGateway(settings, log).complete_many(ask("generator", 1, first=3), CONTEXT)  # not a cache hit
        formats = [r.body.get("response_format", {}).get("type") for r in server.requests]
        assert formats.count("json_schema") == 2
