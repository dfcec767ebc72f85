"""The providers' prompt-cache prefix rule (`llm.prompt_cache`) and the simulated projection that applies it."""

import pytest

from apigen_pipeline.llm.config import LLMSettings, RoleModels
from apigen_pipeline.llm.gateway import CallContext, LLMGateway
from apigen_pipeline.llm.pricing import cost_of
from apigen_pipeline.llm.prompt_cache import (
    ANTHROPIC_HAIKU_RULE,
    ANTHROPIC_RULE,
    OPENAI_RULE,
    PrefixCache,
    PromptBlock,
    cache_rule_for,
    request_blocks,
)
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.llm.simulated_faults import FaultRates
from apigen_pipeline.llm.tokens import REQUEST_OVERHEAD_TOKENS, estimate_request_tokens
from apigen_pipeline.llm.types import ChatMessage, LLMRequest, ToolSchema, Usage
from apigen_pipeline.simulated import SimulatedBackend
from apigen_pipeline.warehouse import Warehouse

CONTEXT = CallContext(domain="retail", batch="2025-01-01", run_id="run-1", asset="trajectories")
POLICY = "Policy rule: only authenticated users may change an order; never reveal other users' data. " * 60
TOOL = ToolSchema(name="get_order_details", description="Look up an order by its id.",
                  parameters={"type": "object", "properties": {"order_id": {"type": "string"}}})


def block(name: str, tokens: int, breakpoint: bool = False) -> PromptBlock:
    return PromptBlock(name, tokens, breakpoint)


def test_openai_serves_the_longest_repeated_prefix_from_1024_tokens_in_128_token_steps():
    cache = PrefixCache(OPENAI_RULE)
    first = [block("tools", 600), block("system", 700), block("user-1", 50)]
    assert cache.use(first).read_tokens == 0
    again = [block("tools", 600), block("system", 700), block("user-2", 50)]
    # Tools + system (1,300 tokens) were seen: 1,024 + 2 x 128 of them count as cached.
    assert cache.use(again).read_tokens == 1280
    assert cache.use(again).write_tokens == 0  # OpenAI bills no cache writes
    assert cache.use([block("other-tools", 600), block("system", 700)]).read_tokens == 0  # a prefix, or nothing


def test_openai_caches_nothing_below_its_minimum():
    cache = PrefixCache(OPENAI_RULE)
    short = [block("system", 900), block("user", 100)]
    cache.use(short)
    assert cache.use(short).read_tokens == 0


def test_anthropic_caches_only_up_to_the_breakpoint_and_writes_it_first():
    cache = PrefixCache(ANTHROPIC_RULE)
    first = [block("tools", 500, breakpoint=True), block("system", 800, breakpoint=True), block("turn-1", 400)]
    use = cache.use(first)
    assert (use.read_tokens, use.write_tokens) == (0, 1300)
    # The same prefix, a longer conversation: read up to the breakpoint, never the unmarked turns.
    use = cache.use([*first, block("turn-2", 900)])
    assert (use.read_tokens, use.write_tokens) == (1300, 0)


def test_haiku_needs_2048_tokens_before_its_breakpoint():
    prompt = [block("system", 1500, breakpoint=True), block("user", 20)]
    haiku, sonnet = PrefixCache(cache_rule_for("anthropic", "claude-3-5-haiku-latest")), PrefixCache(
        cache_rule_for("anthropic", "claude-3-5-sonnet-latest"))
    assert haiku.rule == ANTHROPIC_HAIKU_RULE and sonnet.rule == ANTHROPIC_RULE
    for cache in (haiku, sonnet):
        cache.use(prompt)
    assert haiku.use(prompt).read_tokens == 0 and sonnet.use(prompt).read_tokens == 1500


def agent_request(turn: str, history: int = 0) -> LLMRequest:
    messages = [ChatMessage(role="system", content=POLICY, cacheable=True)]
    messages += [ChatMessage(role="user", content=f"earlier turn {i}") for i in range(history)]
    return LLMRequest(role="agent", messages=[*messages, ChatMessage(role="user", content=turn)], tools=[TOOL])


def test_request_blocks_follow_each_providers_prompt_order_and_marks():
    request = agent_request("Where is my order?")
    openai_blocks = request_blocks(request, "openai")
    anthropic_blocks = request_blocks(request, "anthropic")
    assert not any(b.breakpoint for b in openai_blocks)
    # Anthropic: the last tool and the cacheable system text carry the provider's cache_control marks.
    assert [b.breakpoint for b in anthropic_blocks] == [True, True, False]
    assert sum(b.tokens for b in openai_blocks) == estimate_request_tokens(request) - REQUEST_OVERHEAD_TOKENS


@pytest.mark.parametrize(("projection", "write_price_applies"), [("openai:gpt-4o", False),
                                                                 ("anthropic:claude-3-5-sonnet-latest", True)])
def test_a_simulated_run_projects_its_bill_with_the_target_providers_cache_rule(tmp_path, projection,
                                                                                write_price_applies):
    settings = LLMSettings(simulated_faults=FaultRates.none(), roles=RoleModels(agent=projection))
    requests = [agent_request(f"Turn {i}: where is my order?", history=i) for i in range(4)]
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with RequestLog(warehouse, background=False) as log:
        gateway = LLMGateway(settings, log, provider_factories={"simulated": SimulatedBackend().provider})
        for request in requests:  # one after another, as the turns of a conversation
            assert gateway.complete_many([request], CONTEXT)[0].ok
    rows = RequestLog(warehouse, background=False).rows()
    assert [row["cached_input_tokens"] > 0 for row in rows] == [False, True, True, True]
    assert all(row["cached_input_tokens"] < row["input_tokens"] for row in rows)
    assert (rows[0]["cache_write_input_tokens"] > 0) == write_price_applies
    model = projection.split(":")[1]
    for row in rows:
        billed = Usage(input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
                       cached_input_tokens=row["cached_input_tokens"],
                       cache_write_input_tokens=row["cache_write_input_tokens"])
        assert row["projected_cost_usd"] == pytest.approx(cost_of(billed, model, settings.prices).usd)
    uncached = sum(cost_of(Usage(input_tokens=r["input_tokens"], output_tokens=r["output_tokens"]), model,
                           settings.prices).usd for r in rows)
    assert sum(row["projected_cost_usd"] for row in rows) < 0.8 * uncached
