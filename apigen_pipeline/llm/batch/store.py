"""Where submitted provider batches are remembered: `llm_batch_items` (migration 0008), one row per request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.records import FrozenModel
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline.warehouse.sql_files import load_sql


class SubmittedItem(FrozenModel):
    """One request of a submitted provider batch whose results were not yet read into the request log."""

    request_key: str
    custom_id: str
    provider_batch_id: str


def endpoint_of(target: ModelRef) -> str:
    """The endpoint a batch id belongs to: a batch is only polled where it was submitted."""
    return target.base_url or "default"


class BatchStore:
    """Short connections only: nothing is held open while a batch is waited on."""

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse

    def open_items(self, keys: Iterable[str], target: ModelRef) -> dict[str, SubmittedItem]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        frame = self.warehouse.query("llm/batch_items_open",
                                     [wanted, target.provider, target.model, endpoint_of(target)])
        return {row.request_key: SubmittedItem(request_key=row.request_key, custom_id=row.custom_id,
                                               provider_batch_id=row.provider_batch_id)
                for row in frame.itertuples(index=False)}

    def record(self, items: Sequence[SubmittedItem], target: ModelRef, role: str, domain: str, batch: str,
               run_id: str, asset: str) -> None:
        submitted_at = datetime.now(UTC).replace(tzinfo=None)
        rows = [[item.request_key, item.custom_id, item.provider_batch_id, target.provider, target.model,
                 endpoint_of(target), role, domain, batch, run_id, asset, submitted_at] for item in items]

        def insert(con) -> None:  # noqa: ANN001 - a DuckDB connection
            con.executemany(load_sql("llm/batch_items_record"), rows)

        self.warehouse.write_transaction(insert)

    def mark_collected(self, provider_batch_id: str) -> None:
        self.warehouse.execute("llm/batch_items_collected",
                               [datetime.now(UTC).replace(tzinfo=None), provider_batch_id])
