"""The simulated critic: scores a candidate user turn 0-10.

Low when the candidate carries a value the instruction does not have, or stops while requests are
unsaid or a confirmation is open; a careless critic (`critic_miss`) overlooks this.
"""

from __future__ import annotations

import json
import random

from apigen_pipeline.llm.types import LLMRequest, LLMResponse
from apigen_pipeline.phase2.models import STOP_TOKEN
from apigen_pipeline.phase2.prompts import tagged_text
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.roles.script import CONFIRMATION_ASKED, parse_instruction, said, value_tokens


def critic_score(instruction: str, conversation: list[dict[str, str]], candidate: str, rng: random.Random,
                 careless: bool) -> tuple[int, str]:
    script = parse_instruction(instruction)
    lowered_instruction = instruction.lower()
    invented = [v for v in value_tokens(candidate) if v.lower() not in lowered_instruction]
    customer = [turn.get("text", "") for turn in conversation if turn.get("speaker") == "customer"]
    agent = [turn.get("text", "") for turn in conversation if turn.get("speaker") == "agent"]
    open_items = [item for item in script.items if not said(item, [*customer, candidate])]
    confirmation_open = bool(agent) and bool(CONFIRMATION_ASKED.search(agent[-1]))
    premature = STOP_TOKEN in candidate and (bool(open_items) or confirmation_open)
    if careless or not (invented or premature):
        return 8 + rng.randint(0, 2), "Faithful to the instruction and natural."
    if invented:
        return rng.randint(1, 3), f"Mentions values not in the instruction: {', '.join(invented)}."
    return rng.randint(1, 3), "Ends the conversation before the task is done."


def critic_handler(request: LLMRequest, ctx: SimulationContext, critic_miss: float) -> LLMResponse | None:
    text = ctx.last_user_text or ""
    instruction, conversation, candidate = (tagged_text(text, tag) for tag in ("instruction", "conversation",
                                                                               "candidate"))
    if instruction is None or candidate is None:
        return None
    try:
        turns = json.loads(conversation or "[]")
    except json.JSONDecodeError:
        turns = []
    careless = ctx.fault_rng.random() < critic_miss and not ctx.is_repair
    score, reason = critic_score(instruction, turns if isinstance(turns, list) else [], candidate, ctx.rng, careless)
    return ctx.json_response({"score": score, "reason": reason})
