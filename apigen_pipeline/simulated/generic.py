"""The generic simulated behaviour: always the format the request asks for, plus generic faults.

Precedence: `tool_choice="required"` -> a tool call; a response schema -> JSON text for it; tools on
an agent request (tool_choice not "none") -> a tool call; otherwise a short text reply.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from apigen_pipeline.llm.tokens import json_text
from apigen_pipeline.llm.types import LLMRequest, LLMResponse, ToolSchema
from apigen_pipeline.simulated.context import SimulationContext
from apigen_pipeline.simulated.faults import FaultKind

_USER_OPENERS = (
    "Hi, I need some help with {thing}.",
    "Hello! Could you help me with {thing}?",
    "I'd like to sort out a problem with {thing}, please.",
)
_AGENT_REPLIES = (
    "I can help with that. Could you please confirm the details so I can proceed?",
    "Thanks for the details. Let me look into this for you.",
    "Understood. Before I make any change, please confirm with an explicit yes.",
)
_PLAIN_REPLIES = (
    "Understood. The request has been reviewed and looks consistent.",
    "Here is a short answer: everything needed is in the provided context.",
    "Noted. No further changes are required.",
)
_PROSE_BEFORE_JSON = "Sure! Here is the JSON you asked for:\n```json\n"
# Wrong-typed stand-ins, tried in order until one is not allowed by the parameter's declared type.
_WRONG_TYPED_VALUES: tuple[tuple[str, Any], ...] = (
    ("integer", 12345), ("string", "not-a-valid-value"), ("boolean", True), ("array", ["x"]), ("object", {"x": 1}),
)


def wants_tool_call(request: LLMRequest) -> bool:
    if not request.tools or request.tool_choice == "none":
        return False
    return request.tool_choice == "required" or (request.role == "agent" and request.response_schema is None)


def generic_response(request: LLMRequest, ctx: SimulationContext) -> LLMResponse:
    if wants_tool_call(request):
        return _tool_call(request, ctx)
    if request.response_schema is not None:
        return _schema_answer(request.response_schema, ctx)
    return ctx.text_response(_text_reply(request, ctx))


# -- JSON answers ------------------------------------------------------------------------------------
def _schema_answer(schema: Mapping[str, Any], ctx: SimulationContext) -> LLMResponse:
    text = json_text(ctx.value_for_schema(schema))
    if ctx.fires(FaultKind.INVALID_JSON):
        text = garble_json(text, ctx.fault_rng)
    return LLMResponse(text=text, finish_reason="stop")


def garble_json(text: str, rng: random.Random) -> str:
    """Text that no strict JSON parser accepts, shaped like real model failures."""
    if text[:1] in "{[" and len(text) >= 2:
        style = rng.random()
        if style < 0.5:  # cut off mid-answer (length limit, stream dropped)
            return text[: rng.randint(1, len(text) - 1)]
        if style < 0.7:  # chatty preamble and an unclosed fence around a cut-off answer
            return _PROSE_BEFORE_JSON + text[: rng.randint(1, len(text) - 1)]
        if style < 0.85 or '"' not in text:  # trailing comma
            return text[:-1] + "," + text[-1]
        return text.replace('"', "'")  # Python-style quotes
    if text.startswith('"'):
        return text[:-1]  # unterminated string
    return f"The answer is {text}."


# -- tool calls ---------------------------------------------------------------------------------------
def _tool_call(request: LLMRequest, ctx: SimulationContext) -> LLMResponse:
    tool = _pick_tool(request.tools, ctx)
    arguments = ctx.value_for_schema(tool.parameters)
    if not isinstance(arguments, dict):
        arguments = {}
    name = tool.name
    if ctx.fires(FaultKind.UNKNOWN_TOOL):
        name = unknown_tool_name(tool.name, {known.name for known in request.tools}, ctx.fault_rng)
    if _can_break_arguments(tool.parameters, arguments) and ctx.fires(FaultKind.WRONG_ARGUMENT):
        arguments = break_arguments(arguments, tool.parameters, ctx.fault_rng)
    return ctx.tool_call_response(name, arguments)


def _pick_tool(tools: list[ToolSchema], ctx: SimulationContext) -> ToolSchema:
    # Favour tools whose required arguments the prompt can fill: a plausible agent calls those.
    weights = []
    for tool in tools:
        required = tool.parameters.get("required", [])
        weights.append(1 + sum(1 for name in required if ctx.grounding.candidates(name)))
    return ctx.rng.choices(tools, weights=weights, k=1)[0]


def unknown_tool_name(name: str, known: set[str], rng: random.Random) -> str:
    stem = name.removesuffix("s")
    variants = [f"{name}_v2", f"{stem}_info" if stem != name else f"{name}_info", name.replace("_", ""),
                f"lookup_{name}", f"{stem}_details"]
    rng.shuffle(variants)
    return next((variant for variant in variants if variant not in known and variant != name), f"{name}_tool")


def _can_break_arguments(parameters: Mapping[str, Any], arguments: Mapping[str, Any]) -> bool:
    if any(key in arguments for key in parameters.get("required", [])):
        return True
    properties = parameters.get("properties", {})
    return any(isinstance(properties.get(key), Mapping) and "type" in properties[key] for key in arguments)


def break_arguments(arguments: Mapping[str, Any], parameters: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """Arguments that violate the tool's schema: a required one missing, or one of the wrong type."""
    broken = dict(arguments)
    properties = parameters.get("properties", {})
    required = [key for key in parameters.get("required", []) if key in broken]
    typed = [key for key in broken if isinstance(properties.get(key), Mapping) and "type" in properties[key]]
    if required and (not typed or rng.random() < 0.5):
        del broken[rng.choice(required)]
        return broken
    key = rng.choice(typed)
    declared = properties[key]["type"]
    allowed = set(declared if isinstance(declared, list) else [declared])
    if "number" in allowed:
        allowed.add("integer")
    broken[key] = next(value for kind, value in _WRONG_TYPED_VALUES if kind not in allowed)
    return broken


# -- text -------------------------------------------------------------------------------------------
def _text_reply(request: LLMRequest, ctx: SimulationContext) -> str:
    if request.role == "human":
        things = [key.removesuffix("_id") for key in ctx.grounding.seen_keys()
                  if key.endswith("_id") and key not in ("user_id", "id")]
        thing = f"my {ctx.rng.choice(things)}" if things else "an order"
        return ctx.rng.choice(_USER_OPENERS).format(thing=thing)
    if request.role == "agent":
        return ctx.rng.choice(_AGENT_REPLIES)
    return ctx.rng.choice(_PLAIN_REPLIES)
