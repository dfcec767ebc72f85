"""Row builders for `passk_results` and `generation_report` (`sql/migrations/0004_phase2.sql`).

Partition and lineage columns (domain, batch, run_id, config_hash, materialized_at) are added by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from apigen_pipeline.dataset.passk import PassKResult
from apigen_pipeline.dataset.report import GenerationReport, generation_report_rows


def passk_result_rows(results: Sequence[PassKResult]) -> list[dict[str, Any]]:
    return [{"agent_label": r.agent_label, "k": r.k, "pass_hat_k": r.value, "exact": r.exact, "tasks": r.tasks,
             "trials_per_task": r.trials_per_task} for r in results]


def report_rows(report: GenerationReport) -> list[dict[str, Any]]:
    return generation_report_rows(report)
