"""The feedback loop: turn what rejected a blueprint into a short plan the generator revises from.

The summarizer sees the failed stage's verdict, or, after a committee rejection, the judges'
reflections and corrections. If the summarizer itself fails, the plan falls back to the errors
verbatim (a weaker but still useful plan) so one LLM failure never ends a context's loop early.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.types import LLMRequest, LLMResult
from apigen_pipeline.phase1.models import JudgeVote, StageVerdict
from apigen_pipeline.phase1.prompts import summarizer_request
from apigen_pipeline.phase1.settings import Phase1Config
from apigen_pipeline.phase1.validation.generation import parsed_reply

MAX_PLAN_CHARS = 1200


def failure_errors(verdicts: Sequence[StageVerdict], votes: Sequence[JudgeVote]) -> list[dict[str, Any]]:
    """The failed verdict, plus each counted judge's reflection and correction after a committee failure."""
    failed = next((v for v in verdicts if not v.passed), None)
    if failed is None:
        return []
    errors: list[dict[str, Any]] = [{"stage": failed.stage, "reason": failed.reason, "details": failed.details}]
    if failed.stage in ("committee", "acceptance"):
        for vote in votes:
            if vote.abstained:
                continue
            low = sorted(c for c, s in vote.scores.items() if s == 0)
            errors.append({"judge": vote.judge_index, "failed_criteria": low, "reflection": vote.reflection,
                           "correction": vote.correction})
    return errors


def feedback_request(subject_id: str, round_index: int, blueprint: Mapping[str, Any] | None,
                     errors: Sequence[dict[str, Any]], environment: Environment, domain: str,
                     config: Phase1Config) -> LLMRequest:
    return summarizer_request(subject_id, round_index, blueprint, errors, environment, domain,
                              config.prompts.summarizer, config.max_tokens)


def plan_from(result: LLMResult, errors: Sequence[dict[str, Any]]) -> tuple[str, bool]:
    """The improvement plan, and whether it came from the summarizer (False: the fallback)."""
    reply = parsed_reply(result) if result.ok else None
    plan = reply.get("plan") if isinstance(reply, dict) else None
    if isinstance(plan, str) and plan.strip():
        return plan.strip()[:MAX_PLAN_CHARS], True
    return fallback_plan(errors), False


def fallback_plan(errors: Sequence[dict[str, Any]]) -> str:
    lines = []
    for error in errors:
        if "reason" in error:
            lines.append(f"Fix {error['reason']}: {error.get('details', {})}")
        elif error.get("correction"):
            lines.append(f"Judge {error['judge']}: {error['correction']}")
    return "\n".join(lines)[:MAX_PLAN_CHARS] or "Revise the blueprint so that it passes validation."
