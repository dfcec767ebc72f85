import json
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apigen_pipeline.llm.request_log import LogRecord, RequestLog, read_spool
from apigen_pipeline.llm.secrets import SecretScrubber
from apigen_pipeline.llm.types import LLMResponse, Usage
from apigen_pipeline.warehouse import Warehouse


def record(key: str, status: str = "answered", text: str = "hi", **extra) -> LogRecord:
    response = LLMResponse(text=text, usage=Usage(input_tokens=5, output_tokens=2)) if status == "answered" else None
    return LogRecord(
        entry_id=LogRecord.new_entry_id(), request_key=key, role="agent", provider="openai", model="gpt-4o",
        request_json=json.dumps({"k": key}), response_json=response.model_dump_json() if response else None,
        status=status, error_kind=None if status == "answered" else "transient", attempts=1,
        input_tokens=5, output_tokens=2, cost_usd=0.001, domain="retail", batch="b1", run_id="r1",
        asset="blueprints", created_at=datetime.now(UTC), **extra)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


def test_lookup_sees_appended_answers_before_and_after_ingestion(warehouse):
    with RequestLog(warehouse, background=False) as log:
        log.append(record("k1", text="first"))
        log.append(record("k2", status="failed"))
        before = log.lookup_many(["k1", "k2", "k3"])
        assert set(before) == {"k1"} and before["k1"].result.from_cache
        assert before["k1"].result.response.text == "first"
        assert log.flush() == 2
        after = log.lookup_many(["k1", "k2", "k3"])
        assert set(after) == {"k1"} and after["k1"].result.response.text == "first"
        assert after["k1"].result.cost_usd == pytest.approx(0.001)


def test_failed_rows_are_kept_but_are_not_cache_hits(warehouse):
    with RequestLog(warehouse, background=False) as log:
        log.append(record("k1", status="failed"))
        log.append(record("k1", status="failed"))
        log.flush()
        assert log.lookup_many(["k1"]) == {}
        assert [row["status"] for row in log.rows()] == ["failed", "failed"]


def test_an_answer_is_stored_once_even_if_spooled_twice(warehouse):
    with RequestLog(warehouse, background=False) as log:
        log.append(record("k1", text="first"))
        log.flush()
        log.append(record("k1", text="second"))
        log.append(record("k1", text="third"))
        log.flush()
        rows = log.rows()
    assert len(rows) == 1
    assert json.loads(rows[0]["response_json"])["text"] == "first"


def test_ingesting_the_same_spool_twice_adds_nothing(warehouse, tmp_path):
    with RequestLog(warehouse, background=False) as log:
        rows = [dict(json.loads(record(f"k{i}", status="answered" if i % 2 else "failed").model_dump_json()))
                for i in range(10)]
        for row in rows:
            row["created_at"] = datetime.fromisoformat(row["created_at"]).replace(tzinfo=None)
        assert log.ingest_rows_into_warehouse(rows) == 10
        # A crash between the commit and the spool's deletion re-ingests the same rows.
        assert log.ingest_rows_into_warehouse(rows) == 0
        assert len(log.rows()) == 10


def test_orphan_spool_of_a_dead_process_is_recovered_at_start(warehouse):
    first = RequestLog(warehouse, background=False).open()
    first.append(record("k1", text="from the dead"))
    first.append(record("k2", status="failed"))
    spool = first._spool
    spool.abandon()  # the process died: its lock is gone, its spool stays
    assert spool.path.exists()
    with RequestLog(warehouse, background=False) as second:
        assert second.lookup_many(["k1"])["k1"].result.response.text == "from the dead"
        assert len(second.rows()) == 2
    assert not spool.path.exists()


def test_a_live_processs_spool_is_not_taken(warehouse):
    with RequestLog(warehouse, background=False) as first:
        first.append(record("k1"))
        with RequestLog(warehouse, background=False) as second:
            assert second.rows() == []
            assert first._spool.path.exists()
        first.flush()
        assert len(first.rows()) == 1


def test_torn_last_line_is_skipped(warehouse):
    first = RequestLog(warehouse, background=False).open()
    first.append(record("k1"))
    path = first._spool.path
    first._spool.abandon()
    with open(path, "ab") as handle:
        handle.write(b'{"entry_id": "half a li')
    with RequestLog(warehouse, background=False) as second:
        assert list(second.lookup_many(["k1"])) == ["k1"]


def test_a_spool_read_by_arrow_stores_what_reading_it_line_by_line_stores(tmp_path):
    """Spools are ingested through Arrow's JSON reader; every column, nulls, unicode and the UTC creation
    time come out as the line-by-line reading (`read_spool`, the fallback) stores them."""
    records = [record("k1", text="ünïcode \"quoted\"\nline"),
               record("k2", status="failed", error_message="HTTP 500: boom", repair_json='[{"problem": "x"}]'),
               record("k3", via_batch=True, prompt_version="v2", projected_cost_usd=0.5, latency_s=1.25,
                      cached_input_tokens=3, cache_write_input_tokens=1, supersedes="e0", validation="valid")]
    stored = []
    for name, ingest in (("arrow", lambda log, path: log._ingest_file(path)),
                         ("lines", lambda log, path: log.ingest_rows_into_warehouse(read_spool(path)))):
        with RequestLog(Warehouse(tmp_path / f"{name}.duckdb"), background=False) as log:
            for item in records:
                log.append(item)
            assert ingest(log, log._spool.path) == len(records)
            stored.append(log.rows())
    arrow_rows, line_rows = stored
    assert arrow_rows == line_rows
    assert [row["request_key"] for row in arrow_rows] == ["k1", "k2", "k3"]
    assert arrow_rows[0]["created_at"] == records[0].created_at.replace(tzinfo=None)
    assert (arrow_rows[2]["via_batch"], arrow_rows[1]["response_json"]) == (True, None)


def test_background_thread_ingests_without_an_explicit_flush(warehouse):
    log = RequestLog(warehouse, ingest_interval_s=0.05).open()
    try:
        log.append(record("k1"))
        import time
        deadline = time.monotonic() + 5
        while log.ingested_rows == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.ingested_rows == 1
    finally:
        log.close()


def test_close_ingests_everything_and_removes_the_spool(warehouse):
    log = RequestLog(warehouse, background=False).open()
    log.append(record("k1"))
    path = log._spool.path
    log.close()
    assert not path.exists()
    assert len(RequestLog(warehouse, background=False).open().rows()) == 1


def test_secret_values_are_scrubbed_before_anything_is_written(warehouse):
    secret = "sk-test-PLANTED-SECRET-123"
    scrub = SecretScrubber.from_env(["OPENAI_API_KEY"], {"OPENAI_API_KEY": secret})
    log = RequestLog(warehouse, background=False, scrub=scrub).open()
    log.append(record("k1", status="failed", error_message=f"401 bad key {secret}"))
    spool_text = log._spool.path.read_text()
    log.close()
    assert secret not in spool_text and "[redacted]" in spool_text
    assert log.rows()[0]["error_message"] == "401 bad key [redacted]"
    assert secret.encode() not in warehouse.path.read_bytes()


def test_short_env_values_are_not_treated_as_secrets():
    scrub = SecretScrubber(["1", "abc"])
    assert scrub("attempt 1 of abc") == "attempt 1 of abc"


def _send_entry_ids(connection) -> None:
    connection.send([LogRecord.new_entry_id() for _ in range(3)])
    connection.close()


def test_entry_ids_are_unique_hex_and_a_forked_child_draws_its_own():
    ids = [LogRecord.new_entry_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(entry_id) == 32 and set(entry_id) <= set("0123456789abcdef") for entry_id in ids)
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=_send_entry_ids, args=(child_end,))
    child.start()
    child_ids = parent_end.recv()
    child.join(10)
    assert child.exitcode == 0
    # Same counter position after the fork, so only a fresh per-process tag keeps them apart.
    assert {entry_id[:16] for entry_id in child_ids}.isdisjoint({entry_id[:16] for entry_id in ids})
    assert len(set(child_ids)) == 3


def invalid(key: str, **extra) -> LogRecord:
    return record(key, validation="invalid", error_message="the reply contains no valid JSON object", **extra)


def test_an_invalid_answer_is_final_until_an_explicit_reask_supersedes_it(warehouse):
    first = invalid("k1", text="prose")
    with RequestLog(warehouse, background=False) as log:
        log.append(first)
        (stored,) = log.lookup_many(["k1"]).values()
        assert not stored.valid and stored.entry_id == first.entry_id
        assert (stored.result.status, stored.result.error_kind) == ("failed", "invalid_output")
        log.flush()
        assert log.lookup_many(["k1"])["k1"] == stored
        # A second answer without `supersedes` (another process answered the same key) is not stored.
        log.append(record("k1", text="late duplicate"))
        log.flush()
        assert log.lookup_many(["k1"])["k1"].entry_id == first.entry_id
        reask = record("k1", text="fixed", validation="valid", supersedes=first.entry_id)
        log.append(reask)
        assert log.lookup_many(["k1"])["k1"].result.response.text == "fixed"  # before ingestion ...
        log.flush()
        head = log.lookup_many(["k1"])["k1"]  # ... and after: one query finds the newest of the chain
        assert head.entry_id == reask.entry_id and head.valid
        log.append(record("k1", text="second re-ask of the same answer", supersedes=first.entry_id))
        log.flush()
        assert log.lookup_many(["k1"])["k1"].entry_id == reask.entry_id
        assert [(row["validation"], row["supersedes"]) for row in log.rows()] == [
            ("invalid", None), ("valid", first.entry_id)]


def test_prompt_tokens_per_role_count_only_requests_that_measured_a_prompt(warehouse):
    # A provider batch's failed item reports no usage; the same key is then answered live.
    failed_batch_item = record("k1", status="failed", via_batch=True).model_copy(update={"input_tokens": 0})
    with RequestLog(warehouse, background=False) as log:
        for row in (failed_batch_item, record("k1"), record("k2").model_copy(update={"input_tokens": 9})):
            log.append(row.model_copy(update={"role": "generator"}))
        log.flush()
    ((role, requests, p50, p95),) = warehouse.query("report/prompt_tokens_by_role", ["retail", "b1"]).itertuples(
        index=False)
    assert (role, requests, p50, p95) == ("generator", 2, 7.0, pytest.approx(8.8))
