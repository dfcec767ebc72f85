"""Stage "format": required fields present, actions parse, tools exist, arguments match their schemas;
and the deterministic validity rules that need no execution: a real instruction (not empty, not a
placeholder, not too short), non-blank outputs, every tool from the context, at least one write among
the context's sampled write tools, nothing after a terminating tool (it ends the conversation)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.phase1.models import ActionCall, Blueprint, StageVerdict
from apigen_pipeline.phase1.settings import ValidityConfig
from apigen_pipeline.phase1.validation.instruction import instruction_problem
from apigen_pipeline.phase1.validation.scope import ToolScope

_BLANK_OUTPUT = string.punctuation + string.whitespace


def _verdict(reason: str, **details: Any) -> StageVerdict:
    return StageVerdict(stage="format", passed=False, reason=f"format.{reason}", details=details)


def _fail(reason: str, **details: Any) -> tuple[None, StageVerdict]:
    return None, _verdict(reason, **details)


def check_format(payload: Any, environment: Environment, scope: ToolScope,
                 rules: ValidityConfig) -> tuple[Blueprint | None, StageVerdict]:
    """A typed `Blueprint` when `payload` is a well-formed, valid one for this environment and context."""
    if not isinstance(payload, dict):
        return _fail("not_an_object", error=f"blueprint is {type(payload).__name__}, not an object")
    instruction = payload.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        return _fail("missing_instruction", error="'instruction' must be a non-empty string")
    verdict = check_instruction(instruction, rules)
    if not verdict.passed:
        return None, verdict
    actions = payload.get("actions")
    if not isinstance(actions, list):
        return _fail("missing_actions", error="'actions' must be a list")
    outputs = payload.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, str | int | float) for o in outputs):
        return _fail("invalid_outputs", error="'outputs' must be a list of strings")
    blank = [index for index, output in enumerate(outputs) if not str(output).strip(_BLANK_OUTPUT)]
    if blank:
        return _fail("empty_output", output_indexes=blank,
                     error="an output must be text the agent can say, not blank or punctuation only")
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
    verdict = check_scope(calls, environment, scope)
    if not verdict.passed:
        return None, verdict
    blueprint = Blueprint(instruction=instruction.strip(), actions=calls, outputs=[str(o) for o in outputs])
    return blueprint, StageVerdict(stage="format", passed=True)


def check_instruction(instruction: str, rules: ValidityConfig) -> StageVerdict:
    """A format verdict on the instruction alone (also used for a recombined blueprint's new instruction)."""
    problem = instruction_problem(instruction, rules)
    if problem is not None:
        reason, details = problem
        return _verdict(reason, **details)
    return StageVerdict(stage="format", passed=True)


def check_scope(calls: Sequence[ActionCall], environment: Environment, scope: ToolScope) -> StageVerdict:
    """Every tool from the context, every write one of its sampled writes, and at least one write."""
    allowed = sorted(scope.tools)
    for index, call in enumerate(calls):
        spec = environment.tool_spec(call.name)
        is_write = spec is not None and spec.kind == "write"
        if is_write and call.name not in scope.write_tools:
            return _verdict("write_not_sampled", action_index=index, tool=call.name,
                            write_tools=sorted(scope.write_tools),
                            error=f"action {index} writes with {call.name}, which is not one of the context's "
                                  f"write tools {sorted(scope.write_tools)}")
        if call.name not in scope.tools:
            return _verdict("tool_not_in_context", action_index=index, tool=call.name, context_tools=allowed,
                            error=f"action {index} uses {call.name}, which is not one of the context's tools "
                                  f"{allowed}")
    ending = next((i for i, call in enumerate(calls) if call.name in environment.terminating_tools), len(calls))
    if ending < len(calls) - 1:
        return _verdict("action_after_terminating_tool", action_index=ending + 1, tool=calls[ending].name,
                        error=f"action {ending} ({calls[ending].name}) ends the conversation: the "
                              f"{len(calls) - ending - 1} action(s) after it can never happen")
    writes = [call.name for call in calls
              if (spec := environment.tool_spec(call.name)) is not None and spec.kind == "write"]
    if not writes:
        return _verdict("no_write_action", write_tools=sorted(scope.write_tools),
                        error="the blueprint changes nothing: it needs at least one write action from the "
                              f"context's write tools {sorted(scope.write_tools)}")
    return StageVerdict(stage="format", passed=True, details={"writes": len(writes)})
