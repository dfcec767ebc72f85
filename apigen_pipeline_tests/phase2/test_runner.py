from __future__ import annotations

import pytest

from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.phase1.contexts import ContextSampler, SamplingConfig
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.phase1.settings import Phase1Config
from apigen_pipeline.phase2.models import (
    Phase2Settings,
    TrajectoryAttempt,
    TrajectoryMessage,
)
from apigen_pipeline.phase2.rows import trajectory_attempt_rows, user_turn_candidate_rows
from apigen_pipeline.phase2.runner import run_phase2, select_unique_successes
from apigen_pipeline.phase2.uniqueness import canonical_hash
from apigen_pipeline.simulated import FaultRates, Phase1SimulationRates, Phase2SimulationRates
from apigen_pipeline_tests.phase2.helpers import cancel_blueprint, mock_environment, simulated_client


def _attempt(blueprint_id: str, index: int, text: str, verified: bool = True) -> TrajectoryAttempt:
    messages = [TrajectoryMessage(role="user", content=text)]
    return TrajectoryAttempt(trajectory_id=f"{blueprint_id}-t{index}", blueprint_id=blueprint_id, attempt_index=index,
                             messages=messages, executed_calls=[], final_state_hash="h", end_reason="user_stop",
                             verdict="verified" if verified else "failed", canonical_hash=canonical_hash(messages))


def test_unique_successes_keep_the_first_of_each_canonical_form() -> None:
    attempts = [_attempt("b", 0, "Cancel  O1"), _attempt("b", 1, "cancel o1"), _attempt("b", 2, "cancel O2"),
                _attempt("c", 0, "cancel o1"), _attempt("c", 1, "x", verified=False)]
    marked = {a.trajectory_id: a for a in select_unique_successes(attempts, keep_policy_violations=False)}
    assert [tid for tid, a in marked.items() if a.kept] == ["b-t0", "b-t2", "c-t0"]
    assert marked["b-t1"].drop_reason == "duplicate" and marked["b-t1"].duplicate_of == "b-t0"
    assert marked["c-t1"].drop_reason is None and not marked["c-t1"].kept


def test_policy_violations_are_dropped_by_default_and_kept_on_request() -> None:
    from apigen_pipeline.phase2.models import AuditFinding

    flagged = _attempt("b", 0, "x").model_copy(update={"audit_findings": [AuditFinding(rule="r", message="m")]})
    assert select_unique_successes([flagged], False)[0].drop_reason == "policy_violation"
    assert select_unique_successes([flagged], True)[0].kept


def test_simulated_episodes_verify_and_every_kept_trajectory_is_clean() -> None:
    environment = mock_environment()
    blueprints = [cancel_blueprint(environment, i, with_question=i % 2 == 0) for i in range(6)]
    result = run_phase2(blueprints, environment, simulated_client(), Phase2Settings(), "mockshop")
    assert result.stats.attempts == 18
    assert result.stats.phase2_yield == 1.0  # no faults: the simulated agent completes every task
    for attempt in result.trajectories:
        assert attempt.verified and attempt.audit_clean and attempt.end_reason == "user_stop"
        assert attempt.final_state_hash == attempt.expected_state_hash
    assert len(result.attempts[0].candidates) == 4 * result.attempts[0].user_turns


def test_faults_produce_classified_failures_and_dropped_violations() -> None:
    environment = mock_environment()
    blueprints = [cancel_blueprint(environment, i, with_question=True) for i in range(12)]
    faults = FaultRates.none().model_copy(update={"user_early_stop": 0.3, "agent_skip_confirmation": 0.5})
    result = run_phase2(blueprints, environment, simulated_client(faults=faults,
                                                                  rates=Phase2SimulationRates(critic_miss=1.0)),
                        Phase2Settings(), "mockshop")
    assert result.stats.failures_by_reason.get("user_stopped_before_write", 0) > 0
    assert result.stats.dropped_policy > 0
    assert result.stats.audit_findings_by_rule.get("conversation.explicit_confirmation", 0) > 0
    assert 0 < result.stats.kept_trajectories < result.stats.attempts


def test_json_tool_call_mode_gives_the_same_data() -> None:
    environment = mock_environment()
    blueprints = [cancel_blueprint(environment, i, with_question=True) for i in range(3)]
    native = run_phase2(blueprints, environment, simulated_client(), Phase2Settings(), "mockshop")
    as_json = run_phase2(blueprints, environment, simulated_client(), Phase2Settings(tool_call_mode="json"),
                         "mockshop")
    assert as_json.stats.kept_trajectories == native.stats.kept_trajectories == 9

    def calls(result):  # type: ignore[no-untyped-def]
        return [[(c.name, c.arguments) for c in a.executed_calls] for a in result.attempts]

    assert calls(as_json) == calls(native)


def test_identical_inputs_give_identical_rows() -> None:
    environment = mock_environment()
    blueprints = [cancel_blueprint(environment, i, with_question=True) for i in range(3)]
    faults = FaultRates()
    runs = [run_phase2(blueprints, environment, simulated_client(seed=3, faults=faults), Phase2Settings(), "mockshop")
            for _ in range(2)]
    assert trajectory_attempt_rows(runs[0].attempts) == trajectory_attempt_rows(runs[1].attempts)
    assert user_turn_candidate_rows(runs[0].attempts) == user_turn_candidate_rows(runs[1].attempts)
    other_seed = run_phase2(blueprints, environment, simulated_client(seed=4, faults=faults), Phase2Settings(),
                            "mockshop")
    assert trajectory_attempt_rows(other_seed.attempts) != trajectory_attempt_rows(runs[0].attempts)


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_built_in_domains_end_to_end(domain: str) -> None:
    environment = load_environment(domain)
    client = simulated_client(faults=FaultRates.none(), environment=environment,
                              phase1_rates=Phase1SimulationRates.none())
    sampler = ContextSampler(environment, SamplingConfig())
    contexts = [sampler.sample("t", i) for i in range(6)]
    phase1 = run_phase1(contexts, environment, client, Phase1Config().with_feedback_rounds(0))
    assert phase1.kept_blueprints
    result = run_phase2(phase1.kept_blueprints, environment, client, Phase2Settings(attempts_per_blueprint=1),
                        domain)
    assert result.stats.kept_trajectories > 0
    for attempt in result.trajectories:
        assert attempt.final_state_hash == attempt.expected_state_hash
        assert any(call.kind == "write" and call.ok for call in attempt.executed_calls) or not any(
            environment.tool_spec(a.name).kind == "write"  # type: ignore[union-attr]
            for b in phase1.kept_blueprints if b.blueprint_id == attempt.blueprint_id for a in b.blueprint.actions)
