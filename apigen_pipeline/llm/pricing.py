"""What a request cost: `Usage` priced with the configured table. Unknown models cost None, never crash."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from apigen_pipeline.llm.config import ModelPrice
from apigen_pipeline.llm.types import Usage

logger = logging.getLogger(__name__)

# Providers publish dated snapshots ("gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022") billed like
# their alias, so a snapshot without its own entry is priced as the alias.
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_TOKENS_PER_PRICE_UNIT = 1_000_000


@dataclass(frozen=True)
class Cost:
    usd: float | None
    unknown_model: bool  # True: no price for this model; usd is None and totals undercount

    @property
    def usd_or_zero(self) -> float:
        return self.usd or 0.0


def price_for(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    if model in prices:
        return prices[model]
    alias = _DATE_SUFFIX.sub("", model)
    return prices.get(alias)


def cost_of(usage: Usage, model: str, prices: Mapping[str, ModelPrice], via_batch: bool = False) -> Cost:
    """Input tokens include the cached and cache-written ones; each part gets its own price, and a request
    that went through the provider's batch API (`via_batch`) the batch discount on all of them."""
    price = price_for(model, prices)
    if price is None:
        return Cost(usd=None, unknown_model=True)
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    written = min(usage.cache_write_input_tokens, usage.input_tokens - cached)
    uncached = usage.input_tokens - cached - written
    write_price = price.input if price.cache_write_input is None else price.cache_write_input
    usd = (uncached * price.input + cached * price.cached_input + written * write_price
           + usage.output_tokens * price.output) / _TOKENS_PER_PRICE_UNIT
    if via_batch:
        usd *= 1.0 - price.batch_discount
    return Cost(usd=usd, unknown_model=False)


def estimated_cost(input_tokens: int, output_tokens: int, model: str,
                   prices: Mapping[str, ModelPrice], via_batch: bool = False) -> float:
    """Upper-bound style estimate for budget reservations (no caching assumed; a provider batch's request
    with the batch discount); 0 for unknown models."""
    return cost_of(Usage(input_tokens=input_tokens, output_tokens=output_tokens), model, prices,
                   via_batch).usd_or_zero
