"""Where provider batches are remembered: `llm_batch_items` (migration 0008), one row per submitted request,
and `llm_batch_submissions` (0011), one intent per submission written before the provider is asked."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.records import FrozenModel
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline.warehouse.sql_files import load_sql


@dataclass(frozen=True)
class Submission:
    """Who the batch items belong to (written with each intent and submitted item)."""

    role: str
    domain: str
    batch: str
    run_id: str
    asset: str


class SubmittedItem(FrozenModel):
    """One request of a submitted provider batch whose results were not yet read into the request log."""

    request_key: str
    custom_id: str
    provider_batch_id: str


class OpenBatch(FrozenModel):
    """A provider batch with items not yet read into the request log, and the partition they belong to."""

    provider: str
    model: str
    endpoint: str
    provider_batch_id: str
    domain: str
    batch: str
    items: int


class SubmissionIntent(FrozenModel):
    """A submission written before the provider was asked; open while it is not known whether the provider
    created its batch. The custom ids of its requests are their request keys."""

    submission_id: str
    request_keys: tuple[str, ...]
    who: Submission
    created_at: datetime  # naive UTC


def endpoint_of(target: ModelRef) -> str:
    """The endpoint a batch id belongs to: a batch is only polled where it was submitted."""
    return target.base_url or "default"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


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

    def open_batches(self) -> list[OpenBatch]:
        frame = self.warehouse.query("llm/batch_open_batches")
        return [OpenBatch(provider=row.provider, model=row.model, endpoint=row.endpoint,
                          provider_batch_id=row.provider_batch_id, domain=row.domain, batch=row.batch,
                          items=int(row.items)) for row in frame.itertuples(index=False)]

    def begin(self, keys: Iterable[str], target: ModelRef, who: Submission) -> SubmissionIntent:
        """Write the intent (status `submitting`) durably; only then may the provider be asked."""
        intent = SubmissionIntent(submission_id=f"apigen-{uuid.uuid4().hex}", request_keys=tuple(keys), who=who,
                                  created_at=_now())
        self.warehouse.execute("llm/batch_submission_begin", [
            intent.submission_id, json.dumps(list(intent.request_keys)), target.provider, target.model,
            endpoint_of(target), who.role, who.domain, who.batch, who.run_id, who.asset, intent.created_at])
        return intent

    def open_intents(self, target: ModelRef) -> list[SubmissionIntent]:
        frame = self.warehouse.query("llm/batch_submissions_open",
                                     [target.provider, target.model, endpoint_of(target)])
        return [SubmissionIntent(submission_id=row.submission_id, request_keys=tuple(json.loads(row.request_keys_json)),
                                 who=Submission(row.role, row.domain, row.batch, row.run_id, row.asset),
                                 created_at=row.created_at.to_pydatetime())
                for row in frame.itertuples(index=False)]

    def recorded_batches(self, provider_batch_ids: Iterable[str], target: ModelRef) -> set[str]:
        """Which of these provider batches already hold recorded items (another submission's)."""
        wanted = list(dict.fromkeys(provider_batch_ids))
        if not wanted:
            return set()
        frame = self.warehouse.query("llm/batch_items_recorded_batches", [wanted, endpoint_of(target)])
        return set(frame["provider_batch_id"])

    def record(self, intent: SubmissionIntent, provider_batch_id: str, target: ModelRef) -> list[SubmittedItem]:
        """The provider holds the intent's batch: its items and the resolved intent, in one transaction."""
        items = [SubmittedItem(request_key=key, custom_id=key, provider_batch_id=provider_batch_id)
                 for key in intent.request_keys]
        now, who = _now(), intent.who
        rows = [[item.request_key, item.custom_id, item.provider_batch_id, target.provider, target.model,
                 endpoint_of(target), who.role, who.domain, who.batch, who.run_id, who.asset, now,
                 intent.submission_id] for item in items]

        def insert(con) -> None:  # noqa: ANN001 - a DuckDB connection
            con.executemany(load_sql("llm/batch_items_record"), rows)
            con.execute(load_sql("llm/batch_submission_resolve"),
                        ["submitted", provider_batch_id, now, intent.submission_id])

        self.warehouse.write_transaction(insert)
        return items

    def abandon(self, intent: SubmissionIntent) -> None:
        """The provider provably holds no batch of this intent: its requests may be submitted again."""
        self.warehouse.execute("llm/batch_submission_resolve", ["not_submitted", None, _now(), intent.submission_id])

    def mark_collected(self, provider_batch_id: str) -> None:
        self.warehouse.execute("llm/batch_items_collected", [_now(), provider_batch_id])
