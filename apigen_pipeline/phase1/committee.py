"""The review committee: K judge requests per blueprint, vote parsing, majority vote, acceptance, kappa.

A judge whose reply cannot be used (LLM failure, or output that still fails to parse after the
gateway's repair turns) abstains; abstentions never count as a yes or a no.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.types import LLMRequest, LLMResult
from apigen_pipeline.phase1.models import (
    CRITERIA,
    Blueprint,
    CommitteeDecision,
    CriterionTally,
    JudgeVote,
    StageVerdict,
)
from apigen_pipeline.phase1.prompts import judge_requests
from apigen_pipeline.phase1.settings import Phase1Config
from apigen_pipeline.phase1.validation.generation import parsed_reply


@dataclass(frozen=True)
class JudgeSubject:
    """A blueprint that passed execution and policy, ready for the committee."""

    subject_id: str
    round: int
    blueprint: Blueprint
    context: Mapping[str, Any]  # what judges see of the user: identity, persona, records
    diff_text: str


def committee_requests(subject: JudgeSubject, environment: Environment, domain: str,
                       config: Phase1Config) -> list[LLMRequest]:
    return judge_requests(subject.subject_id, subject.round, config.committee_size, subject.blueprint,
                          subject.context, subject.diff_text, environment, domain, config.prompts.judge,
                          config.judge_temperature, config.max_tokens)


def parse_vote(judge_index: int, result: LLMResult) -> JudgeVote:
    base = {"judge_index": judge_index, "provider": result.provider, "model": result.model,
            "request_key": result.request_key}
    if not result.ok:
        kind = result.error_kind.value if result.error_kind is not None else result.status
        return JudgeVote(abstained=True, abstain_reason=f"llm_{kind}", **base)
    reply = parsed_reply(result)
    scores = reply.get("scores") if isinstance(reply, dict) else None
    if not isinstance(scores, dict) or not all(_binary(scores.get(c)) for c in CRITERIA):
        return JudgeVote(abstained=True, abstain_reason="unparseable_output", **base)
    return JudgeVote(scores={c: int(scores[c]) for c in CRITERIA}, reflection=str(reply.get("reflection", "")),
                     correction=str(reply.get("correction", "")), **base)


def _binary(value: Any) -> bool:
    return not isinstance(value, bool) and value in (0, 1)


def tally(criterion: str, votes: Sequence[JudgeVote], config: Phase1Config) -> CriterionTally:
    counted = [v for v in votes if not v.abstained]
    yes = sum(v.scores[criterion] for v in counted)
    no = len(counted) - yes
    if len(counted) < config.effective_quorum:
        return CriterionTally(criterion=criterion, yes=yes, no=no, passed=False, decided_by="no_quorum")
    if yes == no:
        return CriterionTally(criterion=criterion, yes=yes, no=no, passed=config.tie_rule == "pass",
                              decided_by="tie_rule")
    return CriterionTally(criterion=criterion, yes=yes, no=no, passed=yes > no, decided_by="majority")


def decide(votes: Sequence[JudgeVote], config: Phase1Config) -> CommitteeDecision:
    """Majority vote per criterion, then the acceptance rule (required criteria, optional score threshold)."""
    tallies = [tally(c, votes, config) for c in CRITERIA]
    voters = sum(1 for v in votes if not v.abstained)
    quorum_met = voters >= config.effective_quorum
    voted_score = sum(t.passed for t in tallies)
    reason: str | None = None
    if not quorum_met:
        reason = "committee.no_quorum"
    else:
        failed = [c for c in config.required_criteria if not next(t for t in tallies if t.criterion == c).passed]
        if failed:
            reason = f"committee.{failed[0]}"
    committee_passed = reason is None
    if committee_passed and config.min_voted_score is not None and voted_score < config.min_voted_score:
        reason = "acceptance.score_below_threshold"
    return CommitteeDecision(tallies=tallies, voters=voters, quorum_met=quorum_met, committee_passed=committee_passed,
                             accepted=reason is None, reason=reason, voted_score=voted_score)


def decision_verdicts(decision: CommitteeDecision, config: Phase1Config) -> list[StageVerdict]:
    """The committee verdict, and the acceptance verdict when the committee passed."""
    details = {"voters": decision.voters, "tallies": {t.criterion: {"yes": t.yes, "no": t.no, "passed": t.passed,
                                                                     "decided_by": t.decided_by}
                                                      for t in decision.tallies}}
    committee = StageVerdict(stage="committee", passed=decision.committee_passed,
                             reason=None if decision.committee_passed else decision.reason, details=details)
    if not decision.committee_passed:
        return [committee]
    acceptance = StageVerdict(stage="acceptance", passed=decision.accepted,
                              reason=None if decision.accepted else decision.reason,
                              details={"voted_score": decision.voted_score,
                                       "required": list(config.required_criteria),
                                       "min_voted_score": config.min_voted_score})
    return [committee, acceptance]


def fleiss_kappa(category_counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa over subjects, each given as rater counts per category.

    Subjects with fewer than two raters carry no agreement information and are skipped (this lets
    abstentions vary the rater count; with equal counts it is the textbook formula). None when
    undefined: no usable subject, or every rating falls into one category (chance agreement is 1).
    """
    rows = [list(row) for row in category_counts if sum(row) >= 2]
    if not rows:
        return None
    agreement = [(sum(c * c for c in row) - sum(row)) / (sum(row) * (sum(row) - 1)) for row in rows]
    mean_agreement = sum(agreement) / len(rows)
    total = sum(sum(row) for row in rows)
    categories = len(rows[0])
    shares = [sum(row[j] for row in rows) / total for j in range(categories)]
    chance = sum(p * p for p in shares)
    if chance >= 1.0:
        return None
    return (mean_agreement - chance) / (1.0 - chance)


def committee_kappa(vote_sets: Sequence[Sequence[JudgeVote]]) -> dict[str, float | None]:
    """Judge agreement per criterion and overall (every (blueprint, criterion) pair as one subject)."""
    per_criterion: dict[str, list[list[int]]] = {c: [] for c in CRITERIA}
    for votes in vote_sets:
        counted = [v for v in votes if not v.abstained]
        for criterion in CRITERIA:
            yes = sum(v.scores[criterion] for v in counted)
            per_criterion[criterion].append([len(counted) - yes, yes])
    kappas: dict[str, float | None] = {c: _rounded(fleiss_kappa(rows)) for c, rows in per_criterion.items()}
    kappas["overall"] = _rounded(fleiss_kappa([row for rows in per_criterion.values() for row in rows]))
    return kappas


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def run_committee(subjects: Sequence[JudgeSubject], client: Any, environment: Environment, domain: str,
                  config: Phase1Config) -> list[tuple[list[JudgeVote], CommitteeDecision]]:
    """All judges of all subjects in one `complete_many`, so the gateway can fan them out."""
    requests = [r for s in subjects for r in committee_requests(s, environment, domain, config)]
    results = client.complete_many(requests)
    size = config.committee_size
    outcomes = []
    for position in range(len(subjects)):
        chunk = results[position * size:(position + 1) * size]
        votes = [parse_vote(index, result) for index, result in enumerate(chunk)]
        outcomes.append((votes, decide(votes, config)))
    return outcomes
