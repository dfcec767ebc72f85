"""Re-executing accepted blueprints against the state hash stored at acceptance (the blocking check's core)."""

from __future__ import annotations

import pytest

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.phase1.models import AcceptedBlueprint, ActionCall
from apigen_pipeline.phase1.validation.execution import reexecution_problems, replay
from apigen_pipeline_tests.phase2.helpers import cancel_blueprint, mock_environment


@pytest.fixture(scope="module")
def environment() -> Environment:
    return mock_environment()


def accepted(environment: Environment, index: int) -> AcceptedBlueprint:
    """A blueprint as Phase 1 stores it: with the hash its actions reach on a fresh database."""
    blueprint = cancel_blueprint(environment, index)
    return blueprint.model_copy(update={"state_hash": replay(blueprint.blueprint.actions, environment).state_hash})


def with_actions(blueprint: AcceptedBlueprint, actions: list[ActionCall]) -> AcceptedBlueprint:
    return blueprint.model_copy(update={"blueprint": blueprint.blueprint.model_copy(update={"actions": actions})})


def test_blueprints_that_reach_their_stored_state_have_no_problem(environment):
    blueprints = [accepted(environment, 0), accepted(environment, 1)]
    assert blueprints[0].state_hash != environment.fingerprint()  # the cancellation changed the state
    assert reexecution_problems(blueprints, environment) == []


def test_a_stored_hash_that_the_actions_no_longer_reach_is_reported(environment):
    tampered = accepted(environment, 0).model_copy(update={"state_hash": "0" * 64})
    assert reexecution_problems([accepted(environment, 1), tampered], environment) == [
        f"{tampered.blueprint_id}: state hash differs from the stored one"]


def test_a_failing_call_is_reported_with_the_tool_and_its_error(environment):
    good = accepted(environment, 0)
    cancel = good.blueprint.actions[1]
    twice = with_actions(good, [*good.blueprint.actions, cancel])  # a pending order cannot be cancelled twice
    unknown_tool = with_actions(good, [ActionCall(name="refund_everything", arguments={})])
    bad_arguments = with_actions(good, [ActionCall(name="cancel_order", arguments={"order": 7})])
    problems = reexecution_problems([twice, unknown_tool, bad_arguments], environment)
    assert len(problems) == 3
    assert problems[0].startswith(f"{good.blueprint_id}: cancel_order -> Error")
    assert problems[1].startswith(f"{good.blueprint_id}: refund_everything -> Error")
    assert "refund_everything" in problems[1].split("->", 1)[1]
    assert problems[2].startswith(f"{good.blueprint_id}: cancel_order -> Error")
