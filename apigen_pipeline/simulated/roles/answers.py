"""Answer helpers the Phase 1 roles share: one JSON reply (garbled at the `invalid_json` rate), one
blueprint-fault draw."""

from __future__ import annotations

import json
from typing import Any

from apigen_pipeline.llm.types import LLMResponse
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import FaultKind
from apigen_pipeline.simulated.generic import garble_json


def draw(ctx: SimulationContext, rate: float) -> bool:
    # Same stream as the generic faults and always one draw, so rates never shift later decisions.
    return ctx.fault_rng.random() < rate and not ctx.is_repair


def json_answer(ctx: SimulationContext, value: Any) -> LLMResponse:
    text = json.dumps(value, ensure_ascii=False)
    if ctx.fires(FaultKind.INVALID_JSON):
        text = garble_json(text, ctx.fault_rng)
    return LLMResponse(text=text, finish_reason="stop")
