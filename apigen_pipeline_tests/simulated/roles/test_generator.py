import json

import pytest

from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.llm.structured import repair_request
from apigen_pipeline.llm.types import LLMResponse
from apigen_pipeline.phase1.contexts import ContextSampler, SamplingConfig
from apigen_pipeline.phase1.prompts import generator_request
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.phase1.settings import Phase1Config, PromptVersions
from apigen_pipeline.phase1.validation.execution import replay
from apigen_pipeline.simulated import FaultRates, Phase1SimulationRates
from apigen_pipeline.simulated.roles.generator import named_fixes
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


def test_a_plan_names_the_faults_it_asks_to_fix():
    assert named_fixes("Follow the domain policy: authenticate the user first and respect every rule cited. "
                       "(policy.authenticate_first)") == {"skip_authentication"}
    assert named_fixes("Fix execution.tool_error: {'error': 'order not found'}") == {"hallucinated_id"}
    assert named_fixes("Use only the listed tools, with every required argument of the right type. "
                       "(format.invalid_arguments)") == {"wrong_argument"}
    assert named_fixes("Judge 0: State the identity in the instruction: my email is a@b.c. Give exactly one "
                       "output per information request.") == {"missing_identity", "missing_output"}
    assert named_fixes("Reply with exactly one valid JSON object in the required format.") == frozenset()


def test_a_revision_fixes_only_what_the_plan_names():
    environment = mock_environment()
    faulty = CLEAN.model_copy(update={"skip_authentication": 1.0, "missing_identity": 1.0})
    client = simulated_client(faults=FaultRates.none(), rates=faulty)
    previous = {"instruction": "Cancel my order.", "actions": [], "outputs": []}
    for context in mock_contexts(5):
        revised = generate(client, context, environment, feedback="Follow the domain policy: authenticate the user "
                           "first. (policy.authenticate_first)", previous=previous)["blueprint"]
        assert revised["actions"][0]["name"] == "find_user"  # fixed: the plan named it
        assert context.domain_data.identity["email"] not in revised["instruction"]  # not named: still wrong


def test_a_revision_can_fail_for_another_reason_than_the_one_it_fixed():
    environment = mock_environment()
    contexts = mock_contexts(20)
    faulty = CLEAN.model_copy(update={"skip_authentication": 1.0, "missing_identity": 1.0})
    result = run_phase1(contexts, environment, simulated_client(faults=FaultRates.none(), rates=faulty),
                        Phase1Config().with_feedback_rounds(2))
    by_context: dict[str, list[str | None]] = {}
    for attempt in sorted(result.attempts, key=lambda a: a.round):
        if attempt.kind == "simple":
            by_context.setdefault(attempt.context_id, []).append(attempt.failure_reason)
    # Each round fixes what the last plan named and makes the other mistake again: it never converges,
    # which a reviser that returns a fault-free blueprint with probability revision_fix (= 1 here) would.
    # (A context whose data offers no valid write fails execution whatever is fixed: not an injected fault.)
    injected = {"policy.authenticate_first", "committee.completeness"}
    from_injected_faults = [reasons for reasons in by_context.values() if set(reasons) <= injected]
    assert from_injected_faults and all(len(reasons) == 3 and reasons[0] != reasons[1] != reasons[2]
                                        for reasons in from_injected_faults), by_context
    cycle = ["policy.authenticate_first", "committee.completeness", "policy.authenticate_first"]
    assert sum(reasons == cycle for reasons in by_context.values()) > len(contexts) // 2, by_context
    assert result.stats.yield_with_feedback == 0.0


def test_a_generator_asked_to_repair_its_invalid_reply_answers_the_task_again():
    # The gateway's re-ask names only the error; the generator still designs the task from the context it was
    # first given instead of leaving the answer to the generic filler, which echoes the prompt's reply template.
    environment = mock_environment()
    provider = simulated_client(faults=FaultRates.none(), rates=CLEAN).provider
    for context in mock_contexts(5):
        request = generator_request(context, environment, "v2", 0, None, None, 0.7, 512)
        invalid = LLMResponse(text='{"reasoning": "cut off', finish_reason="length")
        repair = request.model_copy(update={"messages": repair_request(request, request.messages, invalid,
                                                                      "the reply is not valid JSON")})
        outcome = provider.simulate(repair, "m")
        assert outcome.handled_by == "generator"
        blueprint = json.loads(outcome.response.text)["blueprint"]
        assert blueprint["instruction"].startswith("You are")
        assert context.domain_data.identity["email"] in blueprint["instruction"]


@pytest.mark.parametrize("domain", ["retail", "airline"])
def test_the_generator_reads_the_records_back_from_a_v3_prompts_tables(domain):
    # v3 writes records as tables; the simulated generator grounds its blueprint in what it decodes. Fault free,
    # a context's blueprint executes only if it found the user's orders, reservations, variants and flights.
    environment = load_environment(domain)
    sampler = ContextSampler(environment, SamplingConfig(), domain)
    contexts = [sampler.sample("v3", index) for index in range(20)]
    config = Phase1Config(prompts=PromptVersions(generator="v3", judge="v3")).with_feedback_rounds(0)
    client = simulated_client(faults=FaultRates.none(), rates=CLEAN, environment=environment)
    result = run_phase1(contexts, environment, client, config)
    assert result.stats.yield_without_feedback >= 0.9, result.stats.failures_by_reason
