"""Re-validate a written export from its stored bytes: what a trainer would load, checked independently.

For one partition this reads back the ShareGPT and OpenAI files (JSONL and Parquet) and runs the format
validators on every row, checks that the JSONL and Parquet files of a
format hold the same rows, and that the lineage sidecar and the card count the same rows. It uses the
validators and the file layout only, never the exporter's row builders, so an exporter bug cannot hide
itself. The Dagster shell turns the returned problems into an asset check on `training_dataset`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from apigen_pipeline.dataset.targets import ExportTarget, export_path
from apigen_pipeline.dataset.validators import (
    RowValidator,
    jsonl_rows,
    openai_row_from_parquet,
    parquet_rows,
    row_problems,
    validate_openai_example,
    validate_sharegpt_row,
)

# (folder, row validator, Parquet record -> the format's row; idempotent, so it also normalizes JSONL rows)
FORMATS: tuple[tuple[str, RowValidator, Callable[[dict[str, Any]], Any]], ...] = (
    ("apigen_mt", validate_sharegpt_row, lambda record: record),
    ("openai", validate_openai_example, openai_row_from_parquet),
)


def _read(target: ExportTarget, path: str, problems: list[str]) -> bytes | None:
    data = target.read_bytes(path)
    if data is None:
        problems.append(f"{path}: missing")
    return data


def _format_rows(target: ExportTarget, folder: str, validate_row: RowValidator,
                 from_parquet: Callable[[dict[str, Any]], Any], domain: str, batch: str,
                 problems: list[str]) -> int | None:
    """Validates one format's two files; returns its row count when both files agree on it."""
    jsonl_path, parquet_path = (export_path(folder, domain, batch, ext) for ext in ("jsonl", "parquet"))
    loaded: list[list[Any]] = []
    for path, reader in ((jsonl_path, jsonl_rows), (parquet_path, parquet_rows)):
        data = _read(target, path, problems)
        if data is None:
            continue
        rows, unreadable = reader(data, path)
        rows = [from_parquet(r) for r in rows] if path == parquet_path else rows
        # A partition where nothing was verified legitimately exports empty files (the yield checks warn);
        # what must never pass is a written row a trainer would reject, or files that disagree.
        problems += unreadable + row_problems(rows, validate_row, path, allow_empty=True)
        loaded.append(rows)
    if len(loaded) != 2:
        return None
    from_jsonl, from_parquet_file = loaded
    if len(from_jsonl) != len(from_parquet_file):
        problems.append(f"{folder}: {len(from_jsonl)} JSONL rows but {len(from_parquet_file)} Parquet rows")
        return None
    # The Parquet-to-row conversion also normalizes a JSONL row (nulls Parquet cannot leave out dropped).
    differing = [i for i, (a, b) in enumerate(zip(from_jsonl, from_parquet_file, strict=True))
                 if from_parquet(a) != b]
    if differing:
        problems.append(f"{folder}: the JSONL and Parquet files differ at rows {differing[:10]}")
    return len(from_jsonl)


def revalidate_export(target: ExportTarget, domain: str, batch: str) -> list[str]:
    """Every problem of the partition's written export (empty = a trainer can load every row)."""
    problems: list[str] = []
    counts = {folder: _format_rows(target, folder, validate_row, from_parquet, domain, batch, problems)
              for folder, validate_row, from_parquet in FORMATS}
    known = {count for count in counts.values() if count is not None}
    if len(known) > 1:
        problems.append(f"the formats hold different numbers of rows: {counts}")
    if len(known) != 1:
        return problems
    rows = known.pop()
    lineage_path = export_path("lineage", domain, batch, "jsonl")
    lineage = _read(target, lineage_path, problems)
    if lineage is not None:
        lineage_rows, unreadable = jsonl_rows(lineage, lineage_path)
        problems += unreadable
        if len(lineage_rows) != rows:
            problems.append(f"{lineage_path}: {len(lineage_rows)} lineage rows for {rows} dataset rows")
    card_path = export_path("cards", domain, batch, "json")
    card = _read(target, card_path, problems)
    if card is not None:
        try:
            card_rows = json.loads(card).get("rows")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            card_rows = "unreadable"
        if card_rows != rows:
            problems.append(f"{card_path}: the card counts {card_rows!r} rows, the files hold {rows}")
    return problems
