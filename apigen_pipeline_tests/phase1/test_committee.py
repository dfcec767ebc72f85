import pytest

from apigen_pipeline.llm.types import ErrorKind, LLMResponse, LLMResult
from apigen_pipeline.phase1.committee import (
    committee_kappa,
    decide,
    decision_verdicts,
    fleiss_kappa,
    parse_vote,
)
from apigen_pipeline.phase1.models import JudgeVote
from apigen_pipeline.phase1.settings import Phase1Config


def vote(index: int, correctness=1, completeness=1, satisfaction=1, creativity=1) -> JudgeVote:
    return JudgeVote(judge_index=index, scores={"correctness": correctness, "completeness": completeness,
                                                "satisfaction": satisfaction, "creativity": creativity})


def abstain(index: int) -> JudgeVote:
    return JudgeVote(judge_index=index, abstained=True, abstain_reason="llm_transient")


def test_majority_passes_with_one_dissent_and_fails_with_two():
    config = Phase1Config(committee_size=3)
    one_dissent = decide([vote(0), vote(1, completeness=0), vote(2)], config)
    assert one_dissent.accepted and one_dissent.tally("completeness").yes == 2
    two_dissent = decide([vote(0), vote(1, completeness=0), vote(2, completeness=0)], config)
    assert not two_dissent.accepted and two_dissent.reason == "committee.completeness"


def test_the_first_failed_required_criterion_names_the_reason_and_creativity_does_not_gate():
    config = Phase1Config(committee_size=3)
    votes = [vote(i, correctness=0, satisfaction=0, creativity=0) for i in range(3)]
    decision = decide(votes, config)
    assert decision.reason == "committee.correctness"
    no_creativity = decide([vote(i, creativity=0) for i in range(3)], config)
    assert no_creativity.accepted and not no_creativity.tally("creativity").passed
    strict = Phase1Config(committee_size=3, required_criteria=["correctness", "creativity"])
    assert decide([vote(i, creativity=0) for i in range(3)], strict).reason == "committee.creativity"


@pytest.mark.parametrize(("tie_rule", "accepted"), [("fail", False), ("pass", True)])
def test_even_committee_tie_follows_the_tie_rule(tie_rule, accepted):
    config = Phase1Config(committee_size=4, tie_rule=tie_rule)
    decision = decide([vote(0), vote(1), vote(2, correctness=0), vote(3, correctness=0)], config)
    assert decision.tally("correctness").decided_by == "tie_rule"
    assert decision.accepted is accepted


def test_even_committee_without_tie_is_a_plain_majority():
    config = Phase1Config(committee_size=4)
    decision = decide([vote(0), vote(1), vote(2), vote(3, correctness=0)], config)
    assert decision.accepted and decision.tally("correctness").decided_by == "majority"


def test_abstentions_do_not_count_and_a_tie_among_the_rest_fails_by_default():
    config = Phase1Config(committee_size=3)
    decision = decide([vote(0), vote(1, satisfaction=0), abstain(2)], config)
    assert decision.voters == 2 and decision.quorum_met
    assert decision.tally("satisfaction").decided_by == "tie_rule"
    assert decision.reason == "committee.satisfaction"
    unanimous_rest = decide([vote(0), vote(1), abstain(2)], config)
    assert unanimous_rest.accepted


def test_too_many_abstentions_miss_the_quorum():
    config = Phase1Config(committee_size=3)
    decision = decide([vote(0), abstain(1), abstain(2)], config)
    assert not decision.quorum_met and decision.reason == "committee.no_quorum"
    assert all(t.decided_by == "no_quorum" for t in decision.tallies)
    lenient = Phase1Config(committee_size=3, quorum=1)
    assert decide([vote(0), abstain(1), abstain(2)], lenient).accepted


def test_min_voted_score_is_an_acceptance_stage_failure():
    config = Phase1Config(committee_size=3, min_voted_score=4)
    decision = decide([vote(i, creativity=0) for i in range(3)], config)
    assert decision.committee_passed and not decision.accepted
    verdicts = decision_verdicts(decision, config)
    assert [(v.stage, v.passed, v.reason) for v in verdicts] == [
        ("committee", True, None), ("acceptance", False, "acceptance.score_below_threshold")]


def test_parse_vote_abstains_on_failure_and_unusable_output():
    failed = LLMResult(request_key="k", status="failed", error_kind=ErrorKind.INVALID_OUTPUT)
    assert parse_vote(0, failed).abstain_reason == "llm_invalid_output"
    garbled = LLMResult(request_key="k", status="answered", response=LLMResponse(text="{'scores': 1"))
    assert parse_vote(1, garbled).abstain_reason == "unparseable_output"
    not_binary = LLMResult(request_key="k", status="answered", response=LLMResponse(
        text='{"scores": {"correctness": 2, "completeness": 1, "satisfaction": 1, "creativity": 1}}'))
    assert parse_vote(2, not_binary).abstained
    good = LLMResult(request_key="k", status="answered", provider="p", model="m", response=LLMResponse(
        text='{"scores": {"correctness": 1, "completeness": 0, "satisfaction": 1, "creativity": 0},'
             ' "reflection": "r", "correction": "c"}'))
    parsed = parse_vote(3, good)
    assert not parsed.abstained and parsed.scores["completeness"] == 0 and parsed.model == "m"


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> kappa = 0.210.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-4)


def test_fleiss_kappa_binary_hand_computed():
    # 3 subjects x 3 raters: [3,0], [0,3], [1,2]. P_i = 1, 1, 1/3 -> P_bar = 7/9.
    # p = (4/9, 5/9) -> P_e = 41/81. kappa = (7/9 - 41/81) / (1 - 41/81) = 22/40 = 0.55.
    assert fleiss_kappa([[3, 0], [0, 3], [1, 2]]) == pytest.approx(0.55)
    assert fleiss_kappa([[3, 0], [3, 0]]) is None  # everyone always says the same thing: undefined
    assert fleiss_kappa([[1, 0]]) is None


def test_committee_kappa_per_criterion_and_overall():
    vote_sets = [[vote(0), vote(1), vote(2)],
                 [vote(0, correctness=0), vote(1, correctness=0), vote(2, correctness=0)],
                 [vote(0, correctness=0), vote(1), vote(2)]]
    kappas = committee_kappa(vote_sets)
    # correctness per subject: [0 no, 3 yes], [3, 0], [1, 2] -> the hand-computed 0.55 above.
    assert kappas["correctness"] == pytest.approx(0.55)
    assert kappas["completeness"] is None
    assert kappas["overall"] is not None and kappas["overall"] < 1
