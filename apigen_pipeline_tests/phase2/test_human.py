from __future__ import annotations

from apigen_pipeline.llm.types import LLMRequest, LLMResponse, LLMResult
from apigen_pipeline.phase2.human import AGENT_GREETING, choose_best, human_view, parse_critic, persona_text
from apigen_pipeline.phase2.models import Phase2Settings, TrajectoryMessage, UserTurnCandidate
from apigen_pipeline.phase2.runner import run_phase2
from apigen_pipeline_tests.phase2.helpers import ScriptedClient, cancel_blueprint, failed, mock_environment

CRITIC_SCORES = {0: 3, 1: 9, 2: 9, 3: 5}


def _responder(request: LLMRequest) -> LLMResponse | LLMResult:
    if request.role == "human":
        return LLMResponse(text=f"candidate {request.sample_index} ###STOP###")
    if request.role == "critic":
        score = CRITIC_SCORES[int(request.tags["candidate"])]
        return LLMResponse(text=f'{{"score": {score}, "reason": "r{score}"}}')
    raise AssertionError(f"unexpected role {request.role}")


def test_best_of_n_sends_the_best_candidate_and_keeps_them_all() -> None:
    environment = mock_environment()
    client = ScriptedClient(_responder)
    result = run_phase2([cancel_blueprint(environment, 0)], environment, client,
                        Phase2Settings(attempts_per_blueprint=1), "mockshop")
    attempt = result.attempts[0]
    assert [c.sample_index for c in attempt.candidates] == [0, 1, 2, 3]
    assert [c.score for c in attempt.candidates] == [3, 9, 9, 5]
    assert [c.chosen for c in attempt.candidates] == [False, True, False, False]  # tie -> lowest sample index
    assert attempt.messages[0].content == "candidate 1 ###STOP###"
    human_requests = [r for r in client.requests if r.role == "human"]
    assert sorted(r.sample_index for r in human_requests) == [0, 1, 2, 3]
    assert len({r.model_dump_json() for r in human_requests}) == 4  # they differ only in sample_index


def test_the_human_sees_no_tools_and_no_tool_results() -> None:
    view = human_view([TrajectoryMessage(role="user", content="cancel O1"),
                       TrajectoryMessage(role="assistant", content="Checking."),
                       TrajectoryMessage(role="tool", content='{"secret": 1}', tool_call_id="c"),
                       TrajectoryMessage(role="assistant", content="Done.")])
    assert [(m.role, m.content) for m in view] == [
        ("user", AGENT_GREETING), ("assistant", "cancel O1"), ("user", "Checking."), ("user", "Done.")]
    assert all(not m.tool_calls for m in view)


def test_unscored_candidates_rank_below_scored_ones_and_failed_ones_never_win() -> None:
    candidates = [UserTurnCandidate(turn_index=0, sample_index=0, text="a", score=None),
                  UserTurnCandidate(turn_index=0, sample_index=1, text="b", score=0),
                  UserTurnCandidate(turn_index=0, sample_index=2, text=None, failure="boom")]
    assert choose_best(candidates) == 1
    assert choose_best(candidates[2:]) is None


def test_critic_replies_are_clamped_and_failures_leave_no_score() -> None:
    ok = LLMResult(request_key="k", status="answered", response=LLMResponse(text="", parsed={"score": 14, "reason": "x"}))
    assert parse_critic(ok) == (10, "x", None)
    score, _, failure = parse_critic(failed())
    assert score is None and failure is not None and "transient" in failure


def test_persona_ids_map_back_to_the_persona_text() -> None:
    assert persona_text("persona-000042").startswith("You are")
    assert persona_text("someone-else") == ""
