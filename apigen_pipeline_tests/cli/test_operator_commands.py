"""`apigen failures`, `apigen report` and `apigen status` against a warehouse built from known rows and a
real Dagster instance: the tables they print, their filters, and that they only read (bytes unchanged,
a writer's lock named in one line)."""

import hashlib
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from apigen_pipeline.cli import main, reading
from apigen_pipeline.cli.run import SOURCE_TAG
from apigen_pipeline.llm.request_log import LogRecord
from apigen_pipeline.paths import apigen_home, ensure_dagster_home, spool_dir, warehouse_path
from apigen_pipeline.processes import HOST_TAG, PID_TAG
from apigen_pipeline_tests.support.processes import dead_pid
from apigen_pipeline_tests.warehouse.built_warehouse import build_warehouse
from apigen_pipeline_tests.warehouse.test_errors import held_by_other_process

BATCH, LATER = "2026-11-20", "2026-11-21"


@pytest.fixture()
def warehouse_file() -> Path:
    path = warehouse_path(apigen_home())
    build_warehouse(path, partitions=(("retail", BATCH), ("airline", BATCH), ("retail", LATER)), payload_chars=200)
    return path


def run_cli(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out.splitlines(), [line for line in err.splitlines() if line.strip()]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- failures -----------------------------------------------------------------------------------

def test_failures_counts_every_failed_item_by_stage_and_reason(warehouse_file, capsys):
    code, out, err = run_cli(capsys, "failures", "--domain", "retail", "--batch", BATCH, "--counts")
    assert code == 0 and err == []
    rows = [line.split() for line in out[1:]]
    # built_warehouse: 40 blueprint attempts (10 each of accepted, tool_error, committee, invalid_json) and
    # 12 trajectory attempts (4 kept, 4 failing verification, 4 dropped as duplicates) per partition.
    assert sorted((row[2], row[3], row[4], int(row[5])) for row in rows) == [
        ("blueprint", "committee", "correctness_vote_failed", 10),
        ("blueprint", "execution", "tool_error", 10),
        ("blueprint", "format", "invalid_json", 10),
        ("trajectory", "selection", "duplicate", 4),
        ("trajectory", "verification", "state_mismatch", 4),
    ]
    assert {row[0] for row in rows} == {"retail"} and {row[1] for row in rows} == {BATCH}


def test_failures_lists_items_filtered_and_says_how_many_it_left_out(warehouse_file, capsys):
    code, out, _ = run_cli(capsys, "failures", "--stage", "execution", "--limit", "5")
    assert code == 0
    header, *rows = out[:-1]
    assert header.split()[:8] == ["domain", "batch", "kind", "item", "attempt", "outcome", "stage", "reason"]
    assert len(rows) == 5 and all(row.split()[6] == "execution" for row in rows)
    assert rows[0].split()[1] == LATER  # newest batch first
    assert out[-1].startswith("5 of 30 failed items shown")  # 10 per partition, 3 partitions


def test_failures_that_match_nothing_say_what_exists(warehouse_file, capsys):
    code, out, _ = run_cli(capsys, "failures", "--stage", "comittee")
    assert code == 0
    assert out == ["no failed items match --stage comittee; failures exist for domains airline, retail, 2 batches "
                   f"from {BATCH} to {LATER}, stages committee, execution, format, selection, verification"]


def test_reading_never_changes_the_warehouse(warehouse_file, capsys):
    before = sha256(warehouse_file)
    stamp = warehouse_file.with_name(warehouse_file.name + ".verified").read_text()
    for args in (["failures"], ["failures", "--counts"], ["report"], ["status"]):
        assert run_cli(capsys, *args)[0] == 0
    assert sha256(warehouse_file) == before
    assert warehouse_file.with_name(warehouse_file.name + ".verified").read_text() == stamp
    assert not Path(f"{warehouse_file}.wal").exists()


def test_a_warehouse_held_by_a_writer_is_one_line_and_nothing_is_read(warehouse_file, capsys, monkeypatch):
    monkeypatch.setattr(reading, "READ_WAIT_S", 0.3)
    with held_by_other_process(warehouse_file) as writer:
        code, out, err = run_cli(capsys, "failures")
    assert code == 1 and out == []
    assert len(err) == 1 and f"PID {writer.pid}" in err[0] and "being written" in err[0]


def test_no_warehouse_yet_is_one_line(capsys):
    code, out, err = run_cli(capsys, "report")
    assert code == 1 and out == []
    assert len(err) == 1 and "no warehouse at" in err[0] and "apigen run" in err[0]


# -- report -------------------------------------------------------------------------------------

def test_report_shows_the_funnel_of_the_newest_batch_by_default(warehouse_file, capsys):
    code, out, _ = run_cli(capsys, "report")
    assert code == 0
    assert out[0].startswith(f"retail|{LATER}  (run run-reta")
    stages = [line.split() for line in out[2:11]]
    assert [(s[0], int(s[1])) for s in stages] == [
        ("contexts", 4), ("blueprint_attempts", 8), ("accepted_blueprints", 3), ("kept_blueprints", 3),
        ("trajectory_attempts", 6), ("verified_attempts", 4), ("policy_clean_attempts", 4),
        ("kept_trajectories", 3), ("dataset_rows", 3)]
    assert stages[2][2] == "37.5%"  # 3 accepted of 8 attempts
    assert "cost $0.3000" in out[11] and "3 verified trajectories" in out[11]


def test_report_filters_by_batch_and_domain(warehouse_file, capsys):
    _, out, _ = run_cli(capsys, "report", "--batch", BATCH)
    assert [line.split()[0] for line in out if "|" in line] == [f"airline|{BATCH}", f"retail|{BATCH}"]
    _, out, _ = run_cli(capsys, "report", "--batch", BATCH, "--domain", "airline")
    assert [line.split()[0] for line in out if "|" in line] == [f"airline|{BATCH}"]
    _, out, _ = run_cli(capsys, "report", "--domain", "mockshop")
    assert out == [f"no funnel for --domain mockshop; funnels exist for domains airline, retail, 2 batches "
                   f"from {BATCH} to {LATER}"]


# -- status -------------------------------------------------------------------------------------

def spool_record(entry_id: str, cost: float, created_at: datetime) -> str:
    return LogRecord(entry_id=entry_id, request_key=f"key-{entry_id}", role="generator", provider="openai",
                     model="gpt-4o", request_json="{}", status="answered", cost_usd=cost, projected_cost_usd=cost,
                     created_at=created_at).model_dump_json()


def test_spend_today_adds_the_spooled_requests_once(warehouse_file, capsys):
    now = datetime.now(UTC)
    folder = spool_dir(apigen_home())
    folder.mkdir(parents=True)
    (folder / "spool-1-abc.jsonl").write_text("\n".join([
        spool_record("run-retail-2026-11-20-0", 0.01, now),             # already ingested: counted once
        spool_record("fresh", 0.05, now),                                # not yet ingested
        spool_record("yesterday", 1.0, now - timedelta(days=1, hours=1)),  # not today
    ]) + "\n" + '{"torn": ')
    code, out, _ = run_cli(capsys, "status")
    assert code == 0
    # 3 partitions x 30 stored requests at $0.01 (projected $0.02), plus the fresh spooled one.
    assert out[-1] == (f"spend today ({now:%Y-%m-%d} UTC): $0.9500 over 91 requests sent, 1 of them not yet "
                       "ingested (projected on the configured models: $1.8500)")


@pytest.fixture()
def instance(monkeypatch) -> dg.DagsterInstance:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # restored after the test
    home = ensure_dagster_home(apigen_home())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_status_shows_runs_stuck_runs_and_pool_slots(instance, capsys):
    host = socket.gethostname()
    partition = {"dagster/partition/domain": "retail", "dagster/partition/batch": BATCH}
    done = create_run_for_test(instance, status=dg.DagsterRunStatus.SUCCESS, tags={**partition, SOURCE_TAG: "cli"})
    killed = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED, tags={
        "dagster/partition/domain": "airline", "dagster/partition/batch": BATCH, SOURCE_TAG: "cli",
        PID_TAG: str(dead_pid()), HOST_TAG: host})
    alive = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED, tags={
        "dagster/partition/domain": "retail", "dagster/partition/batch": LATER, "dagster/backfill": "b1",
        PID_TAG: str(os.getpid()), HOST_TAG: host})
    instance.event_log_storage.set_concurrency_slots("llm_api", 2)
    assert instance.event_log_storage.claim_concurrency_slot("llm_api", alive.run_id, "blueprints").is_claimed

    code, out, _ = run_cli(capsys, "status")
    assert code == 0
    text = "\n".join(out)
    latest = {line.split()[0]: line.split() for line in out if "|" in line.split()[0]}
    assert latest[f"retail|{BATCH}"][1:3] == ["SUCCESS", done.run_id[:8]]
    assert latest[f"airline|{BATCH}"][1] == "STARTED" and latest[f"retail|{LATER}"][-2] == "backfill"
    assert "stuck runs: 1" in text
    stuck = [line for line in out if line.strip().startswith(killed.run_id)]
    assert len(stuck) == 1 and f"its process {killed.tags[PID_TAG]} on {host} is gone" in stuck[0]
    assert not any(line.strip().startswith(alive.run_id) for line in out)
    assert f"pool llm_api: 1/2 slots held (by {alive.run_id[:8]}/blueprints); 0 steps waiting" in out
    assert "no warehouse yet" in out[-1]


def test_status_without_any_history_says_so(capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    code, out, _ = run_cli(capsys, "status")
    assert code == 0 and out[0].startswith("no Dagster history under") and "no warehouse yet" in out[-1]
    assert not (apigen_home() / "dagster_home").exists()

