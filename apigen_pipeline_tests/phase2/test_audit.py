from __future__ import annotations

import pytest

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.types import ToolCallData
from apigen_pipeline.phase2.audit import (
    AUTH_RULE,
    CONFIRMATION_RULE,
    ONE_CALL_RULE,
    audit_trajectory,
    is_confirmation,
)
from apigen_pipeline.phase2.models import ExecutedToolCall, Phase2Settings, TrajectoryMessage
from apigen_pipeline_tests.phase2.helpers import cancel_blueprint, mock_environment

WORDS = Phase2Settings().confirmation_words


@pytest.fixture(scope="module")
def environment() -> Environment:
    return mock_environment()


class Conversation:
    """Builds a trajectory turn by turn, executing calls on a real session."""

    def __init__(self, environment: Environment):
        self.environment = environment
        self.session = environment.new_session()
        self.messages: list[TrajectoryMessage] = []
        self.calls: list[ExecutedToolCall] = []

    def user(self, text: str) -> Conversation:
        self.messages.append(TrajectoryMessage(role="user", content=text))
        return self

    def agent(self, text: str) -> Conversation:
        self.messages.append(TrajectoryMessage(role="assistant", content=text))
        return self

    def call(self, name: str, **arguments: object) -> Conversation:
        call_id = f"call_{len(self.calls)}"
        self.messages.append(TrajectoryMessage(role="assistant", tool_calls=[
            ToolCallData(id=call_id, name=name, arguments=arguments)]))
        result = self.session.execute(name, arguments)
        self.messages.append(TrajectoryMessage(role="tool", content=result.observation, tool_call_id=call_id))
        self.calls.append(ExecutedToolCall(call_id=call_id, name=name, arguments=arguments,
                                           observation=result.observation, ok=result.ok, kind=result.kind,
                                           message_index=len(self.messages) - 2))
        return self

    def audit(self, violations: tuple[str, ...] = ()) -> list[str]:
        findings = audit_trajectory(self.environment, self.environment.fresh_database(), self.messages, self.calls,
                                    self.session.database, WORDS, violations)
        return sorted({f.rule for f in findings})


def _ids(environment: Environment) -> tuple[str, str]:
    actions = cancel_blueprint(environment, 0).blueprint.actions
    return actions[0].arguments["email"], actions[1].arguments["order_id"]


def test_a_policy_abiding_trajectory_has_no_findings(environment: Environment) -> None:
    email, order = _ids(environment)
    rules = (Conversation(environment).user(f"Cancel {order}. My email is {email}.").call("find_user", email=email)
             .agent(f"I will cancel order {order}. Proceed? (yes/no)").user("Yes, go ahead.")
             .call("cancel_order", order_id=order).audit())
    assert rules == []


def test_right_state_without_authentication_is_caught(environment: Environment) -> None:
    _, order = _ids(environment)
    rules = (Conversation(environment).user(f"Cancel {order}.")
             .agent(f"I will cancel order {order}. Proceed? (yes/no)").user("Yes.")
             .call("cancel_order", order_id=order).audit())
    assert AUTH_RULE in rules and "authenticate_first" in rules  # ours and the domain's own check


def test_right_state_without_confirmation_is_caught(environment: Environment) -> None:
    email, order = _ids(environment)
    rules = (Conversation(environment).user(f"Cancel {order}. My email is {email}.").call("find_user", email=email)
             .call("cancel_order", order_id=order).audit())
    assert rules == [CONFIRMATION_RULE]


def test_a_yes_to_an_undescribed_write_is_not_a_confirmation(environment: Environment) -> None:
    email, order = _ids(environment)
    rules = (Conversation(environment).user(f"My email is {email}.").call("find_user", email=email)
             .agent("Shall I go on?").user("Yes.").call("cancel_order", order_id=order).audit())
    assert rules == [CONFIRMATION_RULE]


def test_one_yes_does_not_cover_two_writes(environment: Environment) -> None:
    email, order = _ids(environment)
    user_id = email.split("@")[0]
    rules = (Conversation(environment).user(f"My email is {email}.").call("find_user", email=email)
             .agent(f"I will cancel {order} and rename you to zed. Proceed?").user("Yes.")
             .call("cancel_order", order_id=order).call("rename_user", user_id=user_id, nickname="zed").audit())
    assert rules == [CONFIRMATION_RULE]


def test_extra_calls_in_one_reply_are_findings(environment: Environment) -> None:
    assert Conversation(environment).user("hi").agent("hello").audit(("agent step 1: 2 tool calls",)) == [ONE_CALL_RULE]


@pytest.mark.parametrize(("text", "expected"), [
    ("Yes, please go ahead.", True), ("I confirm.", True), ("Sure, proceed.", True),
    ("No, don't do that.", False), ("What does that mean?", False), ("Yesterday I ordered it.", False),
])
def test_confirmation_words(text: str, expected: bool) -> None:
    assert is_confirmation(text, WORDS) is expected
