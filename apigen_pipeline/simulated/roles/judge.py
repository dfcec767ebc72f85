"""The simulated judge: the four binary scores a careful reviewer gives, with a reflection and a
suggested correction per failed criterion; at the `judge_disagree` rate it flips one verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.types import LLMRequest, LLMResponse
from apigen_pipeline.phase1.models import CRITERIA
from apigen_pipeline.phase1.prompts import tagged_json
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import FaultKind
from apigen_pipeline.simulated.roles.answers import json_answer
from apigen_pipeline.simulated.roles.instruction import QUESTION_PREFIX, id_like, identity_sentence, spoken


def judge_scores(blueprint: Mapping[str, Any], context: Mapping[str, Any],
                 environment: Environment | None) -> tuple[dict[str, int], list[str]]:
    """What a careful judge concludes, with one reflection per failed criterion."""
    instruction = str(blueprint.get("instruction", ""))
    actions = [a for a in blueprint.get("actions", []) if isinstance(a, dict)]
    outputs = list(blueprint.get("outputs", []))
    notes: list[str] = []
    identity = context.get("identity", {}) or {}
    completeness = int(all(str(v) in instruction for v in identity.values()))
    if not completeness:
        notes.append("completeness: the instruction never says how the user identifies themselves")
    writes = [a for a in actions
              if environment is None or ((s := environment.tool_spec(a.get("name", ""))) and s.kind == "write")]
    unmentioned = [f"{a.get('name')}.{k}" for a in writes for k, v in sorted(a.get("arguments", {}).items())
                   if id_like(k) and not all(part in instruction for part in spoken(v).split(", "))]
    correctness = int(not unmentioned)
    if unmentioned:
        notes.append(f"correctness: the instruction does not ask for {', '.join(unmentioned)}")
    asks = instruction.count(QUESTION_PREFIX)
    satisfaction = int(len(outputs) == asks)
    if not satisfaction:
        notes.append(f"satisfaction: {asks} information request(s) but {len(outputs)} output(s)")
    creativity = int(len(writes) >= 2 or asks > 0 or len(instruction) > 200)
    if not creativity:
        notes.append("creativity: a single routine change")
    return {"correctness": correctness, "completeness": completeness, "satisfaction": satisfaction,
            "creativity": creativity}, notes


def judge_handler(request: LLMRequest, ctx: SimulationContext,
                  environments: Mapping[str, Environment]) -> LLMResponse | None:
    text = ctx.last_user_text or ""
    blueprint, context = tagged_json(text, "blueprint"), tagged_json(text, "context")
    if not isinstance(blueprint, dict) or not isinstance(context, dict):
        return None
    environment = environments.get(str(context.get("domain", "")))
    scores, notes = judge_scores(blueprint, context, environment)
    if ctx.fires(FaultKind.JUDGE_DISAGREE):
        flipped = ctx.fault_rng.choice(CRITERIA)
        scores[flipped] = 1 - scores[flipped]
        notes.append(f"{flipped}: I see this differently from a plain reading")
    reflection = "; ".join(notes) or "The blueprint is grounded, complete and consistent."
    correction = _correction(notes, context)
    return json_answer(ctx, {"scores": scores, "reflection": reflection, "correction": correction})


def _correction(notes: Sequence[str], context: Mapping[str, Any]) -> str:
    fixes = []
    for note in notes:
        if note.startswith("completeness"):
            fixes.append(f"State the identity in the instruction: {identity_sentence(context.get('identity', {}))}")
        elif note.startswith("correctness"):
            fixes.append("Mention every id the actions use in the instruction.")
        elif note.startswith("satisfaction"):
            fixes.append("Give exactly one output per information request.")
    return " ".join(fixes) or "None needed."
