"""The simulated generator: a task blueprint grounded in the context's data, with realistic mistakes.

It reads the tagged JSON of its prompt (`<context>`, `<feedback>`, `<previous_blueprint>`) and asks
the domain's environment plugin for a grounded action list through its optional `propose_actions`
hook; without the hook (or without the domain's environment) it leaves the answer to the generic
behaviour. Faults: the generic kinds come from the provider's `FaultRates` (invalid JSON, a
wrong-typed argument); the blueprint-specific kinds are drawn at `Phase1SimulationRates`.

A revision request (its prompt carries the summarizer's plan as `<feedback>`) takes the plan in with
probability `revision_fix`, otherwise it repeats its previous blueprint and fails again. Taking it in
means fixing exactly what the plan names (`named_fixes`: a flagged stage such as `policy.` or `execution.`,
or a judge's criterion such as completeness) while writing the blueprint afresh: every fault the plan does
not name is drawn again as in a first attempt, so a revision can fail for another reason, and yields with
and without feedback follow from the rates and the plans, not from `revision_fix` alone. These are
rehearsal numbers of the pipeline's plumbing; they measure nothing about any model.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from apigen_pipeline.environments.base import DomainSample, Environment, ToolCall
from apigen_pipeline.llm.types import LLMRequest, LLMResponse
from apigen_pipeline.phase1.compact_records import expand
from apigen_pipeline.phase1.prompts import tagged_json, tagged_text
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import FaultKind
from apigen_pipeline.simulated.generic import break_arguments
from apigen_pipeline.simulated.rates import Phase1SimulationRates
from apigen_pipeline.simulated.roles.answers import draw, json_answer
from apigen_pipeline.simulated.roles.instruction import QUESTION_PREFIX, render_instruction

# The faults a plan asks to fix, by what it names: the failed stage's reason (the summarizer cites it, the
# fallback plan starts with it), the stage's advice, or a judge's criterion and its correction.
PLAN_NAMES: dict[str, re.Pattern[str]] = {
    "wrong_argument": re.compile(r"\bformat\.[a-z]|of the right type", re.IGNORECASE),
    "hallucinated_id": re.compile(r"\bexecution\.[a-z]|values that exist", re.IGNORECASE),
    "skip_authentication": re.compile(r"\bpolicy\.[a-z]|authenticate the user", re.IGNORECASE),
    "missing_identity": re.compile(r"\bcompleteness\b|identity in the instruction", re.IGNORECASE),
    "missing_output": re.compile(r"\bsatisfaction\b|output per information request", re.IGNORECASE),
}


def named_fixes(plan: str) -> frozenset[str]:
    """The generator faults a feedback plan names (see `PLAN_NAMES`)."""
    return frozenset(fault for fault, pattern in PLAN_NAMES.items() if pattern.search(plan))


def generator_handler(request: LLMRequest, ctx: SimulationContext, rates: Phase1SimulationRates,
                      environments: Mapping[str, Environment]) -> LLMResponse | None:
    text = ctx.last_user_text or ""
    context = tagged_json(text, "context")
    environment = environments.get(context.get("domain", "")) if isinstance(context, dict) else None
    if environment is None or environment.plugin.propose_actions is None:
        return None
    sample = DomainSample.model_validate(expand(context["domain_data"]))  # v3 prompts write records as tables
    write_tools = list(context.get("write_tools", []))
    plan = tagged_text(text, "feedback")
    takes_feedback = plan is not None and ctx.fault_rng.random() < rates.revision_fix
    previous = tagged_json(text, "previous_blueprint") if plan is not None else None
    if plan is not None and not takes_feedback and isinstance(previous, dict):
        # The revision that does not take the feedback in: the same blueprint again, failing again.
        return json_answer(ctx, {"reasoning": "Kept the previous design.", "blueprint": previous})
    fixing = named_fixes(plan) if plan is not None and takes_feedback else frozenset()
    actions = environment.plugin.propose_actions(sample, write_tools, ctx.rng)
    if actions is None and "hallucinated_id" in fixing:
        # A revision can drop a write the data cannot support and keep one it can ("if X is impossible, do Y").
        actions = next((a for tool in write_tools
                        if (a := environment.plugin.propose_actions(sample, [tool], ctx.rng)) is not None), None)
    if actions is None:
        actions = _ungrounded_actions(environment, sample, write_tools, ctx)
    question = _information_request(sample, actions, ctx) if ctx.rng.random() < rates.info_request else None
    calls = [{"name": a.name, "arguments": dict(a.arguments)} for a in actions]
    outputs = [question[1]] if question else []
    calls = _inject_call_faults(calls, environment, rates, ctx, fixing)
    # Drawn even when fixed: the random stream, and so every later decision, stays the same.
    with_identity = not (draw(ctx, rates.missing_identity) and "missing_identity" not in fixing)
    if question and draw(ctx, rates.missing_output) and "missing_output" not in fixing:
        outputs = []
    instruction = render_instruction(context["persona"]["description"], sample.identity if with_identity else {},
                                     [ToolCall(c["name"], c["arguments"]) for c in calls], environment,
                                     [question[0]] if question else [])
    reasoning = f"Built a task around {', '.join(write_tools) or 'an information request'} for {sample.user_id}."
    return json_answer(ctx, {"reasoning": reasoning,
                              "blueprint": {"instruction": instruction, "actions": calls, "outputs": outputs}})



def _ungrounded_actions(environment: Environment, sample: DomainSample, write_tools: Sequence[str],
                        ctx: SimulationContext) -> list[ToolCall]:
    """What a model writes when the data cannot support the task: plausible calls that will not execute."""
    actions = [auth for auth in [_authentication_call(environment, sample)] if auth is not None]
    for tool in write_tools:
        spec = environment.tool_spec(tool)
        if spec is not None:
            arguments = ctx.value_for_schema(spec.parameters)
            actions.append(ToolCall(tool, arguments if isinstance(arguments, dict) else {}))
    return actions


def _authentication_call(environment: Environment, sample: DomainSample) -> ToolCall | None:
    """The first auth tool whose required arguments the user's identity supplies."""
    for name in environment.plugin.auth_tools:
        spec = environment.tool_spec(name)
        required = spec.parameters.get("required", []) if spec is not None else []
        if required and all(key in sample.identity for key in required):
            return ToolCall(name, {key: sample.identity[key] for key in required})
    return None


def _inject_call_faults(calls: list[dict[str, Any]], environment: Environment, rates: Phase1SimulationRates,
                        ctx: SimulationContext, fixing: frozenset[str]) -> list[dict[str, Any]]:
    """The faults a first attempt makes, except those in `fixing` (what a revision's plan named)."""
    writes = [c for c in calls if (s := environment.tool_spec(c["name"])) is not None and s.kind == "write"]
    if draw(ctx, rates.hallucinated_id) and "hallucinated_id" not in fixing and writes:
        target = ctx.fault_rng.choice(writes)
        id_keys = sorted(k for k, v in target["arguments"].items() if k.endswith("_id") and isinstance(v, str))
        if id_keys:
            key = ctx.fault_rng.choice(id_keys)
            target["arguments"][key] = hallucinated_id(target["arguments"][key], ctx.fault_rng)
    if writes and ctx.fires(FaultKind.WRONG_ARGUMENT) and "wrong_argument" not in fixing:
        target = ctx.fault_rng.choice(writes)
        spec = environment.tool_spec(target["name"])
        target["arguments"] = break_arguments(target["arguments"], spec.parameters, ctx.fault_rng)  # type: ignore[union-attr]
    if draw(ctx, rates.skip_authentication) and "skip_authentication" not in fixing:
        auth = set(environment.plugin.auth_tools)
        calls = [c for c in calls if c["name"] not in auth]
    return calls


def hallucinated_id(value: str, rng: random.Random) -> str:
    """An id of the same shape that the data does not hold (digits re-drawn, one more digit appended)."""
    redrawn = "".join(str(rng.randint(0, 9)) if ch.isdigit() else ch for ch in value)
    return redrawn + str(rng.randint(0, 9))


def _information_request(sample: DomainSample, actions: Sequence[ToolCall],
                         ctx: SimulationContext) -> tuple[str, str] | None:
    """A question about a value in the sampled data the task does not change, and its answer."""
    touched = {str(v) for a in actions for v in a.arguments.values() if isinstance(v, str)}
    candidates = []
    for table in sorted(sample.records):
        for record_id, record in sorted(sample.records[table].items()):
            if record_id in touched or table == "users":
                continue
            for field, value in sorted(record.items()):
                if isinstance(value, str | int | float) and not isinstance(value, bool) \
                        and not field.endswith("id") and str(value).strip():
                    candidates.append((table, record_id, field, value))
    if not candidates:
        return None
    table, record_id, field, value = ctx.rng.choice(candidates)
    noun = table.removesuffix("s")
    return f"{QUESTION_PREFIX}the {field.replace('_', ' ')} of {noun} {record_id}.", str(value)
