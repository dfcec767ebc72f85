"""Verification by replay (tau-bench's reward), one evaluator per check (tau2-style).

- `TerminationEvaluator`: an episode cut short by a provider failure or the turn limit fails as such; one
  ended by a terminating tool (a transfer to a human) passes only when the blueprint's ground truth ends
  with one (`unexpected_transfer`), and a blueprint that ends with one needs it (`missing_transfer`): a
  transfer changes no state, so the state check cannot see either.
- `StateEvaluator`: replay the blueprint's actions on a fresh database; the canonical state hash must
  equal the trajectory's final state. On a mismatch the diff (expected -> actual) names the records and
  fields that differ; when the user ended the conversation and the agent's changes are a strict part of
  the expected ones (writes missing, none wrong), the reason is `user_stopped_before_write` (a known
  simulator weakness worth counting apart).
- `OutputEvaluator`: every expected output must appear in some agent reply, both sides normalized the
  same way (case, currency symbols, thousands separators, trailing decimal zeros) and numbers and ids
  matched on token boundaries (`phase2.output_match`): "1,044.45" matches "$1044.45", "2" is not in "12".
Both state and outputs must hold for a verified trajectory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.database import Database, canonical_json
from apigen_pipeline.phase1.models import AcceptedBlueprint, Blueprint
from apigen_pipeline.phase2.models import (
    FAILURE_REASONS,
    CheckResult,
    EndReason,
    ExecutedToolCall,
    FailureReason,
    TrajectoryAttempt,
    TrajectoryMessage,
)
from apigen_pipeline.phase2.output_match import output_present


@dataclass(frozen=True)
class ExpectedOutcome:
    """The ground truth a trajectory is held to: the blueprint replayed on a fresh database."""

    database: Database
    state_hash: str
    write_calls: int
    replay_errors: tuple[str, ...]  # an accepted blueprint replays cleanly; kept for the record if not
    changes: frozenset[tuple[str, str, str, str]]  # (table, id, path, new value as JSON) from the seed


def expected_outcome(blueprint: Blueprint, environment: Environment) -> ExpectedOutcome:
    session = environment.new_session()
    errors: list[str] = []
    writes = 0
    for action in blueprint.actions:
        call = session.execute(action.name, action.arguments)
        if not call.ok:
            errors.append(f"{action.name}: {call.observation}")
        elif call.kind == "write":
            writes += 1
        if action.name in environment.terminating_tools:
            break  # the conversation ends with it: nothing after it can happen
    return ExpectedOutcome(session.database, session.state_hash(), writes, tuple(errors),
                           changes_from_seed(environment, session.database))


def changes_from_seed(environment: Environment, database: Database) -> frozenset[tuple[str, str, str, str]]:
    diff = environment.fresh_database().diff(database)
    return frozenset((c.table, c.record_id, c.path, canonical_json(c.after)) for c in diff.changes)


@dataclass(frozen=True)
class TrajectoryEvidence:
    """What the evaluators look at: how the episode ended, its messages and calls, its final state."""

    end_reason: EndReason
    end_detail: str
    messages: Sequence[TrajectoryMessage]
    executed_calls: Sequence[ExecutedToolCall]
    final_database: Database


class TerminationEvaluator:
    check = "termination"

    def __init__(self, terminating_tools: frozenset[str] = frozenset()):
        self.terminating_tools = terminating_tools

    def evaluate(self, evidence: TrajectoryEvidence, blueprint: Blueprint) -> CheckResult:
        if evidence.end_reason in ("provider_failure", "turn_limit"):
            return CheckResult(check=self.check, passed=False, reason=evidence.end_reason,
                               details={"end_detail": evidence.end_detail})
        expected = next((a.name for a in blueprint.actions if a.name in self.terminating_tools), None)
        transferred = evidence.end_reason == "transfer"
        if transferred and expected is None:
            made = evidence.executed_calls[-1].name if evidence.executed_calls else ""
            return CheckResult(check=self.check, passed=False, reason="unexpected_transfer",
                               details={"tool": made, "end_detail": "the blueprint does not end the conversation"})
        if expected is not None and not transferred:
            return CheckResult(check=self.check, passed=False, reason="missing_transfer",
                               details={"tool": expected, "end_reason": evidence.end_reason})
        return CheckResult(check=self.check, passed=True, details={"end_reason": evidence.end_reason})


class StateEvaluator:
    """Final state equals the replayed ground truth. A mismatch where the conversation ended by the user
    and everything the agent changed is part of the expected change (only expected changes are missing)
    is `user_stopped_before_write`; any wrong change is `state_mismatch`."""

    check = "final_state"

    def __init__(self, environment: Environment):
        self.environment = environment

    def evaluate(self, evidence: TrajectoryEvidence, expected: ExpectedOutcome) -> CheckResult:
        actual_hash = evidence.final_database.state_hash()
        if actual_hash == expected.state_hash:
            return CheckResult(check=self.check, passed=True, details={"state_hash": actual_hash})
        diff = expected.database.diff(evidence.final_database)
        writes_made = sum(1 for call in evidence.executed_calls if call.ok and call.kind == "write")
        made = changes_from_seed(self.environment, evidence.final_database)
        stopped_early = evidence.end_reason == "user_stop" and made < expected.changes
        reason: FailureReason = "user_stopped_before_write" if stopped_early else "state_mismatch"
        return CheckResult(check=self.check, passed=False, reason=reason, details={
            "expected_hash": expected.state_hash, "actual_hash": actual_hash, "diff": diff.to_json(),
            "diff_text": diff.render(), "writes_made": writes_made, "writes_expected": expected.write_calls})


class OutputEvaluator:
    check = "outputs"

    def evaluate(self, evidence: TrajectoryEvidence, outputs: Sequence[str]) -> CheckResult:
        replies = [m.content for m in evidence.messages if m.role == "assistant" and m.content]
        missing = [output for output in outputs if not output_present(output, replies)]
        if missing:
            return CheckResult(check=self.check, passed=False, reason="missing_output", details={"missing": missing})
        return CheckResult(check=self.check, passed=True, details={"outputs": list(outputs)})


@dataclass(frozen=True)
class VerificationReport:
    checks: tuple[CheckResult, ...]

    @property
    def verified(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failure_reason(self) -> FailureReason | None:
        """The most fundamental failing check (termination before state before outputs)."""
        reasons = {check.reason for check in self.checks if not check.passed and check.reason}
        return next((reason for reason in FAILURE_REASONS if reason in reasons), None)

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.check == name), None)


def verify(evidence: TrajectoryEvidence, blueprint: Blueprint, expected: ExpectedOutcome,
           environment: Environment) -> VerificationReport:
    return VerificationReport((
        TerminationEvaluator(environment.terminating_tools).evaluate(evidence, blueprint),
        StateEvaluator(environment).evaluate(evidence, expected),
        OutputEvaluator().evaluate(evidence, blueprint.outputs),
    ))


def replayed_state_hash(calls: Sequence[ExecutedToolCall], environment: Environment) -> str:
    """The state a trajectory's executed calls leave on a fresh database (failed calls change nothing)."""
    session = environment.new_session()
    for call in calls:
        session.execute(call.name, call.arguments)
    return session.state_hash()


def trajectory_replay_problems(trajectories: Sequence[TrajectoryAttempt], blueprints: Sequence[AcceptedBlueprint],
                               environment: Environment) -> list[str]:
    """Kept trajectories replayed against their blueprint's expected state: one line per trajectory whose
    calls lead elsewhere or whose blueprint is unknown (none when every trajectory replays)."""
    expected = {b.blueprint_id: b.state_hash for b in blueprints}
    return [f"{t.trajectory_id}: replayed state differs from blueprint {t.blueprint_id}" for t in trajectories
            if replayed_state_hash(t.executed_calls, environment) != expected.get(t.blueprint_id)]
