"""Replaying kept trajectories' executed calls against their blueprint's expected state (the blocking
check's core)."""

from __future__ import annotations

import pytest

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase2.models import ExecutedToolCall, TrajectoryAttempt
from apigen_pipeline.phase2.verification import (
    expected_outcome,
    replayed_state_hash,
    trajectory_replay_problems,
)
from apigen_pipeline_tests.phase2.helpers import cancel_blueprint, mock_environment


@pytest.fixture(scope="module")
def environment() -> Environment:
    return mock_environment()


def accepted(environment: Environment, index: int) -> AcceptedBlueprint:
    blueprint = cancel_blueprint(environment, index)
    return blueprint.model_copy(update={"state_hash": expected_outcome(blueprint.blueprint, environment).state_hash})


def trajectory(blueprint: AcceptedBlueprint, calls: list[tuple[str, dict, bool]], suffix: str = "a") -> TrajectoryAttempt:
    executed = [ExecutedToolCall(call_id=f"call_{i}", name=name, arguments=arguments, observation="", ok=ok,
                                 kind=None, message_index=i) for i, (name, arguments, ok) in enumerate(calls)]
    return TrajectoryAttempt(trajectory_id=f"{blueprint.blueprint_id}-{suffix}", blueprint_id=blueprint.blueprint_id,
                             attempt_index=0, messages=[], executed_calls=executed, final_state_hash="",
                             end_reason="user_stop", verdict="verified", kept=True)


def as_played(blueprint: AcceptedBlueprint) -> list[tuple[str, dict, bool]]:
    return [(a.name, a.arguments, True) for a in blueprint.blueprint.actions]


def test_trajectories_that_reach_their_blueprints_state_have_no_problem(environment):
    blueprints = [accepted(environment, 0), accepted(environment, 1)]
    kept = [trajectory(b, as_played(b)) for b in blueprints]
    assert replayed_state_hash(kept[0].executed_calls, environment) == blueprints[0].state_hash
    assert trajectory_replay_problems(kept, blueprints, environment) == []


def test_failed_calls_in_the_trace_change_nothing(environment):
    blueprint = accepted(environment, 0)
    noisy = [("cancel_order", {"order_id": "no-such-order"}, False), ("get_order", {"nope": 1}, False),
             *as_played(blueprint)]
    assert trajectory_replay_problems([trajectory(blueprint, noisy)], [blueprint], environment) == []


def test_a_trajectory_that_stops_short_or_changes_another_record_is_reported(environment):
    first, second = accepted(environment, 0), accepted(environment, 1)
    stopped = trajectory(first, as_played(first)[:1], "stopped")        # never cancelled
    wrong = trajectory(first, as_played(second), "wrong")               # cancelled someone else's order
    right = trajectory(second, as_played(second), "right")
    problems = trajectory_replay_problems([stopped, right, wrong], [first, second], environment)
    assert problems == [f"{stopped.trajectory_id}: replayed state differs from blueprint {first.blueprint_id}",
                        f"{wrong.trajectory_id}: replayed state differs from blueprint {first.blueprint_id}"]


def test_a_trajectory_whose_blueprint_is_not_kept_is_reported(environment):
    orphan = accepted(environment, 2)
    problems = trajectory_replay_problems([trajectory(orphan, as_played(orphan))], [accepted(environment, 0)],
                                          environment)
    assert problems == [f"{orphan.blueprint_id}-a: replayed state differs from blueprint {orphan.blueprint_id}"]
