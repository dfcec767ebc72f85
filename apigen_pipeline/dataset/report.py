"""The generation funnel of one partition: from sampled contexts to exported dataset rows.

Stages (each with its count and its yield from the stage before):
contexts -> blueprint_attempts -> accepted_blueprints (simple + recombined) -> kept_blueprints (after
dedup) -> trajectory_attempts -> verified_attempts -> policy_clean_attempts -> kept_trajectories
(unique) -> dataset_rows. Failures by reason per phase, tokens and cost per verified trajectory, and the
input tokens per request of each role (p50/p95) (totals are inputs: they come from the request log /
gateway, which this core does not read).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from apigen_pipeline.phase1.models import Phase1Stats
from apigen_pipeline.phase2.models import Phase2Stats
from apigen_pipeline.records import FrozenModel


class UsageTotals(FrozenModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0        # of the input tokens, read from the providers' prompt caches
    cache_write_input_tokens: int = 0   # of the input tokens, written to them
    cost_usd: float = 0.0
    projected_cost_usd: float = 0.0

    @property
    def prompt_cache_hit_rate(self) -> float | None:
        return round(self.cached_input_tokens / self.input_tokens, 4) if self.input_tokens else None


class RolePromptTokens(FrozenModel):
    """Input tokens per request of one LLM role (from the request log): how lean its prompt is."""

    requests: int
    p50: float
    p95: float


class FunnelStage(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str
    order: int
    count: int
    yield_from_previous: float | None  # None for the first stage or after an empty stage


class GenerationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    domain: str
    batch: str
    stages: list[FunnelStage]
    failures_by_reason: dict[str, dict[str, int]] = Field(default_factory=dict)  # phase -> reason -> count
    usage: UsageTotals = UsageTotals()
    verified_trajectories: int = 0
    tokens_per_verified_trajectory: float | None = None
    cost_per_verified_trajectory: float | None = None
    projected_cost_per_verified_trajectory: float | None = None
    prompt_tokens_by_role: dict[str, RolePromptTokens] = Field(default_factory=dict)

    def count(self, stage: str) -> int:
        return next(s.count for s in self.stages if s.stage == stage)

    def markdown_failures(self) -> str:
        lines = ["| phase | reason | count |", "|---|---|---|"]
        for phase, reasons in self.failures_by_reason.items():
            lines += [f"| {phase} | {reason} | {count} |" for reason, count in reasons.items()]
        return "\n".join(lines)


def markdown_prompt_tokens(by_role: Mapping[str, RolePromptTokens]) -> str:
    lines = ["| role | requests | input tokens p50 | p95 |", "|---|---:|---:|---:|"]
    lines += [f"| {role} | {tokens.requests} | {tokens.p50:.0f} | {tokens.p95:.0f} |" for role, tokens in by_role.items()]
    return "\n".join(lines)


def _funnel(counts: list[tuple[str, int]]) -> list[FunnelStage]:
    stages = []
    previous: int | None = None
    for order, (stage, count) in enumerate(counts):
        ratio = round(count / previous, 4) if previous else None
        stages.append(FunnelStage(stage=stage, order=order, count=count, yield_from_previous=ratio))
        previous = count
    return stages


def _per(total: float, count: int) -> float | None:
    return round(total / count, 6) if count else None


def build_generation_report(domain: str, batch: str, phase1: Phase1Stats, phase2: Phase2Stats, dataset_rows: int,
                            usage: UsageTotals | None = None,
                            prompt_tokens: dict[str, RolePromptTokens] | None = None) -> GenerationReport:
    usage = usage or UsageTotals()
    accepted = phase1.accepted_simple + phase1.accepted_recombined
    verified_clean = phase2.verified_attempts - phase2.audit_flagged
    stages = _funnel([
        ("contexts", phase1.contexts),
        ("blueprint_attempts", phase1.attempts),
        ("accepted_blueprints", accepted),
        ("kept_blueprints", phase1.kept_after_dedup),
        ("trajectory_attempts", phase2.attempts),
        ("verified_attempts", phase2.verified_attempts),
        ("policy_clean_attempts", verified_clean),
        ("kept_trajectories", phase2.kept_trajectories),
        ("dataset_rows", dataset_rows),
    ])
    phase2_failures = dict(phase2.failures_by_reason)
    if phase2.dropped_policy:
        phase2_failures["policy_violation"] = phase2.dropped_policy
    if phase2.duplicates:
        phase2_failures["duplicate"] = phase2.duplicates
    tokens = usage.input_tokens + usage.output_tokens
    verified = phase2.kept_trajectories
    return GenerationReport(
        domain=domain, batch=batch, stages=stages,
        failures_by_reason={"phase1": dict(sorted(phase1.failures_by_reason.items())),
                            "phase2": dict(sorted(phase2_failures.items())),
                            "phase2_audit": dict(phase2.audit_findings_by_rule)},
        usage=usage, verified_trajectories=verified,
        tokens_per_verified_trajectory=_per(tokens, verified),
        cost_per_verified_trajectory=_per(usage.cost_usd, verified),
        projected_cost_per_verified_trajectory=_per(usage.projected_cost_usd, verified),
        prompt_tokens_by_role=dict(sorted((prompt_tokens or {}).items())))


def generation_report_rows(report: GenerationReport) -> list[dict[str, Any]]:
    """One row per funnel stage; partition totals repeated on each row so any row reads on its own."""
    shared = {
        "failures_by_reason": json.dumps(report.failures_by_reason, sort_keys=True),
        "input_tokens": report.usage.input_tokens, "output_tokens": report.usage.output_tokens,
        "cached_input_tokens": report.usage.cached_input_tokens, "cost_usd": report.usage.cost_usd,
        "projected_cost_usd": report.usage.projected_cost_usd,
        "verified_trajectories": report.verified_trajectories,
        "tokens_per_verified_trajectory": report.tokens_per_verified_trajectory,
        "cost_per_verified_trajectory": report.cost_per_verified_trajectory,
        "projected_cost_per_verified_trajectory": report.projected_cost_per_verified_trajectory,
        "prompt_tokens_by_role": json.dumps({role: tokens.model_dump() for role, tokens
                                             in report.prompt_tokens_by_role.items()}, sort_keys=True),
    }
    return [{"stage": s.stage, "stage_order": s.order, "count": s.count,
             "yield_from_previous": s.yield_from_previous, **shared} for s in report.stages]
