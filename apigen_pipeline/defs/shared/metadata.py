"""Small helpers for materialization metadata that the Dagster UI plots and renders."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import dagster as dg


def markdown_counts(counts: Mapping[str, int] | Counter, key_header: str, value_header: str = "count") -> dg.MetadataValue:
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    lines = [f"| {key_header} | {value_header} |", "|---|---:|"]
    lines += [f"| {key} | {value} |" for key, value in rows] or ["| (none) | 0 |"]
    return dg.MetadataValue.md("\n".join(lines))


def failure_list(problems: list[str], limit: int = 20) -> dg.MetadataValue:
    """The first failures of a check as a Markdown list (the count goes in its own numeric entry)."""
    return dg.MetadataValue.md("\n".join(f"- {p}" for p in problems[:limit]) or "none")


def problems_check_result(problems: list[str], checked: int, items: str) -> dg.AssetCheckResult:
    """A blocking check's verdict: passed when nothing went wrong, with the counts and the first problems."""
    return dg.AssetCheckResult(passed=not problems, metadata={
        f"{items}_checked": checked, "failures": len(problems), "first_failures": failure_list(problems)})


def yield_check_result(rate: float, gate: float, **counts: int) -> dg.AssetCheckResult:
    """A warning when a stage's yield falls below its configured gate."""
    return dg.AssetCheckResult(passed=rate >= gate, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"yield": round(rate, 4), "gate": gate, **counts})
