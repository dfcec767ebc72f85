import pytest

from apigen_pipeline.llm.config import DEFAULT_PRICES, ModelPrice
from apigen_pipeline.llm.pricing import cost_of, estimated_cost, price_for
from apigen_pipeline.llm.types import Usage

PRICES = {"model-a": ModelPrice(input=2.0, cached_input=0.5, output=8.0)}


def test_cached_input_is_billed_at_its_own_price():
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=250_000)
    cost = cost_of(usage, "model-a", PRICES)
    # 600k uncached at $2, 400k cached at $0.5, 250k output at $8.
    assert cost.usd == pytest.approx(1.2 + 0.2 + 2.0)
    assert not cost.unknown_model


def test_unknown_model_costs_none_with_a_flag_not_a_crash():
    cost = cost_of(Usage(input_tokens=10, output_tokens=10), "mystery-model", PRICES)
    assert cost.usd is None and cost.unknown_model
    assert cost.usd_or_zero == 0.0
    assert estimated_cost(10, 10, "mystery-model", PRICES) == 0.0


def test_dated_snapshots_are_priced_as_their_alias():
    assert price_for("gpt-4o-2024-08-06", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o"]
    assert price_for("claude-3-5-sonnet-20241022", DEFAULT_PRICES) == DEFAULT_PRICES["claude-3-5-sonnet"]
    assert price_for("gpt-4o-mini-2024-07-18", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o-mini"]


def test_estimate_assumes_no_caching():
    assert estimated_cost(500_000, 100_000, "model-a", PRICES) == pytest.approx(1.0 + 0.8)


def test_cache_writes_are_billed_at_their_own_price_and_the_input_price_by_default():
    anthropic_like = {"model-w": ModelPrice(input=3.0, cached_input=0.3, output=15.0, cache_write_input=3.75)}
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=200_000, cache_write_input_tokens=500_000)
    # 300k uncached at $3, 200k read at $0.3, 500k written at $3.75.
    assert cost_of(usage, "model-w", anthropic_like).usd == pytest.approx(0.9 + 0.06 + 1.875)
    # Without a cache-write price (OpenAI's case) written tokens cost the input price.
    assert cost_of(usage, "model-a", PRICES).usd == pytest.approx(1.6 + 0.1)


def test_a_request_sent_through_a_batch_api_gets_the_batch_discount_on_every_part():
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=250_000)
    assert cost_of(usage, "model-a", PRICES, via_batch=True).usd == pytest.approx((1.2 + 0.2 + 2.0) / 2)
    assert DEFAULT_PRICES["gpt-4o"].batch_discount == DEFAULT_PRICES["claude-3-5-sonnet"].batch_discount == 0.5
    assert DEFAULT_PRICES["claude-3-5-sonnet"].cache_write_input == pytest.approx(1.25 * 3.00)
