"""The dict-backed adapter: a session's copy-on-write `Database` shown to a tool as a plain dict.

Environments written for other harnesses (tau-bench's, for one) hand every tool the whole data set as
`{table: {record_id: record}}` and let it mutate records in place: `data["orders"][order_id]["status"] =
"cancelled"`. A plugin with `tool_data="dict"` gets exactly that shape, over its session's `Database`:

- a fresh session copies nothing (the `Database` overlay starts empty);
- reading a record through the view hands out the session's private copy (made on first access), so an
  in-place mutation lands in that session only and the seed stays untouched;
- after each call `settle()` drops the copies that still equal the seed, so the state hash, the diff,
  the savepoints and the touched set see only what really changed.

Scanning a table (`for user in data["users"].values()`) copies each record it yields; the benchmark
(`bench/environments.py`) measures what that costs at tau-bench's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping

from apigen_pipeline.environments.database import Database, Record


class DictTables(Mapping[str, "DictTable"]):
    """`data` as a dict-style tool sees it: table name -> table of records (keyed by record id)."""

    def __init__(self, database: Database):
        self.database = database
        self._copied: set[tuple[str, str]] = set()  # records copied for this call, settled afterwards

    def __getitem__(self, table: str) -> DictTable:
        if table not in self.database.table_names():
            raise KeyError(table)
        return DictTable(self, table)

    def __iter__(self) -> Iterator[str]:
        return iter(self.database.table_names())

    def __len__(self) -> int:
        return len(self.database.table_names())

    def private_record(self, table: str, record_id: str) -> Record | None:
        if not self.database.holds(table, record_id):
            self._copied.add((table, record_id))
        return self.database.get_for_update(table, record_id)

    def settle(self) -> None:
        """Forget the copies this call made but did not change (see the module notes)."""
        for table, record_id in self._copied:
            self.database.forget_if_unchanged(table, record_id)
        self._copied.clear()


class DictTable(MutableMapping[str, Record]):
    """One table: reading a record hands out the session's private copy, writes go to the overlay."""

    def __init__(self, tables: DictTables, name: str):
        self._tables = tables
        self._database = tables.database
        self.name = name

    def __getitem__(self, record_id: str) -> Record:
        record = self._tables.private_record(self.name, record_id) if isinstance(record_id, str) else None
        if record is None:
            raise KeyError(record_id)
        return record

    def __contains__(self, record_id: object) -> bool:  # membership must not copy the record
        return isinstance(record_id, str) and self._database.get(self.name, record_id) is not None

    def __setitem__(self, record_id: str, record: Record) -> None:
        self._database.replace(self.name, record_id, record)

    def __delitem__(self, record_id: str) -> None:
        if record_id not in self:
            raise KeyError(record_id)
        self._database.delete(self.name, record_id)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._database.ids(self.name)))  # a snapshot: tools may insert while iterating

    def __len__(self) -> int:
        return self._database.count(self.name)
