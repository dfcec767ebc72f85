"""Plain-text tables for the terminal: a header, aligned columns, numbers on the right."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Number


def cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return str(value)


def render(columns: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    """Columns whose every value is a number are right-aligned."""
    texts = [[cell(value) for value in row] for row in rows]
    widths = [max([len(column), *(len(row[i]) for row in texts)]) for i, column in enumerate(columns)]
    numeric = [bool(rows) and all(isinstance(row[i], Number) or row[i] is None for row in rows)
               for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        parts = [value.rjust(width) if right else value.ljust(width)
                 for value, width, right in zip(values, widths, numeric, strict=True)]
        return (indent + "  ".join(parts)).rstrip()

    return "\n".join([line(list(columns)), *(line(row) for row in texts)])


def percent(ratio: float | None) -> str:
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return "-"
    return f"{ratio:.1%}"


def dollars(amount: float | None) -> str:
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "-"
    return f"${amount:.4f}"
