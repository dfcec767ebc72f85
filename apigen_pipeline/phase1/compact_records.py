"""Records as tables for a prompt: the same JSON values in about half the tokens, and back (lossless).

Domain records repeat their field names per entry (a product's variants, a flight's dates, an order's
items). `pack` writes a list, or a mapping, of two or more records with the same fields as a table;
`expand` turns every table back into the records it came from, so `expand(pack(x)) == x` for any JSON
value `x` that `pack` accepts:

- `{"columns": [...], "rows": [[...], ...]}` is a list of records, one row each;
- with `"key": c` it is a mapping from each row's value in column `c` to that row's record. `c` is the
  records' own field when every record holds its key there (`variants[id]["item_id"] == id`, not
  repeated); otherwise it is `"#"`, a column holding the keys alone, which is no field of the records;
- a nested record every row has with the same fields is flattened into dotted columns (`options.color`);
  any other field value is one cell, itself packed.

A table is used only where it is shorter than the plain JSON. Names with a dot, and the name `#`, are
never made columns. A source mapping shaped like a table (exactly the keys `columns` and `rows`, with or
without `key`) cannot be told apart from one: `pack` refuses it (ValueError) rather than let it be misread.
The prompt templates that carry packed records (v3 on) say in one sentence how a table reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

COLUMNS, ROWS, KEY = "columns", "rows", "key"
MAP_KEY = "#"  # the key column of a mapping whose records do not hold their own key
SEPARATOR = "."
_TABLE_SHAPES = ({COLUMNS, ROWS}, {COLUMNS, ROWS, KEY})


def pack(value: Any) -> Any:
    """`value` (JSON: dicts with string keys, lists, scalars) with its uniform record groups as tables."""
    if isinstance(value, Mapping):
        if is_table(value):
            raise ValueError(f"a record with exactly the keys {sorted(value)} reads as a table; it cannot be packed")
        plain = {str(key): pack(item) for key, item in value.items()}
        return _shorter(plain, _keyed_table(plain))
    if isinstance(value, list | tuple):
        plain_list = [pack(item) for item in value]
        return _shorter(plain_list, _table(plain_list))
    return value


def expand(value: Any) -> Any:
    """The inverse of `pack`: every table back into its list or mapping of records."""
    if isinstance(value, Mapping):
        if is_table(value):
            return _expand_table(value)
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


def is_table(value: Mapping[str, Any]) -> bool:
    return set(value) in _TABLE_SHAPES


def _shorter(plain: Any, table: dict[str, Any] | None) -> Any:
    if table is None or len(_dumps(table)) >= len(_dumps(plain)):
        return plain
    return table


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _fields(records: Sequence[Any]) -> list[str] | None:
    """The records' common field names, when there are 2+ records that share the same nameable fields."""
    if len(records) < 2 or not all(isinstance(r, dict) and not is_table(r) for r in records):
        return None
    names = set(records[0])
    if not names or any(set(r) != names for r in records[1:]):
        return None
    if any(SEPARATOR in name or name == MAP_KEY for name in names):
        return None
    return sorted(names)


def _paths(records: Sequence[Mapping[str, Any]], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The leaf columns of records with the same fields: nested records with the same fields flatten."""
    paths: list[tuple[str, ...]] = []
    for name in _fields(records) or []:
        values = [r[name] for r in records]
        nested = _fields(values)
        paths.extend(_paths(values, (*prefix, name)) if nested else [(*prefix, name)])
    return paths


def _cell(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for name in path:
        record = record[name]
    return record


def _table(records: Sequence[Any]) -> dict[str, Any] | None:
    if _fields(records) is None:
        return None
    paths = _paths(records)
    return {COLUMNS: [SEPARATOR.join(p) for p in paths], ROWS: [[_cell(r, p) for p in paths] for r in records]}


def _keyed_table(mapping: Mapping[str, Any]) -> dict[str, Any] | None:
    records = list(mapping.values())
    names = _fields(records)
    if names is None:
        return None
    own = next((n for n in names if all(record.get(n) == key for key, record in mapping.items())), None)
    paths = _paths(records)
    if own is not None:
        paths = [(own,), *(p for p in paths if p != (own,))]
        rows = [[_cell(r, p) for p in paths] for r in records]
        return {KEY: own, COLUMNS: [SEPARATOR.join(p) for p in paths], ROWS: rows}
    rows = [[key, *(_cell(r, p) for p in paths)] for key, r in mapping.items()]
    return {KEY: MAP_KEY, COLUMNS: [MAP_KEY, *(SEPARATOR.join(p) for p in paths)], ROWS: rows}


def _expand_table(table: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
    columns: list[str] = list(table[COLUMNS])
    key = table.get(KEY)
    records: list[dict[str, Any]] = []
    for row in table[ROWS]:
        record: dict[str, Any] = {}
        for column, cell in zip(columns, row, strict=True):
            if column == MAP_KEY and key == MAP_KEY:
                continue
            *parents, leaf = column.split(SEPARATOR)
            node = record
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = expand(cell)
        records.append(record)
    if key is None:
        return records
    index = columns.index(key)
    return {row[index]: record for row, record in zip(table[ROWS], records, strict=True)}
