"""The simulated summarizer: one improvement plan from the failures of a rejected blueprint."""

from __future__ import annotations

from apigen_pipeline.llm.types import LLMRequest, LLMResponse
from apigen_pipeline.phase1.prompts import tagged_json
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.roles.answers import json_answer

_PLAN_BY_STAGE = {
    "generation": "Reply with exactly one valid JSON object in the required format.",
    "format": "Use only the listed tools, with every required argument of the right type.",
    "execution": "Use only ids and values that exist in the user's data; re-check the failing call.",
    "policy": "Follow the domain policy: authenticate the user first and respect every rule cited.",
}


def summarizer_handler(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
    errors = tagged_json(ctx.last_user_text or "", "errors")
    if not isinstance(errors, list):
        return None
    steps = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        if error.get("stage") in _PLAN_BY_STAGE:
            steps.append(f"{_PLAN_BY_STAGE[error['stage']]} ({error.get('reason')})")
        elif error.get("correction") and error.get("correction") != "None needed.":
            steps.append(str(error["correction"]))
    plan = " ".join(dict.fromkeys(steps)) or "Make the instruction match the actions exactly."
    return json_answer(ctx, {"plan": plan})
