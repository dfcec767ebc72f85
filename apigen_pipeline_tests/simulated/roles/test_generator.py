import json

import pytest

from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.phase1.contexts import ContextSampler, SamplingConfig
from apigen_pipeline.phase1.prompts import generator_request
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.phase1.settings import Phase1Config
from apigen_pipeline.phase1.validation.execution import replay
from apigen_pipeline.simulated import FaultRates, Phase1SimulationRates
from apigen_pipeline_tests.phase1.helpers import mock_contexts, mock_environment, simulated_client

CLEAN = Phase1SimulationRates(hallucinated_id=0, skip_authentication=0, missing_identity=0, missing_output=0,
                              info_request=0.5, revision_fix=1)


def generate(client, context, environment, feedback=None, previous=None):
    request = generator_request(context, environment, "v1", 0 if feedback is None else 1, previous, feedback,
                                0.7, 512)
    return json.loads(client.complete_many([request])[0].response.text)


def test_fault_free_generator_writes_grounded_second_person_blueprints():
    environment = mock_environment()
    client = simulated_client(faults=FaultRates.none(), rates=CLEAN)
    for context in mock_contexts(10):
        reply = generate(client, context, environment)
        blueprint = reply["blueprint"]
        assert blueprint["instruction"].startswith("You are")
        assert context.domain_data.identity["email"] in blueprint["instruction"]
        names = [a["name"] for a in blueprint["actions"]]
        assert names and names[0] == "find_user"
        assert len(blueprint["outputs"]) == blueprint["instruction"].count("You also want to know")


def test_each_generator_fault_fails_at_its_stage():
    environment = mock_environment()
    contexts = mock_contexts(30)
    for rates, reason in [
        (CLEAN.model_copy(update={"skip_authentication": 1.0}), "policy.authenticate_first"),
        (CLEAN.model_copy(update={"missing_identity": 1.0}), "committee.completeness"),
        (CLEAN.model_copy(update={"hallucinated_id": 1.0}), "execution.tool_error"),
    ]:
        result = run_phase1(contexts, environment, simulated_client(faults=FaultRates.none(), rates=rates),
                            Phase1Config().with_feedback_rounds(0))
        assert reason in result.stats.failures_by_reason, reason
        assert result.stats.failures_by_reason[reason] >= 10


def test_missing_output_fails_satisfaction_and_wrong_arguments_fail_format():
    environment = mock_environment()
    contexts = mock_contexts(30)
    rates = CLEAN.model_copy(update={"missing_output": 1.0, "info_request": 1.0})
    result = run_phase1(contexts, environment, simulated_client(faults=FaultRates.none(), rates=rates),
                        Phase1Config().with_feedback_rounds(0))
    assert result.stats.failures_by_reason.get("committee.satisfaction", 0) >= 10
    wrong_args = FaultRates.none().model_copy(update={"wrong_argument": 1.0})
    result = run_phase1(contexts, environment, simulated_client(faults=wrong_args, rates=CLEAN),
                        Phase1Config().with_feedback_rounds(0))
    assert result.stats.failures_by_reason.get("format.invalid_arguments", 0) >= 10


def test_revisions_fix_with_the_configured_probability():
    environment = mock_environment()
    contexts = mock_contexts(40)
    faulty = CLEAN.model_copy(update={"missing_identity": 1.0})
    never = run_phase1(contexts, environment, simulated_client(faults=FaultRates.none(),
                                                               rates=faulty.model_copy(update={"revision_fix": 0})),
                       Phase1Config().with_feedback_rounds(2))
    always = run_phase1(contexts, environment, simulated_client(faults=FaultRates.none(), rates=faulty),
                        Phase1Config().with_feedback_rounds(2))
    assert never.stats.yield_with_feedback == 0.0
    assert always.stats.acceptance_by_round.get("1", 0) > 0.5 * len(contexts)


@pytest.mark.slow
@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_built_in_domain_end_to_end(domain):
    environment = load_environment(domain)
    sampler = ContextSampler(environment, SamplingConfig())
    contexts = [sampler.sample("b1", i) for i in range(40)]
    result = run_phase1(contexts, environment, simulated_client(seed=4, environment=environment), Phase1Config())
    assert result.feedback_rounds == {"retail": 3, "airline": 5}[domain]
    assert 0 < result.stats.yield_without_feedback < result.stats.yield_with_feedback
    for accepted in result.blueprints:
        outcome = replay(accepted.blueprint.actions, environment)
        assert outcome.verdict.passed and outcome.state_hash == accepted.state_hash
        assert not environment.check_policy(outcome.before, outcome.trace, outcome.after)
