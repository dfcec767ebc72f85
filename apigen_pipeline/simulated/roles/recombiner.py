"""The simulated recombiner: one instruction holding every request and question of its source tasks."""

from __future__ import annotations

from apigen_pipeline.llm.types import LLMRequest, LLMResponse
from apigen_pipeline.phase1.prompts import tagged_json
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.roles.answers import json_answer
from apigen_pipeline.simulated.roles.instruction import (
    FALLBACK_LINE,
    QUESTION_PREFIX,
    REQUEST_PREFIX,
    identity_sentence,
)


def recombiner_handler(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
    text = ctx.last_user_text or ""
    context, sources = tagged_json(text, "context"), tagged_json(text, "blueprints")
    if not isinstance(context, dict) or not isinstance(sources, list):
        return None
    lines = [str(context.get("persona", "")).strip(), identity_sentence(context.get("identity", {}))]
    for source in sources:
        for line in str(source.get("instruction", "")).splitlines():
            if line.startswith((REQUEST_PREFIX, QUESTION_PREFIX)) and line not in lines:
                lines.append(line)
    lines.append(FALLBACK_LINE)
    return json_answer(ctx, {"instruction": "\n".join(line for line in lines if line)})
