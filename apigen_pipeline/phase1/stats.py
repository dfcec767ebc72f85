"""Phase 1 statistics from stored attempts: funnel, failure reasons, yield with and without feedback."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from apigen_pipeline.phase1.committee import committee_kappa
from apigen_pipeline.phase1.contexts import TaskContext
from apigen_pipeline.phase1.models import (
    STAGES,
    AcceptedBlueprint,
    BlueprintAttempt,
    Phase1Stats,
    StageFunnel,
)


def stage_funnel(attempts: Sequence[BlueprintAttempt]) -> list[StageFunnel]:
    reached: Counter[str] = Counter()
    passed: Counter[str] = Counter()
    for attempt in attempts:
        for verdict in attempt.verdicts:
            reached[verdict.stage] += 1
            passed[verdict.stage] += verdict.passed
    return [StageFunnel(stage=stage, reached=reached[stage], passed=passed[stage]) for stage in STAGES]


def phase1_stats(contexts: Sequence[TaskContext], attempts: Sequence[BlueprintAttempt],
                 blueprints: Sequence[AcceptedBlueprint], llm_requests: int, llm_failures: int) -> Phase1Stats:
    simple = [a for a in attempts if a.kind == "simple"]
    recombined = [a for a in attempts if a.kind == "recombined"]
    accepted_simple = [a for a in simple if a.accepted]
    by_round = Counter(str(a.round) for a in accepted_simple)
    count = len(contexts)
    judged = [a.votes for a in attempts if a.votes]
    return Phase1Stats(
        contexts=count,
        attempts=len(simple),
        accepted_simple=len(accepted_simple),
        accepted_recombined=sum(1 for a in recombined if a.accepted),
        kept_after_dedup=sum(1 for b in blueprints if b.kept),
        yield_without_feedback=round(by_round.get("0", 0) / count, 6) if count else 0.0,
        yield_with_feedback=round(len(accepted_simple) / count, 6) if count else 0.0,
        acceptance_by_round=dict(sorted(by_round.items(), key=lambda item: int(item[0]))),
        funnel=stage_funnel(simple),
        failures_by_reason=dict(sorted(Counter(a.failure_reason for a in simple if a.failure_reason).items())),
        kappa=committee_kappa(judged),
        judge_abstentions=sum(1 for votes in judged for v in votes if v.abstained),
        recombination_tried=len(recombined),
        recombination_failures_by_reason=dict(sorted(
            Counter(a.failure_reason for a in recombined if a.failure_reason).items())),
        exact_duplicates=sum(1 for b in blueprints if b.duplicate_kind == "exact"),
        near_duplicates=sum(1 for b in blueprints if b.duplicate_kind == "near"),
        llm_requests=llm_requests,
        llm_failures=llm_failures,
    )
