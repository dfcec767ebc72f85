"""Which kept trajectories become dataset rows: only what a trainer can use.

Verification (Phase 2) compares final states and outputs; a blueprint that changes nothing is "met" by
any conversation, and a conversation can end on a tool observation or hold no human turn once the
user's stop message is removed. So every row the exporter would write is checked here first, in order,
and the first failing rule names the drop reason:

- `unknown_blueprint`: the trajectory's blueprint is not among those given (its writes cannot be checked);
- `blueprint_without_write`: the blueprint changes nothing, so any conversation "reaches" its state;
- `no_human_turn`: nothing the user said is left (e.g. the only turn was the stop message);
- `no_function_call`: the agent never called a tool (e.g. its only reply was unparseable text);
- `not_ending_on_agent_reply`: the example does not end on an agent text reply (e.g. on an observation);
- `missing_blueprint_write`: a write action of the blueprint (same tool, same arguments) is not among the
  trajectory's successful calls;
- `invalid_sharegpt` / `invalid_openai`: the row fails the independent format validators.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any

from apigen_pipeline.dataset.formats import training_messages
from apigen_pipeline.dataset.validators import validate_openai_example, validate_sharegpt_row
from apigen_pipeline.environments.database import canonical_json
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase2.models import TrajectoryAttempt
from apigen_pipeline.records import FrozenModel

DROP_REASONS = ("unknown_blueprint", "blueprint_without_write", "no_human_turn", "no_function_call", "not_ending_on_agent_reply",
                "missing_blueprint_write", "invalid_sharegpt", "invalid_openai")


class DroppedRow(FrozenModel):
    trajectory_id: str
    blueprint_id: str
    reason: str
    problems: list[str]


def missing_writes(attempt: TrajectoryAttempt, blueprint: AcceptedBlueprint, write_tools: Collection[str]
                   ) -> list[str]:
    """The blueprint's write actions (as canonical JSON) that no successful call of the trajectory made;
    a write the blueprint makes twice must be made twice."""
    made = Counter(canonical_json([c.name, c.arguments]) for c in attempt.executed_calls if c.ok)
    missing = []
    for action in blueprint.blueprint.actions:
        if action.name not in write_tools:
            continue
        key = canonical_json([action.name, action.arguments])
        if made[key] > 0:
            made[key] -= 1
        else:
            missing.append(key)
    return missing


def _shape_problem(attempt: TrajectoryAttempt) -> tuple[str, str] | None:
    messages = training_messages(attempt.messages)
    if not any(m.role == "user" for m in messages):
        return "no_human_turn", "no user turn is left once the stop message is removed"
    if not any(m.role == "assistant" and m.tool_calls for m in messages):
        return "no_function_call", "the agent never called a tool"
    last = messages[-1]
    if last.role != "assistant" or last.tool_calls or not (last.content or "").strip():
        return "not_ending_on_agent_reply", f"the conversation ends on a {last.role} message, not an agent reply"
    return None


def drop_reason(attempt: TrajectoryAttempt, blueprint: AcceptedBlueprint | None, write_tools: Collection[str],
                sharegpt: Mapping[str, Any], openai: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """(reason, problems) when the row must not be exported, None when a trainer can use it."""
    if blueprint is None:
        return "unknown_blueprint", [f"blueprint {attempt.blueprint_id} was not given to the exporter"]
    if not any(action.name in write_tools for action in blueprint.blueprint.actions):
        return "blueprint_without_write", [f"blueprint {attempt.blueprint_id} has no write action"]
    shape = _shape_problem(attempt)
    if shape is not None:
        return shape[0], [shape[1]]
    missing = missing_writes(attempt, blueprint, write_tools)
    if missing:
        return "missing_blueprint_write", [f"not made: {call}" for call in missing]
    for reason, problems in (("invalid_sharegpt", validate_sharegpt_row(sharegpt)),
                             ("invalid_openai", validate_openai_example(openai))):
        if problems:
            return reason, problems
    return None
