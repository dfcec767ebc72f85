"""A domain database: tables of JSON records keyed by id, copy-on-write over a frozen seed.

A fresh database for a task must cost next to nothing (the pipeline makes one per validation,
replay and trajectory), so a `Database` never copies the seeded tables: it keeps an overlay of the
records it touched. The state hash is kept incrementally for the same reason: the seed's hash is
computed once, and each touched record swaps its own contribution in and out.
"""

from __future__ import annotations

import copy
import hashlib
import json
import marshal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]
Tables = dict[str, dict[str, Record]]

_MASK = (1 << 256) - 1
_DELETED = object()


def canonical_json(value: Any) -> str:
    """The one serialization used for hashing and for byte-for-byte comparisons."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def private_copy(value: Any) -> Any:
    """A deep copy of JSON-like data: a marshal round trip (several times faster than `copy.deepcopy`),
    falling back to `deepcopy` for values marshal does not take."""
    try:
        return marshal.loads(marshal.dumps(value))
    except ValueError:
        return copy.deepcopy(value)


def _record_digest(table: str, record_id: str, record: Record) -> int:
    payload = f"{table}\x1f{record_id}\x1f{canonical_json(record)}".encode()
    return int.from_bytes(hashlib.sha256(payload).digest(), "big")


class SeedSnapshot:
    """The frozen, seeded tables of one domain plus their precomputed hash contributions."""

    def __init__(self, tables: Tables):
        self.tables: Tables = tables
        self._digests: dict[tuple[str, str], int] = {}
        combined = 0
        for table, records in tables.items():
            for record_id, record in records.items():
                digest = _record_digest(table, record_id, record)
                self._digests[(table, record_id)] = digest
                combined = (combined + digest) & _MASK
        self.combined_digest = combined

    def digest_of(self, table: str, record_id: str) -> int | None:
        return self._digests.get((table, record_id))

    def to_bytes(self) -> bytes:
        return canonical_json(self.tables).encode()


@dataclass(frozen=True)
class FieldChange:
    table: str
    record_id: str
    path: str
    before: Any
    after: Any

    def render(self) -> str:
        return f"{self.table}[{self.record_id}].{self.path}: {json.dumps(self.before)} -> {json.dumps(self.after)}"


@dataclass(frozen=True)
class StateDiff:
    changes: tuple[FieldChange, ...]

    @property
    def changed_records(self) -> set[tuple[str, str]]:
        return {(c.table, c.record_id) for c in self.changes}

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def render(self) -> str:
        return "\n".join(c.render() for c in self.changes) if self.changes else "(no change)"

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"table": c.table, "id": c.record_id, "path": c.path, "before": c.before, "after": c.after}
            for c in self.changes
        ]


class Database:
    """A mutable view of a seed. Read with `get`, mutate only through `get_for_update`/`insert`/`delete`."""

    def __init__(self, seed: SeedSnapshot):
        self._seed = seed
        self._overlay: dict[str, dict[str, Any]] = {}
        self._combined = seed.combined_digest

    # -- reads --------------------------------------------------------------------------------
    def get(self, table: str, record_id: str) -> Record | None:
        """The current record, or None. Callers must not mutate it (use `get_for_update`)."""
        overlay = self._overlay.get(table)
        if overlay is not None and record_id in overlay:
            value = overlay[record_id]
            return None if value is _DELETED else value
        return self._seed.tables.get(table, {}).get(record_id)

    def ids(self, table: str) -> Iterator[str]:
        overlay = self._overlay.get(table, {})
        for record_id in self._seed.tables.get(table, {}):
            if overlay.get(record_id) is not _DELETED:
                yield record_id
        for record_id, value in overlay.items():
            if value is not _DELETED and record_id not in self._seed.tables.get(table, {}):
                yield record_id

    def records(self, table: str) -> Iterator[tuple[str, Record]]:
        for record_id in self.ids(table):
            record = self.get(table, record_id)
            assert record is not None
            yield record_id, record

    def count(self, table: str) -> int:
        return sum(1 for _ in self.ids(table))

    def table_names(self) -> list[str]:
        return sorted(set(self._seed.tables) | set(self._overlay))

    # -- writes -------------------------------------------------------------------------------
    def get_for_update(self, table: str, record_id: str) -> Record | None:
        """A private, mutable copy of the record; its new content counts at the next hash."""
        overlay = self._overlay.setdefault(table, {})
        if record_id in overlay:
            value = overlay[record_id]
            return None if value is _DELETED else value
        base = self._seed.tables.get(table, {}).get(record_id)
        if base is None:
            return None
        mutable = private_copy(base)
        overlay[record_id] = mutable
        return mutable

    def replace(self, table: str, record_id: str, record: Record) -> None:
        """Put `record` in place of the current one (inserted when there is none)."""
        self._overlay.setdefault(table, {})[record_id] = record

    def forget_if_unchanged(self, table: str, record_id: str) -> None:
        """Drop a private copy that still equals the seed's record (a copy made for reading only), so the
        overlay, the savepoints and the touched set hold only what really changed. Equal means equal as
        Python compares JSON values (C speed; 1 == 1.0 counts as unchanged)."""
        overlay = self._overlay.get(table)
        if overlay is None or record_id not in overlay or overlay[record_id] is _DELETED:
            return
        seed = self._seed.tables.get(table, {}).get(record_id)
        if seed is not None and overlay[record_id] == seed:
            del overlay[record_id]

    def insert(self, table: str, record_id: str, record: Record) -> None:
        if self.get(table, record_id) is not None:
            raise KeyError(f"{table}[{record_id}] already exists")
        self._overlay.setdefault(table, {})[record_id] = record

    def delete(self, table: str, record_id: str) -> None:
        if self.get(table, record_id) is None:
            raise KeyError(f"{table}[{record_id}] does not exist")
        self._overlay.setdefault(table, {})[record_id] = _DELETED

    # -- transactions -------------------------------------------------------------------------
    def savepoint(self) -> dict[str, dict[str, Any]]:
        """A cheap snapshot of the overlay to roll a failed tool call back to."""
        return {table: {rid: private_copy(v) if v is not _DELETED else v for rid, v in recs.items()}
                for table, recs in self._overlay.items()}

    def rollback(self, savepoint: dict[str, dict[str, Any]]) -> None:
        self._overlay = savepoint

    # -- identity -----------------------------------------------------------------------------
    def holds(self, table: str, record_id: str) -> bool:
        """Whether this database has its own version of the record (changed, inserted, deleted or copied)."""
        return record_id in self._overlay.get(table, {})

    def touched(self) -> set[tuple[str, str]]:
        return {(table, rid) for table, recs in self._overlay.items() for rid in recs}

    def state_hash(self) -> str:
        """Canonical hash of the whole state, computed from the seed's digest and the touched records."""
        combined = self._seed.combined_digest
        for table, recs in self._overlay.items():
            for record_id, value in recs.items():
                old = self._seed.digest_of(table, record_id)
                if old is not None:
                    combined = (combined - old) & _MASK
                if value is not _DELETED:
                    combined = (combined + _record_digest(table, record_id, value)) & _MASK
        return f"{combined:064x}"

    def materialize(self) -> Tables:
        """The full current state as plain tables (slow; for export and independent checks)."""
        return {table: dict(self.records(table)) for table in self.table_names()}

    def diff(self, other: Database) -> StateDiff:
        """Field-level changes from `self` to `other`, naming exactly the records and fields that differ."""
        if self._seed is other._seed:
            candidates = sorted(self.touched() | other.touched())
        else:
            keys = {(t, rid) for t in self.table_names() for rid in self.ids(t)}
            keys |= {(t, rid) for t in other.table_names() for rid in other.ids(t)}
            candidates = sorted(keys)
        changes: list[FieldChange] = []
        for table, record_id in candidates:
            before, after = self.get(table, record_id), other.get(table, record_id)
            if before == after:
                continue
            if before is None or after is None:
                changes.append(FieldChange(table, record_id, "", before, after))
            else:
                changes.extend(_field_changes(table, record_id, "", before, after))
        return StateDiff(tuple(changes))


def tables_problem(tables: Any) -> str | None:
    """Why `tables` is not `{table: {record_id: record}}` with JSON-object records (None when it is)."""
    if not isinstance(tables, Mapping):
        return f"must return {{table: {{record_id: record}}}}, got {type(tables).__name__}"
    for table, records in tables.items():
        if not isinstance(table, str) or not isinstance(records, Mapping):
            return f"table {table!r} must map record ids to records, got {type(records).__name__}"
        for record_id, record in records.items():
            if not isinstance(record_id, str) or not isinstance(record, Mapping):
                return (f"record {table}[{record_id!r}] must be an object keyed by a string id, "
                        f"got {type(record).__name__}")
    return None


def full_state_hash(tables: Mapping[str, Mapping[str, Record]]) -> str:
    """The same hash as `Database.state_hash`, computed from scratch (independent check)."""
    combined = 0
    for table, records in tables.items():
        for record_id, record in records.items():
            combined = (combined + _record_digest(table, record_id, dict(record))) & _MASK
    return f"{combined:064x}"


def _field_changes(table: str, record_id: str, prefix: str, before: Any, after: Any) -> list[FieldChange]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldChange] = []
        for key in sorted(set(before) | set(after), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in before or key not in after:
                out.append(FieldChange(table, record_id, path, before.get(key), after.get(key)))
            elif before[key] != after[key]:
                out.extend(_field_changes(table, record_id, path, before[key], after[key]))
        return out
    return [FieldChange(table, record_id, prefix, before, after)]
