"""Records as tables for a prompt: the same JSON values in fewer tokens, and back (lossless).

Domain records repeat their field names per entry (a product's variants, a flight's dates, a reservation's
passengers). `pack` writes a list, or a mapping, of two or more records as a table; `expand` turns every
table back into the records it came from, so `expand(pack(x)) == x` for any JSON value `x` that `pack`
accepts:

- `{"columns": [...], "rows": [[...], ...]}` is a list of records, one row each; a record without a field
  has null in its column (so a table is only made of records that hold no null of their own);
- with `"key": c` it is a mapping from each row's value in column `c` to that row's record. `c` is the
  records' own field when every record holds its key there (`variants[id]["item_id"] == id`, not
  repeated); otherwise it is `"#"`, a column holding the keys alone, which is no field of the records;
- a nested record with the same fields wherever present is flattened into dotted columns (`options.color`);
- a column may be a table's header itself, `{"name": f, "columns": [...]}` (with `"key"` for mappings):
  when every row's field `f` is a list (or every one a mapping) of records, the header is written once and
  each row's cell holds just that table's rows (a flight's dates, a reservation's passengers);
- any other field value is one cell, itself packed.

A mapping's rows come in key order and the columns in name order, so the records read back are the very
dicts, in the same order, that sorted JSON (`sort_keys=True`, as prompts are written) shows.
A table is used only where it is shorter than the plain JSON. Names with a dot, and the name `#`, are
never made columns. A source mapping that would read as something else (exactly the keys `columns` and
`rows`, with or without `key`; or exactly the key `#plain`) is written escaped, `{"#plain": {...}}`
("this mapping as it is"), so any environment's data packs, whatever its field names.
The prompt templates that carry packed records (v3 on) say in a few lines how a table reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

COLUMNS, ROWS, KEY, NAME = "columns", "rows", "key", "name"
MAP_KEY = "#"  # the key column of a mapping whose records do not hold their own key
PLAIN = "#plain"  # `{"#plain": m}`: the mapping m as it is, not a table (an escape; see the module text)
SEPARATOR = "."
_TABLE_SHAPES = ({COLUMNS, ROWS}, {COLUMNS, ROWS, KEY})
_ABSENT = object()


def pack(value: Any) -> Any:
    """`value` (JSON: dicts with string keys, lists, scalars) with its record groups as tables."""
    return _Packer().pack(value)


def expand(value: Any) -> Any:
    """The inverse of `pack`: every table back into its list or mapping of records."""
    if isinstance(value, Mapping):
        if set(value) == {PLAIN}:
            return {key: expand(item) for key, item in value[PLAIN].items()}
        if is_table(value):
            return _records(value[COLUMNS], value.get(KEY), value[ROWS])
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


def is_table(value: Mapping[str, Any]) -> bool:
    return set(value) in _TABLE_SHAPES


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _is_record(value: Any) -> bool:
    """A dict a table can hold as a row: nameable fields (no dot, not `#`) and no null."""
    return (isinstance(value, dict)
            and all(isinstance(name, str) and SEPARATOR not in name and name != MAP_KEY and item is not None
                    for name, item in value.items()))


def _group(value: Any) -> tuple[list[Any], list[str] | None] | None:
    """A list (keys None) or a mapping (its keys) of records, as (records, keys); else None."""
    if isinstance(value, list) and all(_is_record(item) for item in value):
        return list(value), None
    if isinstance(value, dict) and all(_is_record(item) for item in value.values()):
        return list(value.values()), [str(key) for key in value]
    return None


def _repeats(records: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a field name recurs across the records (else a table saves nothing: the ids of different
    tables, say)."""
    seen: set[str] = set()
    for record in records:
        if not seen.isdisjoint(record):
            return True
        seen.update(record)
    return False


class _Packer:
    """One `pack` call: packed values are memoised by identity, so a subtree tried both as a table's cells
    and as plain JSON is packed once."""

    def __init__(self) -> None:
        self._packed: dict[int, Any] = {}
        self._keep: list[Any] = []  # the memo's keys stay valid while it lives

    def pack(self, value: Any) -> Any:
        if not isinstance(value, dict | list | tuple):
            return value
        known = self._packed.get(id(value), _ABSENT)
        if known is not _ABSENT:
            return known
        if isinstance(value, dict):
            plain: Any = {str(key): self.pack(item) for key, item in value.items()}
            if is_table(value) or set(value) == {PLAIN}:
                plain = {PLAIN: plain}
        else:
            plain = [self.pack(item) for item in value]
        group = _group(list(value) if isinstance(value, tuple) else value)
        table = self._table(*group) if group is not None and _repeats(group[0]) else None
        packed = table if table is not None and len(_dumps(table)) < len(_dumps(plain)) else plain
        self._packed[id(value)] = packed
        self._keep.append(value)
        return packed

    def _table(self, records: list[dict[str, Any]], keys: list[str] | None) -> dict[str, Any]:
        columns, key, rows = self._header_and_rows([records], [keys])
        table: dict[str, Any] = {COLUMNS: columns, ROWS: rows[0]}
        if key is not None:
            table[KEY] = key
        return table

    def _header_and_rows(self, groups: list[list[dict[str, Any]]], keys: list[list[str] | None]
                         ) -> tuple[list[Any], str | None, list[list[list[Any]]]]:
        """One header for several groups of records (all lists, or all mappings with `keys`), its key column
        (mappings only), and each group's rows under it. A mapping's rows come in key order and the columns
        in name order, so the records read back in the order sorted JSON shows them."""
        key = None
        if keys[0] is not None:
            ordered = [sorted(zip(group_keys or [], group, strict=True), key=lambda pair: pair[0])
                       for group_keys, group in zip(keys, groups, strict=True)]
            keys = [[k for k, _ in pairs] for pairs in ordered]
            groups = [[record for _, record in pairs] for pairs in ordered]
        records = [record for group in groups for record in group]
        columns: list[Any] = []
        cells: list[list[Any]] = []  # per column: one cell per record
        if keys[0] is not None:
            key = next((name for name in sorted(records[0]) if all(
                record.get(name) == record_key for group, group_keys in zip(groups, keys, strict=True)
                for record_key, record in zip(group_keys or [], group, strict=True))), None)
            if key is None:
                key = MAP_KEY
                columns.append(MAP_KEY)
                cells.append([record_key for group_keys in keys for record_key in group_keys or []])
        for name in sorted({name for record in records for name in record}):
            self._columns(name, [record.get(name, _ABSENT) for record in records], columns, cells)
        rows = [[column[index] for column in cells] for index in range(len(records))]
        sizes = [len(group) for group in groups]
        starts = [sum(sizes[:index]) for index in range(len(groups))]
        return columns, key, [rows[start:start + size] for start, size in zip(starts, sizes, strict=True)]

    def _columns(self, name: str, values: list[Any], columns: list[Any], cells: list[list[Any]]) -> None:
        """The column(s) of field `name` given each record's value (`_ABSENT` where a record lacks it)."""
        present = [value for value in values if value is not _ABSENT]
        shared = set(present[0]) if present and isinstance(present[0], dict) else set()
        if shared and all(_is_record(value) and set(value) == shared for value in present):
            for sub in sorted(shared):  # the same nested record wherever present: dotted columns
                self._columns(f"{name}{SEPARATOR}{sub}", [value[sub] if value is not _ABSENT else _ABSENT
                                                          for value in values], columns, cells)
            return
        groups = [_group(value) for value in present]
        kinds = {type(value) for value in present}
        if len(kinds) == 1 and all(group is not None for group in groups) \
                and _repeats([record for group in groups if group for record in group[0]]):
            # Every record's field is a list (or every one a mapping) of records: one header for all of them.
            sub_columns, key, sub_rows = self._header_and_rows([g[0] for g in groups if g],
                                                               [g[1] for g in groups if g])
            header: dict[str, Any] = {NAME: name, COLUMNS: sub_columns}
            if key is not None:
                header[KEY] = key
            columns.append(header)
            rows = iter(sub_rows)
            cells.append([None if value is _ABSENT else next(rows) for value in values])
            return
        columns.append(name)
        cells.append([None if value is _ABSENT else self.pack(value) for value in values])


def _records(columns: Sequence[Any], key: str | None, rows: Sequence[Sequence[Any]]) -> list[Any] | dict[str, Any]:
    records: list[dict[str, Any]] = []
    for row in rows:
        record: dict[str, Any] = {}
        for column, cell in zip(columns, row, strict=True):
            if cell is None or (column == MAP_KEY and key == MAP_KEY):
                continue
            if isinstance(column, Mapping):
                name, item = column[NAME], _records(column[COLUMNS], column.get(KEY), cell)
            else:
                name, item = column, expand(cell)
            *parents, leaf = name.split(SEPARATOR)
            node = record
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = item
        records.append(record)
    if key is None:
        return records
    index = next(i for i, column in enumerate(columns) if column == key)
    return {row[index]: record for row, record in zip(rows, records, strict=True)}
