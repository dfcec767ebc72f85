"""Stage "format": required fields present, actions parse, tools exist, arguments match their schemas."""

from __future__ import annotations

from typing import Any

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.phase1.models import ActionCall, Blueprint, StageVerdict


def _fail(reason: str, **details: Any) -> tuple[None, StageVerdict]:
    return None, StageVerdict(stage="format", passed=False, reason=f"format.{reason}", details=details)


def check_format(payload: Any, environment: Environment) -> tuple[Blueprint | None, StageVerdict]:
    """A typed `Blueprint` when `payload` is a well-formed one for this environment."""
    if not isinstance(payload, dict):
        return _fail("not_an_object", error=f"blueprint is {type(payload).__name__}, not an object")
    instruction = payload.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        return _fail("missing_instruction", error="'instruction' must be a non-empty string")
    actions = payload.get("actions")
    if not isinstance(actions, list):
        return _fail("missing_actions", error="'actions' must be a list")
    outputs = payload.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, str | int | float) for o in outputs):
        return _fail("invalid_outputs", error="'outputs' must be a list of strings")
    calls: list[ActionCall] = []
    for index, action in enumerate(actions):
        if not isinstance(action, dict) or not isinstance(action.get("name"), str):
            return _fail("invalid_action", action_index=index, error=f"action {index} has no tool name")
        arguments = action.get("arguments", {})
        problem = environment.argument_errors(action["name"], arguments)
        if problem is not None:
            reason = "unknown_tool" if environment.tool_spec(action["name"]) is None else "invalid_arguments"
            return _fail(reason, action_index=index, tool=action["name"], error=problem)
        calls.append(ActionCall(name=action["name"], arguments=arguments))
    blueprint = Blueprint(instruction=instruction.strip(), actions=calls, outputs=[str(o) for o in outputs])
    return blueprint, StageVerdict(stage="format", passed=True)
