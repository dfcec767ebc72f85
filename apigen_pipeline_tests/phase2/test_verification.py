from __future__ import annotations

import pytest

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.llm.types import ToolCallData
from apigen_pipeline.phase1.models import AcceptedBlueprint, ActionCall, Blueprint
from apigen_pipeline.phase2.models import EndReason, ExecutedToolCall, TrajectoryMessage
from apigen_pipeline.phase2.verification import (
    TrajectoryEvidence,
    expected_outcome,
    output_present,
    verify,
)
from apigen_pipeline_tests.phase2.helpers import cancel_blueprint, mock_environment, pending_orders


@pytest.fixture(scope="module")
def environment() -> Environment:
    return mock_environment()


def _play(environment: Environment, calls: list[tuple[str, dict]], replies: list[str],
          end_reason: EndReason = "user_stop") -> TrajectoryEvidence:
    """A trajectory that makes `calls` then says `replies`, built without the orchestrator."""
    session = environment.new_session()
    messages: list[TrajectoryMessage] = [TrajectoryMessage(role="user", content="hello")]
    executed = []
    for index, (name, arguments) in enumerate(calls):
        call_id = f"call_{index}"
        messages.append(TrajectoryMessage(role="assistant", tool_calls=[ToolCallData(id=call_id, name=name,
                                                                                     arguments=arguments)]))
        result = session.execute(name, arguments)
        messages.append(TrajectoryMessage(role="tool", content=result.observation, tool_call_id=call_id, name=name))
        executed.append(ExecutedToolCall(call_id=call_id, name=name, arguments=arguments, observation=result.observation,
                                         ok=result.ok, kind=result.kind, message_index=len(messages) - 2))
    messages += [TrajectoryMessage(role="assistant", content=text) for text in replies]
    return TrajectoryEvidence(end_reason, "", messages, executed, session.database)


def _with_outputs(blueprint: AcceptedBlueprint, outputs: list[str]) -> Blueprint:
    return blueprint.blueprint.model_copy(update={"outputs": outputs})


def test_replaying_the_blueprint_verifies(environment: Environment) -> None:
    blueprint = cancel_blueprint(environment, 0)
    calls = [(a.name, a.arguments) for a in blueprint.blueprint.actions]
    report = verify(_play(environment, calls, ["Done."]), blueprint.blueprint,
                    expected_outcome(blueprint.blueprint, environment), environment)
    assert report.verified and report.failure_reason is None


def test_wrong_write_is_a_state_mismatch_with_a_diff_naming_the_record(environment: Environment) -> None:
    blueprint = cancel_blueprint(environment, 0)
    wrong_order = pending_orders(environment)[1][1]
    calls = [("find_user", blueprint.blueprint.actions[0].arguments), ("cancel_order", {"order_id": wrong_order})]
    report = verify(_play(environment, calls, ["Done."]), blueprint.blueprint,
                    expected_outcome(blueprint.blueprint, environment), environment)
    state = report.check("final_state")
    assert report.failure_reason == "state_mismatch" and state is not None
    changed = {(c["table"], c["id"]) for c in state.details["diff"]}
    assert changed == {("orders", blueprint.blueprint.actions[1].arguments["order_id"]), ("orders", wrong_order)}


def test_no_write_before_the_user_stops_is_counted_apart(environment: Environment) -> None:
    blueprint = cancel_blueprint(environment, 0)
    report = verify(_play(environment, [("find_user", blueprint.blueprint.actions[0].arguments)], ["Bye."]),
                    blueprint.blueprint, expected_outcome(blueprint.blueprint, environment), environment)
    assert report.failure_reason == "user_stopped_before_write"


def test_missing_output_fails_even_when_the_state_matches(environment: Environment) -> None:
    blueprint = cancel_blueprint(environment, 0)
    calls = [(a.name, a.arguments) for a in blueprint.blueprint.actions]
    target = _with_outputs(blueprint, ["99.99"])
    report = verify(_play(environment, calls, ["The total is 12.00."]), target,
                    expected_outcome(target, environment), environment)
    assert report.failure_reason == "missing_output"
    assert report.check("outputs").details["missing"] == ["99.99"]  # type: ignore[union-attr]
    assert report.check("final_state").passed  # type: ignore[union-attr]


def test_outputs_match_case_insensitively_with_both_sides_normalized() -> None:
    assert output_present("1044.45", ["Your refund is $1,044.45."])
    assert output_present("pending", ["The order is PENDING."])
    assert output_present("1,044.45", ["Your refund is $1,044.45."])  # a comma in the output matches too
    assert not output_present("1044.46", ["Your refund is $1,044.45."])


@pytest.mark.parametrize("end_reason", ["turn_limit", "provider_failure"])
def test_cut_short_episodes_fail_with_their_end_reason(environment: Environment, end_reason: EndReason) -> None:
    blueprint = cancel_blueprint(environment, 0)
    calls = [(a.name, a.arguments) for a in blueprint.blueprint.actions]
    report = verify(_play(environment, calls, ["Done."], end_reason), blueprint.blueprint,
                    expected_outcome(blueprint.blueprint, environment), environment)
    assert report.failure_reason == end_reason and not report.verified


def test_expected_outcome_counts_writes_and_records_replay_errors(environment: Environment) -> None:
    blueprint = Blueprint(instruction="x", actions=[ActionCall(name="cancel_order", arguments={"order_id": "NOPE"})])
    expected = expected_outcome(blueprint, environment)
    assert expected.write_calls == 0 and expected.replay_errors
    assert expected.state_hash == environment.fresh_database().state_hash()


FOREIGN = "apigen_pipeline_tests.foreign_shop.plugin:plugin"


def _transfer_blueprint(*, transfer: bool, then_cancel: bool = False) -> Blueprint:
    """Cancel Ada's small pending order, then (optionally) ask for a human about the rest."""
    actions = [ActionCall(name="find_user_id_by_email", arguments={"email": "ada.lovelace@example.org"}),
               ActionCall(name="cancel_pending_order", arguments={"order_id": "#F1001", "reason": "no longer needed"})]
    if transfer:
        actions.append(ActionCall(name="transfer_to_human_agents", arguments={"summary": "wants order #F1002 refunded"}))
    if then_cancel:
        actions.append(ActionCall(name="cancel_pending_order",
                                  arguments={"order_id": "#F1003", "reason": "ordered by mistake"}))
    return Blueprint(instruction="You are Ada Lovelace; cancel #F1001, then ask for a human.", actions=actions)


@pytest.mark.parametrize(("expects_transfer", "transferred", "reason"), [
    (True, True, None), (True, False, "missing_transfer"), (False, True, "unexpected_transfer"), (False, False, None)])
def test_the_declared_terminating_tool_ends_exactly_where_the_blueprint_ends(expects_transfer, transferred, reason):
    foreign = load_environment(FOREIGN)
    blueprint = _transfer_blueprint(transfer=expects_transfer)
    calls = [(a.name, a.arguments) for a in _transfer_blueprint(transfer=transferred).actions]
    evidence = _play(foreign, calls, ["Done."], end_reason="transfer" if transferred else "user_stop")
    report = verify(evidence, blueprint, expected_outcome(blueprint, foreign), foreign)
    assert report.failure_reason == reason
    assert report.check("final_state").passed  # type: ignore[union-attr]  # a transfer changes no state


def test_the_expected_state_stops_at_the_terminating_tool():
    foreign = load_environment(FOREIGN)
    stopped = expected_outcome(_transfer_blueprint(transfer=True, then_cancel=True), foreign)
    assert stopped.state_hash == expected_outcome(_transfer_blueprint(transfer=True), foreign).state_hash
    assert stopped.write_calls == 1
