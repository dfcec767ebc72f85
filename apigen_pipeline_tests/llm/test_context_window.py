"""Context windows over the wire: discovered from the server (vLLM, llama.cpp) or configured; a prompt that
cannot fit is a classified failure that never reaches the server; the override's timeout and concurrency."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from apigen_pipeline.llm import context_window
from apigen_pipeline.llm.config import LLMSettings, ModelRef, RetrySettings, RoleModels
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.tokens import estimate_request_tokens
from apigen_pipeline.llm.types import ChatMessage, ErrorKind, LLMRequest, SamplingParams
from apigen_pipeline.testing.wire_servers import OpenAIWireServer, WireReply
from apigen_pipeline.warehouse import Warehouse

CONTEXT = CallContext(domain="retail", batch="b1", run_id="window", asset="blueprints")
REPLY_TOKENS = 256


def request(words: int, tag: str) -> LLMRequest:
    return LLMRequest(role="generator", messages=[ChatMessage(role="user", content="word " * words)],
                      sampling=SamplingParams(max_tokens=REPLY_TOKENS), tags={"item": tag})


def settings_for(base_url: str, **ref_fields) -> LLMSettings:
    ref = ModelRef(provider="openai", model="wire-test-model", base_url=base_url, api_key_env="WINDOW_TEST_KEY",
                   timeout_s=5, **ref_fields)
    return LLMSettings(backend_override="configured", roles=RoleModels(generator=ref))


def run(settings: LLMSettings, warehouse: Warehouse, requests: list[LLMRequest]):
    with RequestLog(warehouse, background=False) as log:
        gateway = LLMGateway(settings, log)
        results = gateway.complete_many(requests, CONTEXT)
    return results, gateway, RequestLog(warehouse, background=False).rows()


@pytest.mark.parametrize(("server_options", "source"), [
    ({"max_model_len": 1024}, "/v1/models max_model_len"),  # vLLM
    ({"n_ctx": 1024}, "/props n_ctx"),                      # llama.cpp
])
def test_a_prompt_over_the_discovered_window_is_refused_before_sending(tmp_path, monkeypatch, server_options, source):
    monkeypatch.setenv("WINDOW_TEST_KEY", "x")
    too_long, fits = request(2000, "long"), request(50, "short")
    with OpenAIWireServer(**server_options) as server:
        results, gateway, rows = run(settings_for(server.base_url), Warehouse(tmp_path / "w.duckdb"), [too_long])
        assert server.request_count == 0  # nothing reached the server
        refused = results[0]
        assert (refused.status, refused.error_kind) == ("not_sent", ErrorKind.CONTEXT_TOO_LONG)
        prompt_tokens = estimate_request_tokens(too_long)
        assert refused.error_message == (
            f"prompt of about {prompt_tokens} tokens + {REPLY_TOKENS} reply tokens (max_tokens) does not fit the "
            f"context window of 1024 tokens of openai:wire-test-model ({source}); not sent")
        assert [(r["status"], r["error_kind"]) for r in rows] == [("not_sent", "context_too_long")]
        assert gateway.context_window("generator").tokens == 1024

        results, _, _ = run(settings_for(server.base_url), Warehouse(tmp_path / "w2.duckdb"), [fits, fits])
        assert [r.status for r in results] == ["answered", "answered"]
        assert server.request_count == 1  # the same request twice in a batch is sent once
        # Asked once per gateway: the listing, and the props only when the listing did not say.
        expected_reads = ["/v1/models"] if "max_model_len" in server_options else ["/v1/models", "/props"]
        assert server.metadata_reads == expected_reads * 2


def test_a_configured_window_is_not_asked_of_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("WINDOW_TEST_KEY", "x")
    with OpenAIWireServer(max_model_len=100_000) as server:
        results, _, _ = run(settings_for(server.base_url, context_window=1024), Warehouse(tmp_path / "w.duckdb"),
                            [request(2000, "long")])
        assert results[0].error_kind is ErrorKind.CONTEXT_TOO_LONG and "(config)" in (results[0].error_message or "")
        assert server.request_count == 0 and server.metadata_reads == []


def test_a_server_that_reports_no_window_gets_every_request(tmp_path, monkeypatch):
    monkeypatch.setenv("WINDOW_TEST_KEY", "x")
    with OpenAIWireServer() as server:
        results, gateway, _ = run(settings_for(server.base_url), Warehouse(tmp_path / "w.duckdb"),
                                  [request(2000, "long")])
        assert results[0].status == "answered" and server.request_count == 1
        assert gateway.context_window("generator") is None


def test_the_override_honours_the_timeout_and_concurrency_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    with OpenAIWireServer(latency_s=0.05) as server:
        env = {"APIGEN_LLM": "openai:wire-test-model", "APIGEN_LLM_BASE_URL": server.base_url,
               "APIGEN_LLM_CONCURRENCY": "1", "APIGEN_LLM_TIMEOUT": "30"}
        results, _, _ = run(LLMSettings.from_sources(None, env=env), Warehouse(tmp_path / "w.duckdb"),
                            [request(10, str(i)) for i in range(6)])
        assert [r.status for r in results] == ["answered"] * 6
        assert server.max_in_flight == 1  # one request at a time, as a local CPU model needs

    # The reply comes after 5 s: with the default 60 s timeout it would be answered.
    slow = OpenAIWireServer(lambda body, index: WireReply.of_text("late").delayed(5.0))
    with slow:
        env = {"APIGEN_LLM": "openai:wire-test-model", "APIGEN_LLM_BASE_URL": slow.base_url,
               "APIGEN_LLM_TIMEOUT": "0.3"}
        settings = LLMSettings.from_sources(None, env=env).model_copy(
            update={"retry": RetrySettings(max_attempts_transient=1)})
        results, _, _ = run(settings, Warehouse(tmp_path / "w3.duckdb"), [request(10, "slow")])
        assert results[0].error_kind is ErrorKind.TIMEOUT and "0.3 s" in (results[0].error_message or "")
        assert results[0].latency_s < 5.0


def test_discovery_picks_the_served_model_and_leaves_a_dead_endpoint_to_the_request():
    from apigen_pipeline.llm.context_window import _served_model, discover_context_window

    listing = {"data": [{"id": "small", "max_model_len": 4096}, {"id": "large", "max_model_len": 32768}]}
    assert _served_model(listing, "large")["max_model_len"] == 32768
    assert _served_model(listing, "other") is None  # several models, none of this name: not guessed
    assert _served_model({"data": [{"id": "only", "max_model_len": 8192}]}, "alias")["id"] == "only"
    with OpenAIWireServer() as server:
        port = server.port
    dead = ModelRef(provider="openai", model="m", base_url=f"http://127.0.0.1:{port}/v1")
    assert discover_context_window(dead) is None  # refused: the request itself will say so


def test_a_window_being_asked_never_stalls_the_lookups_of_the_event_loop(monkeypatch):
    """`cached` runs on the event loop for every request: it must answer "not known yet" at once while
    another thread waits on a server that does not answer, not wait for that question to end."""
    monkeypatch.setattr(context_window, "DISCOVERY_TIMEOUT_S", 0.6)
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        target = ModelRef(provider="openai", model="m", base_url=f"http://127.0.0.1:{silent.getsockname()[1]}/v1")
        windows = context_window.ContextWindows()
        asking = threading.Thread(target=windows.window, args=(target,))
        asking.start()
        time.sleep(0.2)  # the question is out, the lock held
        started = time.monotonic()
        assert windows.cached(target) == (False, None)
        assert time.monotonic() - started < 0.1
        asking.join()
    assert windows.cached(target) == (True, None)  # asked once: the silent server reported nothing
