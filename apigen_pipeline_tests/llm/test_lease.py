"""The partition lease: one holder per (partition, asset) across threads and processes, on the local DuckDB
file and on DuckLake; a crashed holder's claim expires; two processes sharing a batch send it once."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from apigen_pipeline.llm.lease import (
    LeaseTimeoutError,
    PartitionLease,
    holder_process_is_gone,
    lease_scope,
    new_holder_id,
)
from apigen_pipeline.llm.request_log import RequestLog
from apigen_pipeline.testing.wire_servers import OpenAIWireServer
from apigen_pipeline.warehouse import Warehouse

SCOPE = lease_scope("retail", "2026-01-01", "blueprints")
TTL_S = 1.5


def never_gone(holder: str) -> bool:
    return False


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "w.duckdb")


def claims(warehouse: Warehouse) -> list[tuple]:
    with warehouse.connect() as con:
        return con.execute("SELECT scope, holder FROM llm_leases").fetchall()


def test_a_second_holder_waits_until_the_first_releases(warehouse):
    first = PartitionLease(warehouse, SCOPE, ttl_s=5.0, poll_s=0.02)
    second = PartitionLease(warehouse, SCOPE, ttl_s=5.0, poll_s=0.02)
    other_asset = PartitionLease(warehouse, lease_scope("retail", "2026-01-01", "trajectories"), ttl_s=5.0)
    first.acquire()
    with other_asset:  # another asset (or partition) is never held up
        pass
    with pytest.raises(LeaseTimeoutError, match=re.escape(first.holder)):
        second.acquire(timeout_s=0.3)
    releaser = threading.Timer(0.3, first.release)
    releaser.start()
    second.acquire(timeout_s=10)
    releaser.join()
    assert second.waited_s >= 0.25
    assert claims(warehouse) == [(SCOPE, second.holder)]
    second.release()
    assert claims(warehouse) == []


def test_the_heartbeat_keeps_a_claim_alive_and_a_crashed_holders_claim_expires(warehouse):
    # TTLs of seconds, not tenths: on a loaded 2-core machine a heartbeat can be late by a few tenths.
    holder = PartitionLease(warehouse, SCOPE, ttl_s=TTL_S, is_gone=never_gone)
    waiter = PartitionLease(warehouse, SCOPE, ttl_s=TTL_S, poll_s=0.02, is_gone=never_gone)
    holder.acquire()
    with pytest.raises(LeaseTimeoutError):
        waiter.acquire(timeout_s=3 * TTL_S)  # three TTLs: renewed all along
    # The holder dies without releasing (its heartbeat stops, its claim stays behind).
    holder._stop.set()
    holder._heartbeat.join()
    started = time.monotonic()
    waiter.acquire(timeout_s=5)
    assert time.monotonic() - started <= TTL_S + 1.0
    waiter.release()
    assert not holder.lost


def test_a_holder_whose_process_is_gone_on_this_machine_is_taken_over_at_once(warehouse):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    machine, process, token = new_holder_id().rsplit("/", 2)
    pid, _, started = process.partition("@")
    assert pid == str(os.getpid()) and not holder_process_is_gone(new_holder_id())
    ghost = f"{machine}/{dead.pid}/{token}"
    assert holder_process_is_gone(ghost)
    # This very pid, but recorded with another start: a crashed holder whose pid was handed on.
    assert holder_process_is_gone(f"{machine}/{pid}@{float(started) - 3600:.2f}/{token}")
    assert not holder_process_is_gone(f"{machine}/not-a-pid/{token}")
    assert not holder_process_is_gone(f"other-host:pid:[1]/{dead.pid}/{token}")  # elsewhere: wait for the TTL
    crashed = PartitionLease(warehouse, SCOPE, ttl_s=3600, holder=ghost)
    warehouse.migrate()
    crashed._claim()
    successor = PartitionLease(warehouse, SCOPE, ttl_s=5.0)
    successor.acquire(timeout_s=2)
    assert claims(warehouse) == [(SCOPE, successor.holder)]
    successor.release()


def hold_in_turns(warehouse: Warehouse, contenders: int) -> int:
    """Contenders acquire at the same moment; returns the most that held the lease at once."""
    holding, most = 0, 0
    lock = threading.Lock()
    start = threading.Barrier(contenders)

    def contend() -> None:
        nonlocal holding, most
        lease = PartitionLease(warehouse, SCOPE, ttl_s=5.0, poll_s=0.01)
        start.wait()
        with lease:
            with lock:
                holding += 1
                most = max(most, holding)
            time.sleep(0.02)
            with lock:
                holding -= 1

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return most


def test_contenders_hold_the_lease_one_at_a_time(warehouse):
    assert hold_in_turns(warehouse, 6) == 1
    assert claims(warehouse) == []


def test_contenders_hold_a_ducklake_lease_one_at_a_time(tmp_path):
    pytest.importorskip("duckdb_extension_ducklake", reason="needs the scaleout extra")
    from apigen_pipeline.warehouse.lake_setup import initialise_lake
    from apigen_pipeline.warehouse.storage import StorageSettings, close_shared_lakes

    settings = StorageSettings(mode="ducklake", catalog=str(tmp_path / "catalog.ducklake"),
                               data_path=str(tmp_path / "lake_data") + "/")
    try:
        initialise_lake(settings)
        lake = Warehouse(tmp_path / "home" / "w.duckdb", storage=settings)
        assert hold_in_turns(lake, 4) == 1
        assert claims(lake) == []
        # The heartbeat renews the claim in the lake too (an UPDATE there), well past its first expiry.
        with PartitionLease(lake, SCOPE, ttl_s=TTL_S, is_gone=never_gone) as held:
            with pytest.raises(LeaseTimeoutError):
                PartitionLease(lake, SCOPE, ttl_s=TTL_S, poll_s=0.02, is_gone=never_gone).acquire(timeout_s=3 * TTL_S)
            assert not held.lost
    finally:
        close_shared_lakes()


# ---- across processes, through the real SDK ------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys, time
    from apigen_pipeline.llm.config import LLMSettings, ModelRef, RoleModels
    from apigen_pipeline.llm.gateway import CallContext, LLMGateway
    from apigen_pipeline.llm.lease import PartitionLease, lease_scope
    from apigen_pipeline.llm.request_log import RequestLog
    from apigen_pipeline.llm.session import partition_gateway
    from apigen_pipeline.llm.types import ChatMessage, LLMRequest
    from apigen_pipeline.warehouse import Warehouse

    db, base_url, count, ttl, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    ref = ModelRef(provider="openai", model="wire-test-model", base_url=base_url, api_key_env="APIGEN_WIRE_TEST_KEY",
                   timeout_s=5)
    settings = LLMSettings(backend_override="configured", roles=RoleModels(generator=ref), judges=[ref],
                           max_concurrency=4)
    requests = [LLMRequest(role="generator", messages=[ChatMessage(role="user", content=f"Write task number {i}.")])
                for i in range(count)]
    context = CallContext(domain="retail", batch="b1", run_id=f"child-{mode}", asset="blueprints")
    warehouse = Warehouse(db)
    started = time.monotonic()
    if mode == "session":
        with partition_gateway(settings, warehouse, context, lease_ttl_s=ttl) as gateway:
            print("holding", flush=True)
            results = gateway.complete_many(requests, context)
    else:  # "ttl_only": trusts nothing but the claim's expiry (as a run on another machine would)
        with PartitionLease(warehouse, lease_scope("retail", "b1", "blueprints"), ttl_s=ttl, poll_s=0.05,
                            is_gone=lambda holder: False):
            print("holding", flush=True)
            with RequestLog(warehouse) as log:
                results = LLMGateway(settings, log).complete_many(requests, context)
    print(sum(r.ok for r in results), sum(r.from_cache for r in results), round(time.monotonic() - started, 2))
""")


def start_child(db: Path, base_url: str, count: int, ttl_s: float, mode: str = "session") -> subprocess.Popen:
    env = {**os.environ, "APIGEN_WIRE_TEST_KEY": "sk-test-lease", "APIGEN_LLM": ""}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(db), base_url, str(count), str(ttl_s), mode],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(child: subprocess.Popen) -> list[str]:
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-3000:]
    return out.split()


@pytest.mark.slow
def test_two_processes_running_one_batch_at_once_send_it_once(tmp_path):
    count = 40
    db = tmp_path / "w.duckdb"
    with OpenAIWireServer(latency_s=0.05) as server:
        first, second = (start_child(db, server.base_url, count, ttl_s=10.0) for _ in range(2))
        outputs = [finish(first), finish(second)]
        received = server.request_count
        answered_twice = server.bodies_answered_more_than_once()
    assert received == count and answered_twice == []
    # Both got every answer: one sent them, the other waited for the lease and replayed them all.
    assert sorted((out[1], out[2]) for out in outputs) == [(str(count), "0"), (str(count), str(count)), ]
    answered = [row for row in RequestLog(Warehouse(db), background=False).rows() if row["status"] == "answered"]
    assert len(answered) == count


@pytest.mark.slow
def test_a_holder_killed_with_sigkill_leaves_a_claim_that_expires(tmp_path):
    count, ttl_s = 60, 2.0
    db = tmp_path / "w.duckdb"
    with OpenAIWireServer(latency_s=0.05) as server:
        victim = start_child(db, server.base_url, count, ttl_s)
        assert victim.stdout.readline().strip() == "holding"
        deadline = time.monotonic() + 60
        while server.request_count < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        sent_before = {record.body_hash for record in server.requests if record.answered}
        assert 10 <= len(sent_before) < count, "the kill must land mid-batch"
        server.clear_records()

        successor = start_child(db, server.base_url, count, ttl_s, mode="ttl_only")
        assert successor.stdout.readline().strip() == "holding"
        waited = time.monotonic() - killed_at
        ok, _, _ = finish(successor)
        resent = {record.body_hash for record in server.requests} & sent_before
    assert int(ok) == count
    assert waited >= ttl_s * 0.5  # it waited for the dead claim to expire (renewed every ttl/4 until the kill)
    assert len(resent) <= 4  # only what was in flight at the kill (max_concurrency) goes out again
    assert [holder for _, holder in claims(Warehouse(db))] == []
