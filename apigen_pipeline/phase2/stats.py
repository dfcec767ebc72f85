"""Phase 2 statistics over all attempts of a partition (deterministic: counts and ratios only)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from apigen_pipeline.phase2.models import Phase2Stats, TrajectoryAttempt


def _mean(values: Sequence[int]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def turn_count(attempt: TrajectoryAttempt) -> int:
    """Turns as the paper counts them: user and assistant messages (tool results excluded)."""
    return sum(1 for m in attempt.messages if m.role != "tool")


def phase2_stats(blueprints: int, attempts: Sequence[TrajectoryAttempt], llm_requests: int = 0,
                 llm_failures: int = 0) -> Phase2Stats:
    verified = [a for a in attempts if a.verified]
    kept = [a for a in attempts if a.kept]
    turns = [turn_count(a) for a in kept]
    findings = Counter(f.rule for a in verified for f in a.audit_findings)
    return Phase2Stats(
        blueprints=blueprints,
        attempts=len(attempts),
        verified_attempts=len(verified),
        audit_flagged=sum(1 for a in verified if a.audit_findings),
        dropped_policy=sum(1 for a in attempts if a.drop_reason == "policy_violation"),
        duplicates=sum(1 for a in attempts if a.drop_reason == "duplicate"),
        kept_trajectories=len(kept),
        blueprints_with_success=len({a.blueprint_id for a in kept}),
        phase2_yield=round(len({a.blueprint_id for a in kept}) / blueprints, 4) if blueprints else 0.0,
        attempt_success_rate=round(len(verified) / len(attempts), 4) if attempts else 0.0,
        end_reasons=dict(sorted(Counter(a.end_reason for a in attempts).items())),
        failures_by_reason=dict(sorted(Counter(a.failure_reason for a in attempts if a.failure_reason).items())),
        audit_findings_by_rule=dict(sorted(findings.items())),
        mean_user_turns=_mean([a.user_turns for a in kept]),
        mean_tool_calls=_mean([a.tool_calls for a in kept]),
        mean_turns=_mean(turns),
        max_turns=max(turns, default=0),
        min_turns=min(turns, default=0),
        best_of_n_candidates=sum(len(a.candidates) for a in attempts),
        llm_requests=llm_requests,
        llm_failures=llm_failures,
    )
