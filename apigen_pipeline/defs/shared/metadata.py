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
