"""`apigen` end to end on the mock domain (2 contexts), as subprocesses: a run that succeeds, a run that
fails in a step (its summary shows only its own partition), a run killed with SIGKILL (status reports
it stuck), the operator commands on the warehouse and instance those runs left, and runs killed while
holding every `llm_api` slot: a run blocked behind them names them and stops cleanly on SIGTERM, the
next run reaps them and completes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from apigen_pipeline.cli import main
from apigen_pipeline.cli.reading import read_only_connection
from apigen_pipeline.defs.shared.policies import LLM_PROVIDER_TAG
from apigen_pipeline.processes import PID_TAG, observe
from apigen_pipeline_tests.cli.conftest import MOCK, apigen, clean_env, write_config
from apigen_pipeline_tests.support.processes import wait_until

BATCH = "2026-11-20"
BROKEN = {"name": "brokenshop", "plugin": "apigen_pipeline_tests.cli.plugins:failing_sampler_plugin"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli_e2e")
    config = write_config(folder / "pipeline.yaml", domains=[MOCK, BROKEN])
    return folder / "apigen_home", config


@pytest.fixture(scope="module")
def succeeded(project):
    home, config = project
    completed = apigen(home, "run", "--config", str(config), "--domain", "mockshop", "--batch", BATCH)
    assert completed.returncode == 0, completed.stderr
    return completed


@pytest.fixture(scope="module")
def failed(project, succeeded):
    home, config = project
    return apigen(home, "run", "--config", str(config), "--domain", "brokenshop", "--batch", BATCH)


@pytest.mark.slow
def test_a_successful_run_prints_its_funnel(project, succeeded):
    home, _ = project
    assert f"partition mockshop|{BATCH}: SUCCESS" in succeeded.stdout
    assert f"  mockshop|{BATCH}: 2 contexts -> " in succeeded.stdout
    with read_only_connection(home) as con:
        verified, projected = con.execute(
            "SELECT verified_trajectories, projected_cost_per_verified_trajectory FROM generation_report "
            "WHERE domain = 'mockshop' AND batch = ? LIMIT 1", [BATCH]).fetchone()
    # The figure per verified trajectory, or "-" when no trajectory was verified (nothing to divide by).
    figure = (f"per verified trajectory $0.0000 (projected ${projected:.4f})" if verified
              else "per verified trajectory - (projected -)")
    assert f"{verified} verified trajectories; cost $0.0000 (projected on the configured models: $" in succeeded.stdout
    assert figure in succeeded.stdout
    assert succeeded.stderr_lines == []


@pytest.mark.slow
def test_the_default_run_generates_without_evaluating_pass_k(project, succeeded):
    home, _ = project
    with read_only_connection(home) as con:
        requests_by_asset = dict(con.execute("SELECT asset, count(*) FROM llm_requests GROUP BY asset").fetchall())
    assert requests_by_asset.get("trajectories", 0) > 0
    assert "passk_evaluation" not in requests_by_asset


def test_a_cli_run_carries_the_tag_the_run_throttle_keys_on(project, succeeded):
    home, _ = project
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        [run] = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition/domain": "mockshop",
                                                                "dagster/partition/batch": BATCH}))
    assert run.tags[LLM_PROVIDER_TAG] == "simulated"


@pytest.mark.slow
def test_a_failed_run_shows_only_its_own_partition_and_no_traceback(failed):
    assert failed.returncode == 1
    assert f"partition brokenshop|{BATCH}: FAILURE" in failed.stdout
    assert f"brokenshop|{BATCH}: no funnel (the run stopped before generation_report)" in failed.stdout
    assert "mockshop|" not in failed.stdout  # the earlier run's funnel of another domain
    assert "Traceback" not in failed.stderr
    assert any("sampler of this test plugin always breaks" in line for line in failed.stderr_lines)
    assert len(failed.stderr_lines) <= 3


def in_process(capsys, monkeypatch, home: Path, *args: str) -> list[str]:
    """The operator commands in this process (they only read; no need to pay a subprocess start-up)."""
    monkeypatch.setenv("APIGEN_HOME", str(home))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(list(args)) == 0
    return capsys.readouterr().out.splitlines()


@pytest.mark.slow
def test_operator_commands_read_what_the_runs_left(project, failed, capsys, monkeypatch):
    home, _ = project
    report = in_process(capsys, monkeypatch, home, "report", "--batch", BATCH)
    assert report[0].startswith(f"mockshop|{BATCH}  (run ") and "brokenshop" not in "\n".join(report)
    assert any(line.split()[0] == "kept_trajectories" for line in report[2:])
    failures = in_process(capsys, monkeypatch, home, "failures", "--counts")
    assert failures[0].split() == ["domain", "batch", "kind", "stage", "reason", "failures"]
    status = in_process(capsys, monkeypatch, home, "status")
    latest = {line.split()[0]: line.split()[1] for line in status if "|" in line.split()[0]}
    assert latest == {f"brokenshop|{BATCH}": "FAILURE", f"mockshop|{BATCH}": "SUCCESS"}
    assert any(line.startswith("pool llm_api: 0/") for line in status)
    assert status[-1].startswith("spend today")


@pytest.mark.slow
def test_status_reports_a_killed_run_as_stuck(project, failed, capsys, monkeypatch):
    home, _ = project
    slow_config = write_config(home.parent / "slow.yaml", domains=[MOCK], llm={"simulated_latency_s": 0.5})
    process = subprocess.Popen([sys.executable, "-m", "apigen_pipeline.cli", "run", "--config", str(slow_config),
                                "--batch", "2026-11-21"], env=clean_env(home), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    started = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    try:
        with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
            deadline = time.monotonic() + 120
            while not instance.get_run_records(filters=started) and time.monotonic() < deadline:
                time.sleep(0.2)
            killed = [record.dagster_run.run_id for record in instance.get_run_records(filters=started)]
        assert len(killed) == 1
        time.sleep(1.0)  # inside a step, its LLM calls in flight
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    status = in_process(capsys, monkeypatch, home, "status")
    stuck = [line for line in status if line.strip().startswith(killed[0])]
    assert len(stuck) == 1 and f"its process {process.pid} on " in stuck[0] and "is gone" in stuck[0]


def start_run(home: Path, config: Path, batch: str, output: Path) -> subprocess.Popen:
    with output.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "apigen_pipeline.cli", "run", "--config", str(config),
                                 "--batch", batch], env=clean_env(home), stdout=out, stderr=subprocess.STDOUT,
                                cwd=home.parent)


def runs_of(instance: dg.DagsterInstance, process: subprocess.Popen) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(tags={PID_TAG: str(process.pid)})))


def worker_pids(instance: dg.DagsterInstance, run_id: str) -> set[int]:
    """The pids that executed a run's steps (the forked child of `apigen run`)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    pids = {getattr(record.event_log_entry.dagster_event.engine_event_data.metadata.get("pid"), "value", None)
            for record in records}
    return {int(pid) for pid in pids if isinstance(pid, str) and pid.isdigit()}


@pytest.mark.slow
def test_runs_killed_holding_every_slot_are_reaped_and_a_blocked_run_stops_on_sigterm(project, failed):
    home, _ = project
    folder = home.parent
    hanging = write_config(folder / "hanging.yaml", domains=[MOCK], llm={"simulated_latency_s": 3600})
    quick = write_config(folder / "quick.yaml", domains=[MOCK])
    # Four runs whose LLM step never ends, each in the pool (default limit 4): then all four are killed.
    killed = [start_run(home, hanging, f"2026-11-0{day}", folder / f"killed{day}.out") for day in range(1, 5)]
    blocked = None
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        try:
            pool = instance.event_log_storage
            wait_until(lambda: {run.run_id for process in killed for run in runs_of(instance, process)}
                       <= pool.get_concurrency_info("llm_api").active_run_ids
                       and all(runs_of(instance, process) for process in killed))
            killed_runs = [runs_of(instance, process)[0] for process in killed]
            # A fifth run waits for a slot: it names the four holders, then SIGTERM stops it.
            blocked = start_run(home, hanging, "2026-11-05", folder / "blocked.out")
            wait_until(lambda: "waits for a slot of pool llm_api" in (folder / "blocked.out").read_text())
            blocked_run = runs_of(instance, blocked)[0]
            blocked.send_signal(signal.SIGTERM)
            assert blocked.wait(timeout=120) == 128 + signal.SIGTERM
        finally:
            for process in [*killed, *([blocked] if blocked else [])]:
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                process.wait(timeout=60)
        workers = set().union(*(worker_pids(instance, run.run_id) for run in killed_runs))
        wait_until(lambda: not any(observe(pid).exists and not observe(pid).zombie for pid in workers), timeout_s=30)

        blocked_out = (folder / "blocked.out").read_text()
        wait_line = next(line for line in blocked_out.splitlines() if "waits for a slot" in line)
        assert wait_line.startswith("apigen: step phase1_blueprints waits for a slot of pool llm_api (4/4 held by: ")
        for run, process in zip(killed_runs, killed, strict=True):
            assert f"run {run.run_id} (STARTED, partition mockshop|{run.tags['dagster/partition/batch']}, step " \
                   f"phase1_blueprints, cli, pid {process.pid} on " in wait_line
        assert f"run {blocked_run.run_id}: CANCELED" in blocked_out or \
            f"run {blocked_run.run_id} partition mockshop|2026-11-05: CANCELED" in blocked_out
        assert instance.get_run_by_id(blocked_run.run_id).status == dg.DagsterRunStatus.CANCELED
        assert blocked_run.run_id not in pool.get_concurrency_info("llm_api").active_run_ids | \
            pool.get_concurrency_info("llm_api").pending_run_ids

        # The next run reaps the four dead holders by itself and completes.
        completed = apigen(home, "run", "--config", str(quick), "--batch", "2026-11-06")
        assert completed.returncode == 0, completed.stderr
        for run, process in zip(killed_runs, killed, strict=True):
            assert (f"apigen: run {run.run_id} was STARTED but its process {process.pid} on ") in completed.stdout
            assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert "partition mockshop|2026-11-06: SUCCESS" in completed.stdout
        assert not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        info = pool.get_concurrency_info("llm_api")
        assert info.claimed_slots == [] and info.pending_steps == []
