"""The durable LLM request log: the cache and the unit of resume.

Every finished result is appended at once to this process's spool file (JSONL, one flushed line per
result) and ingested into DuckDB in batches by a background thread with a short connection, so no
DuckDB connection is held while LLM calls are in flight and a SIGKILL loses at most the requests
that were in flight. The spool is held under an exclusive `flock` for the life of the process; at
start-up, spools whose lock can be taken belonged to dead processes and are ingested.

Ingestion runs every `ingest_interval_s` (5 s) or once `ingest_rows` rows are spooled, whichever
comes first: each one costs some 60 ms of CPU whatever its size (connect, insert, checkpoint on
close), so a busy batch pays for a few large ingestions rather than one a second. Rows waiting in
the spool are already cache hits in this process; other processes see them after the next ingestion.

Ingestion is idempotent (see `sql/llm/ingest_spool.sql`): re-ingesting a spool after a crash between
the commit and the spool's deletion never duplicates a row, and an answered request is stored once.

An answer is an answer: a reply the provider returned is stored as `answered` with its validation
outcome (`valid`, or `invalid` after the bounded repair turns, with the rejected replies in
`repair_json`). Either is the key's final outcome and a cache hit: a re-run replays an invalid answer as
the same classified failure without sending anything. Only an explicit re-ask (`retry_failed`) sends an
invalid key again; its new answer names the one it replaces (`supersedes`), and `lookup_many` returns the
newest of the chain in the same single query. Transport failures (refused, timed out, 5xx or 429 after
the retries) and requests not sent are kept for the record but are never final: the next run sends them.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import pyarrow as pa
import pyarrow.json as pa_json
from pydantic import BaseModel, ConfigDict

from apigen_pipeline.llm.types import ErrorKind, LLMResponse, LLMResult
from apigen_pipeline.records import FrozenModel
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline.warehouse.sql_files import load_sql

logger = logging.getLogger(__name__)

TABLE = "llm_requests"
SPOOL_SUFFIX = ".jsonl"
_INCOMING = "incoming_llm_requests"


class LogRecord(BaseModel):
    """One row of `llm_requests` (see `sql/migrations/0002_llm_request_log.sql`, 0006 and 0007)."""

    model_config = ConfigDict(extra="forbid")

    entry_id: str
    request_key: str
    role: str
    provider: str
    model: str
    projection_model: str | None = None
    simulated: bool = False
    request_json: str
    response_json: str | None = None
    status: Literal["answered", "failed", "not_sent"]
    validation: Literal["valid", "invalid"] | None = None  # on answered rows
    repair_json: str | None = None  # the rejected replies before the final one: [{"reply", "problem"}]
    supersedes: str | None = None   # entry_id of the invalid answer this explicit re-ask replaces
    error_kind: str | None = None
    error_message: str | None = None
    attempts: int = 0
    repair_turns: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    projected_cost_usd: float | None = None
    latency_s: float = 0.0
    domain: str | None = None
    batch: str | None = None
    run_id: str | None = None
    asset: str | None = None
    prompt_version: str | None = None
    settings_fingerprint: str | None = None
    via_batch: bool = False  # sent through the provider's batch API: priced with its discount
    created_at: datetime

    @staticmethod
    def new_entry_id() -> str:
        return _entry_ids.next_id()

    def to_result(self, from_cache: bool) -> LLMResult:
        if self.status == "answered":
            return answer_result(self.request_key, self.validation, self.response_json, self.error_message,
                                 provider=self.provider, model=self.model, simulated=self.simulated,
                                 attempts=self.attempts, repair_turns=self.repair_turns, cost_usd=self.cost_usd,
                                 latency_s=self.latency_s, from_cache=from_cache)
        return LLMResult(
            request_key=self.request_key, status=self.status,
            response=LLMResponse.model_validate_json(self.response_json) if self.response_json else None,
            error_kind=ErrorKind(self.error_kind) if self.error_kind else None,
            error_message=self.error_message, attempts=self.attempts, repair_turns=self.repair_turns,
            from_cache=from_cache, provider=self.provider, model=self.model, latency_s=self.latency_s,
            cost_usd=self.cost_usd or 0.0, simulated=self.simulated,
        )

    def to_answer(self) -> LoggedAnswer:
        return LoggedAnswer(entry_id=self.entry_id, result=self.to_result(from_cache=True))


class LoggedAnswer(FrozenModel):
    """A request key's stored final answer, as a cache hit: `result` is the answer, or (an invalid
    answer) the same classified INVALID_OUTPUT failure the first run returned."""

    entry_id: str
    result: LLMResult

    @property
    def valid(self) -> bool:
        return self.result.ok


def answer_result(request_key: str, validation: str | None, response_json: str | None, error_message: str | None,
                  *, provider: str, model: str, simulated: bool | None, attempts: int | None,
                  repair_turns: int | None, cost_usd: float | None, latency_s: float | None,
                  from_cache: bool) -> LLMResult:
    """The result a stored answer stands for. Rows from before answers carried a validation were valid."""
    base: dict[str, Any] = {
        "request_key": request_key, "attempts": attempts or 0, "repair_turns": repair_turns or 0,
        "from_cache": from_cache, "provider": provider, "model": model, "latency_s": latency_s or 0.0,
        "cost_usd": cost_usd or 0.0, "simulated": bool(simulated)}
    if validation == "invalid":
        return LLMResult(status="failed", error_kind=ErrorKind.INVALID_OUTPUT, error_message=error_message, **base)
    return LLMResult(status="answered", response=LLMResponse.model_validate_json(response_json or "{}"), **base)


class _EntryIds:
    """Unique row ids without a system call each: a random per-process tag and a counter.

    32 hex digits like a uuid4's; the tag is drawn again in a forked child so parent and child
    never share ids.
    """

    def __init__(self) -> None:
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._tag = uuid.uuid4().hex[:16]
        self._counter = itertools.count()

    def next_id(self) -> str:
        return f"{self._tag}{next(self._counter):016x}"  # next() on a count is atomic under the GIL


_entry_ids = _EntryIds()


_ARROW_SCHEMA = pa.schema([
    ("entry_id", pa.string()), ("request_key", pa.string()), ("role", pa.string()),
    ("provider", pa.string()), ("model", pa.string()), ("projection_model", pa.string()),
    ("simulated", pa.bool_()), ("request_json", pa.string()), ("response_json", pa.string()),
    ("status", pa.string()), ("validation", pa.string()), ("repair_json", pa.string()),
    ("supersedes", pa.string()), ("error_kind", pa.string()), ("error_message", pa.string()),
    ("attempts", pa.int32()), ("repair_turns", pa.int32()), ("input_tokens", pa.int64()),
    ("cached_input_tokens", pa.int64()), ("cache_write_input_tokens", pa.int64()), ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()),
    ("projected_cost_usd", pa.float64()), ("latency_s", pa.float64()), ("domain", pa.string()),
    ("batch", pa.string()), ("run_id", pa.string()), ("asset", pa.string()),
    ("prompt_version", pa.string()), ("settings_fingerprint", pa.string()), ("via_batch", pa.bool_()),
    ("created_at", pa.timestamp("us")),
])
# A spool line carries every column by name (`created_at` in UTC); anything else in it is not a column.
_SPOOL_PARSE = pa_json.ParseOptions(explicit_schema=_ARROW_SCHEMA, unexpected_field_behavior="ignore")


class RequestStore(Protocol):
    """What the gateway needs from a request log (`RequestLog` in production)."""

    def append(self, record: LogRecord) -> None: ...

    def lookup_many(self, keys: Iterable[str]) -> dict[str, LoggedAnswer]: ...


class _Spool:
    """An append-only JSONL file under an exclusive flock held until it is ingested and deleted."""

    def __init__(self, path: Path, handle: IO[bytes]):
        self.path = path
        self._handle = handle
        self.rows = 0

    @classmethod
    def create(cls, directory: Path) -> _Spool:
        directory.mkdir(parents=True, exist_ok=True)
        name = f"spool-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        # Locked under a name orphan recovery ignores, then renamed: a recovering process can never
        # take (and delete) a spool in the instant between its creation and its locking.
        temporary = directory / f".{name}.tmp"
        handle = open(temporary, "ab")  # noqa: SIM115 - lives as long as the spool
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        final = directory / f"{name}{SPOOL_SUFFIX}"
        os.rename(temporary, final)
        return cls(final, handle)

    def write(self, line: bytes) -> None:
        self._handle.write(line)
        self._handle.flush()  # in the kernel now: survives the process being killed
        self.rows += 1

    def delete(self) -> None:
        # Unlink while still locked, so no recovering process can pick it up again.
        self.path.unlink(missing_ok=True)
        self._handle.close()

    def abandon(self) -> None:
        """Release the lock without ingesting (what a dying process leaves behind). Tests only."""
        self._handle.close()


def read_spool(path: Path) -> list[dict[str, Any]]:
    """Rows of a spool file; a torn last line (the process died mid-write) is skipped."""
    rows: list[dict[str, Any]] = []
    with open(path, "rb") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except ValueError:
                logger.warning("skipping a torn line in spool %s", path.name)
                continue
            row["created_at"] = datetime.fromisoformat(row["created_at"]).replace(tzinfo=None)
            rows.append(row)
    return rows


def rows_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{name: row.get(name) for name in _ARROW_SCHEMA.names} for row in rows],
                                schema=_ARROW_SCHEMA)


def spool_table(path: Path) -> pa.Table:
    """A spool file as the table to ingest, parsed by Arrow's JSON reader (a third of the CPU of parsing its
    lines one by one); a file it cannot read whole, as one with a torn last line, goes line by line."""
    try:
        return pa_json.read_json(path, parse_options=_SPOOL_PARSE)
    except pa.ArrowInvalid:
        return rows_table(read_spool(path))


class RequestLog:
    def __init__(self, warehouse: Warehouse, *, spool_dir: str | Path | None = None,
                 ingest_interval_s: float = 5.0, ingest_rows: int = 1000,
                 scrub: Callable[[str], str] | None = None, background: bool = True):
        self.warehouse = warehouse
        self.spool_dir = Path(spool_dir) if spool_dir else warehouse.path.with_name(warehouse.path.name + ".llm-spool")
        self.ingest_interval_s = ingest_interval_s
        self.ingest_rows = ingest_rows
        self._scrub = scrub or (lambda text: text)
        self._background = background
        self._lock = threading.Lock()          # guards the spool handle and the pending map
        self._ingest_lock = threading.Lock()   # one ingestion at a time (thread vs explicit flush)
        self._spool: _Spool | None = None
        self._pending_answered: dict[str, LogRecord] = {}
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.ingested_rows = 0

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self) -> RequestLog:
        if self._spool is not None:
            return self
        self.warehouse.migrate()
        self.recover_orphans()
        self._spool = _Spool.create(self.spool_dir)
        if self._background:
            self._stopping = False
            self._thread = threading.Thread(target=self._ingest_loop, name="llm-request-log", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._spool is None:
            return
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
        with self._lock:
            spool, self._spool = self._spool, None
        if spool is not None:
            spool.delete()

    def __enter__(self) -> RequestLog:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------------
    def append(self, record: LogRecord) -> None:
        """Durable once this returns (in the spool); visible to `lookup_many` at once."""
        line = (self._scrub(record.model_dump_json()) + "\n").encode()
        with self._lock:
            if self._spool is None:
                raise RuntimeError("RequestLog is not open")
            self._spool.write(line)
            if record.status == "answered":
                pending = self._pending_answered.get(record.request_key)
                if pending is None or record.supersedes == pending.entry_id:
                    self._pending_answered[record.request_key] = record
            if self._spool.rows >= self.ingest_rows:
                self._wake.set()

    def flush(self) -> int:
        """Ingest everything spooled so far; returns the number of new rows stored."""
        with self._ingest_lock:
            with self._lock:
                if self._spool is None or self._spool.rows == 0:
                    return 0
                full, self._spool = self._spool, _Spool.create(self.spool_dir)
                ingesting = dict(self._pending_answered)
            inserted = self._ingest_file(full.path)
            full.delete()
            with self._lock:
                for key, record in ingesting.items():
                    if self._pending_answered.get(key) is record:
                        del self._pending_answered[key]
            return inserted

    def _ingest_loop(self) -> None:
        while not self._stopping:
            self._wake.wait(self.ingest_interval_s)
            self._wake.clear()
            if self._stopping:
                break
            try:
                self.flush()
            except Exception:  # a busy or broken warehouse must not kill the run: rows stay spooled
                logger.exception("request log ingestion failed; will retry")

    def _ingest_file(self, path: Path) -> int:
        return self._ingest_table(spool_table(path))

    def ingest_rows_into_warehouse(self, rows: Sequence[dict[str, Any]]) -> int:
        return self._ingest_table(rows_table(rows))

    def _ingest_table(self, table: pa.Table) -> int:
        if table.num_rows == 0:
            return 0
        with self.warehouse.connect() as con:
            con.register(_INCOMING, table)
            try:
                inserted = con.execute(load_sql("llm/ingest_spool")).fetchone()
            finally:
                con.unregister(_INCOMING)
        count = int(inserted[0]) if inserted else 0
        self.ingested_rows += count
        return count

    def recover_orphans(self) -> int:
        """Ingest and delete spools left by dead processes (their lock can be taken)."""
        if not self.spool_dir.is_dir():
            return 0
        recovered = 0
        for path in sorted(self.spool_dir.iterdir()):
            is_spool = path.suffix == SPOOL_SUFFIX
            if not is_spool and not path.name.endswith(".tmp"):
                continue
            if self._spool is not None and path == self._spool.path:
                continue
            try:
                handle = open(path, "ab")  # noqa: SIM115 - closed below
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()  # a live process owns it
                continue
            try:
                if is_spool:
                    recovered += self._ingest_file(path)
                path.unlink(missing_ok=True)
            finally:
                handle.close()
        if recovered:
            logger.info("recovered %d request log rows from orphan spools", recovered)
        return recovered

    # -- reading --------------------------------------------------------------------------------
    def lookup_many(self, keys: Iterable[str]) -> dict[str, LoggedAnswer]:
        """The final answers (valid or invalid) of these keys, in one query, including ones not yet ingested."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, LoggedAnswer] = {}
        with self._lock:
            for key in wanted:
                record = self._pending_answered.get(key)
                if record is not None:
                    found[key] = record.to_answer()
        rest = [key for key in wanted if key not in found]
        if not rest:
            return found
        with self.warehouse.connect() as con:
            rows = con.execute(load_sql("llm/lookup_answered"), [rest]).fetchall()
        for (key, entry_id, provider, model, simulated, response_json, validation, error_message, attempts,
             repairs, cost, latency) in rows:
            found[key] = LoggedAnswer(entry_id=entry_id, result=answer_result(
                key, validation, response_json, error_message, provider=provider, model=model,
                simulated=simulated, attempts=attempts, repair_turns=repairs, cost_usd=cost, latency_s=latency,
                from_cache=True))
        return found

    def rows(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Stored rows (all, or one run's) as dicts, in logging order."""
        with self.warehouse.connect() as con:
            if run_id is None:
                cursor = con.execute(load_sql("llm/all_requests"))
            else:
                cursor = con.execute(load_sql("llm/requests_by_run"), [run_id])
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def now_utc() -> datetime:
    return datetime.now(UTC)
