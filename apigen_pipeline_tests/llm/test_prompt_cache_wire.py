"""Cached-token accounting end to end: the real OpenAI and Anthropic SDKs over HTTP to the wire servers, which
report cache hits the way each provider does; the gateway stores them per request and prices them."""

import pytest

from apigen_pipeline.llm.config import LLMSettings, ModelPrice, ModelRef, RoleModels
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.pricing import cost_of
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.types import ChatMessage, LLMRequest, ToolSchema, Usage
from apigen_pipeline.testing.wire_servers import AnthropicWireServer, OpenAIWireServer
from apigen_pipeline.warehouse import Warehouse

KEY_ENV = "APIGEN_CACHE_WIRE_KEY"
CONTEXT = CallContext(domain="retail", batch="b1", run_id="cache-wire", asset="trajectories")
POLICY = "Policy: authenticate the user first, confirm every write, never reveal other users' data. " * 80
TOOL = ToolSchema(name="get_order_details", description="Look up an order by its id.",
                  parameters={"type": "object", "properties": {"order_id": {"type": "string"}},
                              "required": ["order_id"]})
PRICES = {"gpt-4o": ModelPrice(input=2.5, cached_input=1.25, output=10.0),
          "claude-3-5-sonnet-latest": ModelPrice(input=3.0, cached_input=0.3, output=15.0, cache_write_input=3.75)}
SERVERS = {"openai": (OpenAIWireServer, "gpt-4o"), "anthropic": (AnthropicWireServer, "claude-3-5-sonnet-latest")}


def conversation_turn(turn: int) -> LLMRequest:
    """An agent turn: the same cacheable policy and tools every time, the conversation growing."""
    history = [ChatMessage(role="user" if i % 2 == 0 else "assistant", content=f"Message {i} about order #W{i}.")
               for i in range(2 * turn + 1)]
    return LLMRequest(role="agent", tools=[TOOL],
                      messages=[ChatMessage(role="system", content=POLICY, cacheable=True), *history])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_cached_tokens_are_read_from_each_providers_usage_stored_and_priced(provider, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-cache")
    server_type, model = SERVERS[provider]
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with server_type() as server:
        agent = ModelRef(provider=provider, model=model, base_url=server.base_url, api_key_env=KEY_ENV)
        settings = LLMSettings(backend_override="configured", roles=RoleModels(agent=agent), prices=PRICES)
        with RequestLog(warehouse, background=False) as log:
            gateway = LLMGateway(settings, log)
            for turn in range(4):  # one turn after another, as a conversation is played
                assert gateway.complete_many([conversation_turn(turn)], CONTEXT)[0].ok
    rows = RequestLog(warehouse, background=False).rows()

    assert len(rows) == 4
    assert rows[0]["cached_input_tokens"] == 0
    assert all(row["cached_input_tokens"] >= 1024 for row in rows[1:])  # the policy and tools, every later turn
    assert all(row["cached_input_tokens"] < row["input_tokens"] for row in rows)
    if provider == "anthropic":
        # Written once, read afterwards, and never past the breakpoint: every later turn reads the same prefix.
        assert rows[0]["cache_write_input_tokens"] >= 1024
        assert all(row["cache_write_input_tokens"] == 0 for row in rows[1:])
        assert len({row["cached_input_tokens"] for row in rows[1:]}) == 1
    else:
        assert all(row["cache_write_input_tokens"] == 0 for row in rows)
        # OpenAI caches the longest prefix seen, the conversation so far included: hits grow turn by turn.
        assert rows[1]["cached_input_tokens"] < rows[3]["cached_input_tokens"]
    for row in rows:
        usage = Usage(input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
                      cached_input_tokens=row["cached_input_tokens"],
                      cache_write_input_tokens=row["cache_write_input_tokens"])
        assert row["cost_usd"] == pytest.approx(cost_of(usage, model, PRICES).usd)
        assert row["via_batch"] is False
    hit_rate = sum(r["cached_input_tokens"] for r in rows) / sum(r["input_tokens"] for r in rows)
    assert 0.4 < hit_rate < 1.0
