"""Stage "execution": replay the ground-truth calls on a fresh database; any tool error rejects.

The outcome keeps the databases and the trace because the policy stage judges (before, trace, after).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from apigen_pipeline.environments.base import Environment, ExecutedCall
from apigen_pipeline.environments.database import Database
from apigen_pipeline.phase1.models import AcceptedBlueprint, ActionCall, StageVerdict


@dataclass(frozen=True)
class ExecutionOutcome:
    verdict: StageVerdict
    before: Database
    after: Database
    trace: tuple[ExecutedCall, ...]
    state_hash: str
    diff: list[dict]
    diff_text: str


def replay(actions: list[ActionCall], environment: Environment) -> ExecutionOutcome:
    before = environment.fresh_database()
    after = environment.fresh_database()
    trace: list[ExecutedCall] = []
    failure: StageVerdict | None = None
    for index, action in enumerate(actions):
        call = environment.execute(after, action.name, action.arguments)
        trace.append(call)
        if not call.ok:
            failure = StageVerdict(stage="execution", passed=False, reason="execution.tool_error",
                                   details={"action_index": index, "tool": action.name,
                                            "observation": call.observation})
            break
    state_diff = before.diff(after)
    verdict = failure or StageVerdict(stage="execution", passed=True,
                                      details={"calls": len(trace), "changed_records": len(state_diff.changed_records)})
    return ExecutionOutcome(verdict=verdict, before=before, after=after, trace=tuple(trace),
                            state_hash=after.state_hash(), diff=state_diff.to_json(), diff_text=state_diff.render())


def reexecution_problems(blueprints: Sequence[AcceptedBlueprint], environment: Environment) -> list[str]:
    """Accepted blueprints replayed on a fresh database: one line per blueprint whose call fails or whose
    final state differs from the hash stored at acceptance (none when every blueprint re-executes)."""
    problems: list[str] = []
    for accepted in blueprints:
        outcome = replay(accepted.blueprint.actions, environment)
        if not outcome.verdict.passed:
            details = outcome.verdict.details
            problems.append(f"{accepted.blueprint_id}: {details['tool']} -> {details['observation']}")
        elif outcome.state_hash != accepted.state_hash:
            problems.append(f"{accepted.blueprint_id}: state hash differs from the stored one")
    return problems
