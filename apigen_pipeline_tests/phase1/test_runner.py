import json

from apigen_pipeline.llm.context_window import ContextWindow
from apigen_pipeline.llm.tokens import estimate_request_tokens
from apigen_pipeline.llm.types import ErrorKind
from apigen_pipeline.phase1.contexts import TaskContext
from apigen_pipeline.phase1.prompts import generator_request, tagged_json, tagged_text
from apigen_pipeline.phase1.rows import blueprint_attempt_rows, blueprint_rows, committee_vote_rows
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.phase1.settings import Phase1Config, RecombinationConfig
from apigen_pipeline.phase1.validation.execution import replay
from apigen_pipeline_tests.phase1.helpers import (
    ScriptedClient,
    all_yes,
    failed_result,
    mock_contexts,
    mock_environment,
    simulated_client,
)

NO_RECOMBINATION = Phase1Config(recombination=RecombinationConfig(enabled=False))


def rename_contexts(count: int) -> list[TaskContext]:
    """Contexts that sampled the write `rename_user`, the one `good_blueprint` performs (a blueprint must
    write with its context's sampled write tools)."""
    contexts = [c for c in mock_contexts(60) if "rename_user" in c.write_tools][:count]
    assert len(contexts) == count
    return contexts


def user_text(request) -> str:
    return request.messages[-1].content


def good_blueprint(request) -> dict:
    context = tagged_json(user_text(request), "context")
    user_id = context["domain_data"]["user_id"]
    email = context["domain_data"]["identity"]["email"]
    return {"instruction": f"You are {user_id}; your email is {email}. Rename yourself to zed-{user_id}.",
            "actions": [{"name": "find_user", "arguments": {"email": email}},
                        {"name": "rename_user", "arguments": {"user_id": user_id, "nickname": f"zed-{user_id}"}}],
            "outputs": []}


def script(generator=None, judge=None, summarizer=None):
    """A scripted LLM: each role answers with the given function of the request (or a good default)."""
    def answer(request):
        if request.role == "generator":
            blueprint = (generator or good_blueprint)(request)
            return blueprint if not isinstance(blueprint, dict) or "blueprint" in blueprint else \
                {"reasoning": "r", "blueprint": blueprint}
        if request.role == "judge":
            return (judge or (lambda r: all_yes()))(request)
        if request.role == "summarizer":
            return (summarizer or (lambda r: {"plan": "PLAN: " + tagged_text(user_text(r), "errors")}))(request)
        raise AssertionError(f"unexpected role {request.role}")
    return ScriptedClient(answer)


def revised(request) -> bool:
    return tagged_text(user_text(request), "feedback") is not None


def test_all_good_blueprints_are_accepted_in_round_zero_with_one_batch_per_step():
    contexts = rename_contexts(4)
    client = script()
    result = run_phase1(contexts, mock_environment(), client, NO_RECOMBINATION)
    assert [a.status for a in result.attempts] == ["accepted"] * 4
    assert client.batches == [4, 12]  # all generators at once, then all 3 x 4 judges at once
    assert result.stats.yield_without_feedback == 1.0 and result.stats.acceptance_by_round == {"0": 4}
    assert len(result.blueprints) == 4 and all(len(a.votes) == 3 for a in result.attempts)


def test_accepted_blueprints_re_execute_to_their_stored_state_hash():
    environment = mock_environment()
    result = run_phase1(mock_contexts(30), environment, simulated_client(seed=3), Phase1Config())
    assert result.blueprints
    for accepted in result.blueprints:
        outcome = replay(accepted.blueprint.actions, environment)
        assert outcome.verdict.passed and outcome.state_hash == accepted.state_hash
        assert outcome.diff == accepted.diff


def test_format_failure_is_revised_from_the_summarizers_plan():
    def generator(request):
        blueprint = good_blueprint(request)
        if not revised(request):
            blueprint["actions"][1]["name"] = "rename_account"
        return blueprint

    client = script(generator=generator)
    result = run_phase1(rename_contexts(2), mock_environment(), client, NO_RECOMBINATION)
    first, second = [a for a in result.attempts if a.context_id == result.attempts[0].context_id]
    assert (first.status, first.failure_stage, first.failure_reason) == ("revised", "format", "format.unknown_tool")
    assert first.feedback_plan.startswith("PLAN: ") and "format.unknown_tool" in first.feedback_plan
    assert second.status == "accepted" and second.round == 1
    revision = next(r for r in client.requests if r.role == "generator" and r.tags["round"] == "1")
    assert tagged_text(user_text(revision), "feedback") == first.feedback_plan
    assert "rename_account" in tagged_text(user_text(revision), "previous_blueprint")
    assert result.stats.yield_without_feedback == 0.0 and result.stats.yield_with_feedback == 1.0


def test_execution_and_policy_failures_are_stored_with_reasons():
    def generator(request):
        blueprint = good_blueprint(request)
        if tagged_json(user_text(request), "context")["context_id"] == contexts[0].context_id:
            blueprint["actions"][1]["arguments"]["user_id"] = "user_999"
        else:
            blueprint["actions"] = blueprint["actions"][1:]
        return blueprint

    contexts = rename_contexts(2)
    config = Phase1Config(default_feedback_rounds=0, recombination=RecombinationConfig(enabled=False))
    result = run_phase1(contexts, mock_environment(), script(generator=generator), config)
    reasons = sorted((a.failure_stage, a.failure_reason, a.status) for a in result.attempts)
    assert reasons == [("execution", "execution.tool_error", "rejected"),
                       ("policy", "policy.authenticate_first", "rejected")]
    rows = {row["failure_reason"]: row for row in blueprint_attempt_rows(result)}
    verdicts = json.loads(rows["execution.tool_error"]["verdicts"])
    assert verdicts[-1]["details"]["tool"] == "rename_user" and verdicts[-1]["details"]["action_index"] == 1
    assert result.stats.failures_by_reason == {"execution.tool_error": 1, "policy.authenticate_first": 1}


def test_committee_split_rejects_and_feeds_reflections_to_the_summarizer():
    def judge(request):
        if request.tags["judge_index"] == "0":
            return all_yes()
        vote = all_yes("the identity is missing")
        vote["scores"]["completeness"] = 0
        return vote

    client = script(judge=judge)
    config = Phase1Config(default_feedback_rounds=1, recombination=RecombinationConfig(enabled=False))
    result = run_phase1(rename_contexts(1), mock_environment(), client, config)
    assert [a.failure_reason for a in result.attempts] == ["committee.completeness", "committee.completeness"]
    assert result.attempts[0].decision.tally("completeness").yes == 1
    summary = next(r for r in client.requests if r.role == "summarizer")
    assert "the identity is missing" in user_text(summary)
    votes = committee_vote_rows(result)
    assert len(votes) == 6 and sorted({v["judge_index"] for v in votes}) == [0, 1, 2]
    assert sum(v["completeness"] == 0 for v in votes) == 4


def test_feedback_rounds_are_exhausted_at_r_and_r_zero_disables_the_loop():
    def generator(request):
        blueprint = good_blueprint(request)
        blueprint["actions"][1]["arguments"]["user_id"] = "nobody"
        return blueprint

    client = script(generator=generator)
    config = Phase1Config(max_feedback_rounds={"mockshop": 2}, recombination=RecombinationConfig(enabled=False))
    result = run_phase1(rename_contexts(1), mock_environment(), client, config)
    assert [(a.round, a.status) for a in result.attempts] == [(0, "revised"), (1, "revised"), (2, "rejected")]
    assert result.attempts[-1].feedback_plan is None and result.feedback_rounds == 2
    assert result.stats.yield_with_feedback == 0.0

    no_loop = script(generator=generator)
    result = run_phase1(rename_contexts(1), mock_environment(), no_loop, config.with_feedback_rounds(0))
    assert [(a.round, a.status) for a in result.attempts] == [(0, "rejected")]
    assert not any(r.role == "summarizer" for r in no_loop.requests)


def test_llm_failures_become_classified_verdicts_and_abstentions():
    def generator(request):
        return failed_result(ErrorKind.TRANSIENT) if not revised(request) else good_blueprint(request)

    def judge(request):
        return failed_result(ErrorKind.INVALID_OUTPUT) if request.tags["judge_index"] == "2" else all_yes()

    client = script(generator=generator, judge=judge, summarizer=lambda r: failed_result(ErrorKind.PERMANENT))
    result = run_phase1(rename_contexts(1), mock_environment(), client, NO_RECOMBINATION)
    first, second = result.attempts
    assert first.failure_reason == "generation.llm_transient" and first.blueprint is None
    assert first.feedback_plan.startswith("Fix generation.llm_transient")  # the summarizer failed: fallback plan
    assert second.accepted and [v.abstained for v in second.votes] == [False, False, True]
    assert second.votes[2].abstain_reason == "llm_invalid_output"
    assert result.stats.judge_abstentions == 1 and result.stats.llm_failures == 3


def test_same_inputs_and_seed_give_identical_rows_and_another_seed_differs():
    environment = mock_environment()
    contexts = mock_contexts(12)

    def rows(seed):
        result = run_phase1(contexts, environment, simulated_client(seed=seed), Phase1Config())
        return blueprint_attempt_rows(result), committee_vote_rows(result), blueprint_rows(result)

    assert rows(7) == rows(7)
    assert rows(7) != rows(8)


def test_the_feedback_loop_raises_the_simulated_yield():
    environment = mock_environment()
    contexts = mock_contexts(40)
    with_loop = run_phase1(contexts, environment, simulated_client(seed=1), Phase1Config())
    without = run_phase1(contexts, environment, simulated_client(seed=1), Phase1Config().with_feedback_rounds(0))
    assert without.stats.yield_with_feedback == with_loop.stats.yield_without_feedback  # round 0 is shared
    assert with_loop.stats.yield_with_feedback > without.stats.yield_with_feedback
    funnel = {f.stage: f for f in with_loop.stats.funnel}
    assert funnel["generation"].reached == with_loop.stats.attempts
    assert funnel["acceptance"].passed == with_loop.stats.accepted_simple


def test_an_empty_placeholder_blueprint_stops_at_format_before_a_lenient_committee():
    empty = script(generator=lambda r: {"instruction": "placeholder", "actions": [], "outputs": []})
    lenient = Phase1Config(default_feedback_rounds=0, quorum=1, recombination=RecombinationConfig(enabled=False))
    result = run_phase1(rename_contexts(2), mock_environment(), empty, lenient)
    assert [(a.failure_stage, a.failure_reason) for a in result.attempts] == [
        ("format", "format.placeholder_instruction")] * 2
    assert result.blueprints == [] and not any(r.role == "judge" for r in empty.requests)

    no_write = script(generator=lambda r: {**good_blueprint(r), "actions": good_blueprint(r)["actions"][:1]})
    result = run_phase1(rename_contexts(1), mock_environment(), no_write, lenient)
    assert [a.failure_reason for a in result.attempts] == ["format.no_write_action"]
    assert result.stats.failures_by_reason == {"format.no_write_action": 1}


def test_a_generator_model_with_a_small_window_gets_shrunk_contexts_that_fit():
    contexts = rename_contexts(3)
    sizes = []
    for context in contexts:
        request = generator_request(context, mock_environment(), "v2", 0, None, None, 0.7, 64)
        sizes.append(estimate_request_tokens(request))
    client = script()
    window = min(sizes) - 1 + 64  # the prompt room (window - max_tokens) is just under the smallest full prompt
    client.context_window = lambda role: ContextWindow(tokens=window, source="config") if role == "generator" else None
    result = run_phase1(contexts, mock_environment(), client, NO_RECOMBINATION.model_copy(update={"max_tokens": 64}))
    generated = [r for r in client.requests if r.role == "generator"]
    assert len(generated) == 3 and all(estimate_request_tokens(r) <= window - 64 for r in generated)
    assert all(len(tagged_json(user_text(r), "context")["examples"]) < len(c.examples)
               for r, c in zip(generated, contexts, strict=True))
    assert len(result.blueprints) == 3  # the shrunk contexts still carry what the task needs
