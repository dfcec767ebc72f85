from __future__ import annotations

import json

from apigen_pipeline.dataset.report import (
    RolePromptTokens,
    UsageTotals,
    build_generation_report,
    generation_report_rows,
    markdown_prompt_tokens,
)
from apigen_pipeline.phase1.models import Phase1Stats
from apigen_pipeline.phase2.models import Phase2Result


def _phase1_stats() -> Phase1Stats:
    return Phase1Stats(contexts=10, attempts=16, accepted_simple=6, accepted_recombined=2, kept_after_dedup=5,
                       yield_without_feedback=0.3, yield_with_feedback=0.6, acceptance_by_round={}, funnel=[],
                       failures_by_reason={"execution.tool_error": 4, "committee.completeness": 3}, kappa={},
                       judge_abstentions=0, recombination_tried=2, recombination_failures_by_reason={},
                       exact_duplicates=1, near_duplicates=2, llm_requests=40, llm_failures=0)


def test_the_funnel_counts_each_stage_and_its_yield(phase2_result: Phase2Result) -> None:
    stats = phase2_result.stats
    report = build_generation_report("mockshop", "b", _phase1_stats(), stats, dataset_rows=stats.kept_trajectories,
                                     usage=UsageTotals(input_tokens=900, cached_input_tokens=600, output_tokens=100,
                                                       projected_cost_usd=2.0))
    assert [s.stage for s in report.stages] == [
        "contexts", "blueprint_attempts", "accepted_blueprints", "kept_blueprints", "trajectory_attempts",
        "verified_attempts", "policy_clean_attempts", "kept_trajectories", "dataset_rows"]
    assert report.count("accepted_blueprints") == 8 and report.count("kept_blueprints") == 5
    assert report.stages[3].yield_from_previous == round(5 / 8, 4)
    assert report.stages[0].yield_from_previous is None
    assert report.count("policy_clean_attempts") == stats.verified_attempts - stats.audit_flagged
    assert report.failures_by_reason["phase1"] == {"committee.completeness": 3, "execution.tool_error": 4}
    kept = stats.kept_trajectories
    assert report.tokens_per_verified_trajectory == round(1000 / kept, 6)
    assert report.projected_cost_per_verified_trajectory == round(2.0 / kept, 6)
    assert report.usage.prompt_cache_hit_rate == round(600 / 900, 4)
    assert UsageTotals().prompt_cache_hit_rate is None
    assert "| phase1 | execution.tool_error | 4 |" in report.markdown_failures()


def test_prompt_tokens_per_role_ride_on_every_report_row(phase2_result: Phase2Result) -> None:
    tokens = {"judge": RolePromptTokens(requests=9, p50=4100.0, p95=6000.0),
              "generator": RolePromptTokens(requests=12, p50=3900.0, p95=5200.0)}
    report = build_generation_report("mockshop", "b", _phase1_stats(), phase2_result.stats, dataset_rows=1,
                                     prompt_tokens=tokens)
    assert list(report.prompt_tokens_by_role) == ["generator", "judge"]
    rows = generation_report_rows(report)
    assert {row["prompt_tokens_by_role"] for row in rows} == {json.dumps(
        {"generator": {"requests": 12, "p50": 3900.0, "p95": 5200.0},
         "judge": {"requests": 9, "p50": 4100.0, "p95": 6000.0}}, sort_keys=True)}
    assert "| generator | 12 | 3900 | 5200 |" in markdown_prompt_tokens(report.prompt_tokens_by_role)
