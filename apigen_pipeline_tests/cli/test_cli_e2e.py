"""`apigen` end to end on the mock domain (2 contexts), as subprocesses: a run that succeeds, a run that
fails in a step (its summary shows only its own partition), a run killed with SIGKILL (status reports
it stuck), and the operator commands on the warehouse and instance those runs left."""

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
from apigen_pipeline_tests.cli.conftest import MOCK, apigen, clean_env, write_config

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
def test_a_successful_run_prints_its_funnel(succeeded):
    assert f"partition mockshop|{BATCH}: SUCCESS" in succeeded.stdout
    assert f"  mockshop|{BATCH}: 2 contexts -> " in succeeded.stdout
    assert "; per verified trajectory $0.0000 (projected $" in succeeded.stdout
    assert succeeded.stderr_lines == []


@pytest.mark.slow
def test_the_default_run_generates_without_evaluating_pass_k(project, succeeded):
    home, _ = project
    with read_only_connection(home) as con:
        requests_by_asset = dict(con.execute("SELECT asset, count(*) FROM llm_requests GROUP BY asset").fetchall())
    assert requests_by_asset.get("trajectories", 0) > 0
    assert "passk_evaluation" not in requests_by_asset


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
