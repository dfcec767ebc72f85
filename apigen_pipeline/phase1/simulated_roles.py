"""The simulated backend's Phase 1 roles: generator, judge, summarizer, recombiner.

Each handler answers in exactly the format its prompt asks for, reading the tagged JSON in the
prompt and the domain's `Environment` (through `bindings`). Faults are realistic and configurable:
the generic kinds come from the provider's `FaultRates` (invalid JSON, a wrong-typed argument, a
disagreeing judge); the blueprint-specific kinds below are drawn here at `Phase1SimulationRates`.
A revision request (its prompt carries `<feedback>`) fixes the problems with probability
`revision_fix`; otherwise it is drawn afresh and may fail again. Yields are what these rates
produce, never hard-coded outcomes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from apigen_pipeline.environments.base import DomainSample, Environment, ToolCall
from apigen_pipeline.llm.simulated import FaultKind, SimulationContext, register_role_handler
from apigen_pipeline.llm.simulated.generic import break_arguments, garble_json
from apigen_pipeline.llm.simulated.roles import RoleHandlerRegistry
from apigen_pipeline.llm.types import LLMRequest, LLMResponse
from apigen_pipeline.phase1.bindings import bound_environment
from apigen_pipeline.phase1.models import CRITERIA
from apigen_pipeline.phase1.prompts import tagged_json, tagged_text
from apigen_pipeline.records import FrozenModel

REQUEST_PREFIX = "Your request: "
QUESTION_PREFIX = "You also want to know "
FALLBACK_LINE = "If the agent cannot do exactly this, ask what the closest allowed alternative is and accept it."


class Phase1SimulationRates(FrozenModel):
    """Per-request probabilities of the blueprint-specific faults and behaviours (not in `FaultRates`)."""

    hallucinated_id: float = Field(default=0.3, ge=0, le=1)      # an id argument that does not exist
    skip_authentication: float = Field(default=0.25, ge=0, le=1)   # auth calls left out: policy rejects
    missing_identity: float = Field(default=0.3, ge=0, le=1)     # instruction without identity: judges reject
    missing_output: float = Field(default=0.15, ge=0, le=1)       # a question asked, its answer not in outputs
    info_request: float = Field(default=0.4, ge=0, le=1)          # share of tasks that also ask a question
    # A revision either takes the feedback in (and fixes what was flagged) or repeats its blueprint.
    revision_fix: float = Field(default=0.2, ge=0, le=1)

    @classmethod
    def none(cls) -> Phase1SimulationRates:
        return cls(hallucinated_id=0, skip_authentication=0, missing_identity=0, missing_output=0,
                   revision_fix=1)


def register_phase1_roles(rates: Phase1SimulationRates | None = None, *,
                          registry: RoleHandlerRegistry | None = None) -> None:
    """Register the four handlers (replacing earlier Phase 1 registrations) in `registry` or the default one."""
    rates = rates or Phase1SimulationRates()
    handlers = {
        "generator": lambda request, ctx: generator_handler(request, ctx, rates),
        "judge": judge_handler,
        "summarizer": summarizer_handler,
        "recombiner": recombiner_handler,
    }
    for role, handler in handlers.items():
        if registry is not None:
            registry.register(role, handler, replace=True)
        else:
            register_role_handler(role, handler, replace=True)


def _draw(ctx: SimulationContext, rate: float) -> bool:
    # Same stream as the generic faults and always one draw, so rates never shift later decisions.
    return ctx.fault_rng.random() < rate and not ctx.is_repair


def _json_answer(ctx: SimulationContext, value: Any) -> LLMResponse:
    text = json.dumps(value, ensure_ascii=False)
    if ctx.fires(FaultKind.INVALID_JSON):
        text = garble_json(text, ctx.fault_rng)
    return LLMResponse(text=text, finish_reason="stop")


def _user_text(request: LLMRequest) -> str:
    return next((m.content or "" for m in reversed(request.messages) if m.role == "user"), "")


# -- generator ----------------------------------------------------------------------------------------
def generator_handler(request: LLMRequest, ctx: SimulationContext, rates: Phase1SimulationRates) -> LLMResponse | None:
    text = _user_text(request)
    context = tagged_json(text, "context")
    environment = bound_environment(context.get("domain", "")) if isinstance(context, dict) else None
    if environment is None or environment.plugin.propose_actions is None:
        return None
    sample = DomainSample.model_validate(context["domain_data"])
    write_tools = list(context.get("write_tools", []))
    revising = tagged_text(text, "feedback") is not None
    clean = revising and ctx.fault_rng.random() < rates.revision_fix
    previous = tagged_json(text, "previous_blueprint") if revising else None
    if revising and not clean and isinstance(previous, dict):
        # The revision that does not take the feedback in: the same blueprint again, failing again.
        return _json_answer(ctx, {"reasoning": "Kept the previous design.", "blueprint": previous})
    actions = environment.plugin.propose_actions(sample, write_tools, ctx.rng)
    if actions is None and clean:
        # A revision can drop a write the data cannot support and keep one it can ("if X is impossible, do Y").
        actions = next((a for tool in write_tools
                        if (a := environment.plugin.propose_actions(sample, [tool], ctx.rng)) is not None), None)
    if actions is None:
        actions = _ungrounded_actions(environment, sample, write_tools, ctx)
    question = _information_request(sample, actions, ctx) if ctx.rng.random() < rates.info_request else None
    calls = [{"name": a.name, "arguments": dict(a.arguments)} for a in actions]
    with_identity, outputs = True, [question[1]] if question else []
    if not clean:
        calls = _inject_call_faults(calls, environment, rates, ctx)
        with_identity = not _draw(ctx, rates.missing_identity)
        if question and _draw(ctx, rates.missing_output):
            outputs = []
    instruction = render_instruction(context["persona"]["description"], sample.identity if with_identity else {},
                                     [ToolCall(c["name"], c["arguments"]) for c in calls], environment,
                                     [question[0]] if question else [])
    reasoning = f"Built a task around {', '.join(write_tools) or 'an information request'} for {sample.user_id}."
    return _json_answer(ctx, {"reasoning": reasoning,
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
                        ctx: SimulationContext) -> list[dict[str, Any]]:
    writes = [c for c in calls if (s := environment.tool_spec(c["name"])) is not None and s.kind == "write"]
    if _draw(ctx, rates.hallucinated_id) and writes:
        target = ctx.fault_rng.choice(writes)
        id_keys = sorted(k for k, v in target["arguments"].items() if k.endswith("_id") and isinstance(v, str))
        if id_keys:
            key = ctx.fault_rng.choice(id_keys)
            target["arguments"][key] = hallucinated_id(target["arguments"][key], ctx.fault_rng)
    if writes and ctx.fires(FaultKind.WRONG_ARGUMENT):
        target = ctx.fault_rng.choice(writes)
        spec = environment.tool_spec(target["name"])
        target["arguments"] = break_arguments(target["arguments"], spec.parameters, ctx.fault_rng)  # type: ignore[union-attr]
    if _draw(ctx, rates.skip_authentication):
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


def identity_sentence(identity: Mapping[str, Any]) -> str:
    parts = [f"{key.replace('_', ' ')} {value}" for key, value in identity.items()]
    return f"If asked to identify yourself, give your {' and '.join(parts)}." if parts else ""


def render_instruction(persona: str, identity: Mapping[str, Any], calls: Sequence[ToolCall],
                       environment: Environment, questions: Sequence[str]) -> str:
    """Second person, one line per part: persona, identity, one request per write call, questions, fallback."""
    lines = [persona.strip(), identity_sentence(identity)]
    for call in calls:
        spec = environment.tool_spec(call.name)
        if spec is not None and spec.kind == "write":
            lines.append(REQUEST_PREFIX + request_sentence(call, spec.utterance))
    lines.extend(questions)
    lines.append(FALLBACK_LINE)
    return "\n".join(line for line in lines if line)


def request_sentence(call: ToolCall, utterance: str | None) -> str:
    """The tool's utterance template filled in, plus any id argument the template leaves out."""
    values = {k: _spoken(v) for k, v in call.arguments.items()}
    sentence = ""
    if utterance:
        try:
            sentence = utterance.format_map(values)
        except (KeyError, IndexError, ValueError):
            sentence = ""
    if not sentence:
        sentence = f"{call.name.replace('_', ' ')}."
    missing = [f"{k.replace('_', ' ')}: {values[k]}" for k in sorted(values)
               if _id_like(k) and values[k] not in sentence]
    if missing or not utterance:
        extra = missing or [f"{k.replace('_', ' ')}: {values[k]}" for k in sorted(values)]
        sentence += f" ({'; '.join(extra)})" if extra else ""
    return sentence


def _spoken(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_spoken(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _id_like(key: str) -> bool:
    return key.endswith("_id") or key.endswith("_ids")


# -- judge --------------------------------------------------------------------------------------------
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
                   if _id_like(k) and not all(part in instruction for part in _spoken(v).split(", "))]
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


def judge_handler(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
    text = _user_text(request)
    blueprint, context = tagged_json(text, "blueprint"), tagged_json(text, "context")
    if not isinstance(blueprint, dict) or not isinstance(context, dict):
        return None
    environment = bound_environment(str(context.get("domain", "")))
    scores, notes = judge_scores(blueprint, context, environment)
    if ctx.fires(FaultKind.JUDGE_DISAGREE):
        flipped = ctx.fault_rng.choice(CRITERIA)
        scores[flipped] = 1 - scores[flipped]
        notes.append(f"{flipped}: I see this differently from a plain reading")
    reflection = "; ".join(notes) or "The blueprint is grounded, complete and consistent."
    correction = _correction(notes, context)
    return _json_answer(ctx, {"scores": scores, "reflection": reflection, "correction": correction})


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


# -- summarizer ---------------------------------------------------------------------------------------
_PLAN_BY_STAGE = {
    "generation": "Reply with exactly one valid JSON object in the required format.",
    "format": "Use only the listed tools, with every required argument of the right type.",
    "execution": "Use only ids and values that exist in the user's data; re-check the failing call.",
    "policy": "Follow the domain policy: authenticate the user first and respect every rule cited.",
}


def summarizer_handler(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
    errors = tagged_json(_user_text(request), "errors")
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
    return _json_answer(ctx, {"plan": plan})


# -- recombiner ---------------------------------------------------------------------------------------
def recombiner_handler(request: LLMRequest, ctx: SimulationContext) -> LLMResponse | None:
    text = _user_text(request)
    context, sources = tagged_json(text, "context"), tagged_json(text, "blueprints")
    if not isinstance(context, dict) or not isinstance(sources, list):
        return None
    lines = [str(context.get("persona", "")).strip(), identity_sentence(context.get("identity", {}))]
    for source in sources:
        for line in str(source.get("instruction", "")).splitlines():
            if line.startswith((REQUEST_PREFIX, QUESTION_PREFIX)) and line not in lines:
                lines.append(line)
    lines.append(FALLBACK_LINE)
    return _json_answer(ctx, {"instruction": "\n".join(line for line in lines if line)})
