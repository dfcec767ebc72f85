"""Several machines, proven on one: PostgreSQL (Dagster run storage + DuckLake catalog), Redis (Celery),
moto (S3: lake data, exports, compute logs), two Celery workers and a launcher, each with its own
HOME, DAGSTER_HOME and APIGEN_HOME. Nothing in the code differs from a laptop run but environment
variables and deploy/celery/*.yaml.

Set APIGEN_SCALEOUT_CONTEXTS (default 4) for the per-partition context count; timings go to stdout
(`pytest -s`) and, when APIGEN_SCALEOUT_REPORT names a file, to that JSON file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from apigen_pipeline.simulated.rates import Phase1SimulationRates, Phase2SimulationRates
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline.warehouse.storage import StorageSettings, close_shared_lakes
from apigen_pipeline_tests.partition_content import partition_hashes
from apigen_pipeline_tests.partition_content import partitioned_tables as all_partitioned_tables
from apigen_pipeline_tests.scaleout.cluster import BUCKET, Cluster, free_port, port_open, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
pytest.importorskip("dagster_celery", reason="needs the scaleout extra")

DOMAINS = ("airline", "retail")
BATCH = "2026-11-01"  # inside the partitions window (batch_start_date)
KILL_BATCH = "2026-11-02"
CONTEXTS = int(os.environ.get("APIGEN_SCALEOUT_CONTEXTS", "4"))
KILL_CONTEXTS = 24  # a Phase-1 step long enough (seconds) to be caught mid-flight
KILL_STEP = "phase1_blueprints"
REPORT: dict[str, object] = {}


def partition_key(domain: str, batch: str) -> str:
    return f"{batch}|{domain}"


def launcher_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "apigen_pipeline_tests.scaleout.launcher", *args]


def parse_result(completed: subprocess.CompletedProcess) -> dict:
    for line in completed.stdout.splitlines():
        if line.startswith("SCALEOUT_RESULT "):
            return json.loads(line.removeprefix("SCALEOUT_RESULT "))
    raise AssertionError(f"launcher printed no result (exit {completed.returncode}):\n"
                         f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("scaleout"))
    saved_keys = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    try:
        started = time.perf_counter()
        cluster.start_services()
        cluster.pipeline_config = cluster.root / "pipeline.yaml"
        cluster.pipeline_config.write_text(yaml.safe_dump({
            "sampling": {"contexts_per_partition": CONTEXTS},
            "export": {"target": f"s3://{BUCKET}/exports"},
            # pass^k in `apigen run` too: the launcher materializes the whole graph, evaluation included.
            "evaluation": {"enabled": True},
            # Every domain must end with trajectories to compare, for any prompt text (the simulator's
            # draws are seeded by it): the simulated roles make none of their scripted mistakes here.
            "simulated_phase1": Phase1SimulationRates.none().model_dump(mode="json"),
            "simulated_phase2": Phase2SimulationRates.none().model_dump(mode="json"),
        }))
        setup = cluster.machine("setup")
        init = cluster.run(setup, [sys.executable, "-m", "apigen_pipeline.warehouse.lake_setup", "init"])
        assert init.returncode == 0, init.stderr
        shared_spool = cluster.root / "shared_volume" / "request_spool"
        for name in ("w1", "w2"):
            cluster.start_worker(cluster.machine(name, shared_spool=shared_spool))
        cluster.wait_workers_ready(["w1", "w2"])
        REPORT["services_and_workers_ready_s"] = round(time.perf_counter() - started, 1)
        REPORT["lake_setup_init"] = init.stdout.strip().splitlines()[-1]
        yield cluster
    finally:
        close_shared_lakes()
        cluster.close()
        for name, value in saved_keys.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if os.environ.get("APIGEN_SCALEOUT_REPORT"):
            Path(os.environ["APIGEN_SCALEOUT_REPORT"]).write_text(json.dumps(REPORT, indent=2))
        print("\nscale-out report:", json.dumps(REPORT, indent=2))


def lake_warehouse(cluster: Cluster) -> Warehouse:
    env = cluster.env(cluster.machine("checker"))
    keep = ("APIGEN_", "AWS_")
    settings = StorageSettings.from_env({k: v for k, v in env.items() if k.startswith(keep)})
    # The checker reads the lake from this process; S3 keys for DuckDB come from its environment.
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    settings = settings.model_copy(update={"extension_directory": str(cluster.root / "checker" / "extensions")})
    warehouse = Warehouse(cluster.root / "checker" / "w.duckdb", storage=settings)
    warehouse.migrate()
    return warehouse


def local_reference(cluster: Cluster, batch: str, domains: tuple[str, ...],
                    contexts: int | None = None) -> tuple[Warehouse, float]:
    """The same partitions on one machine: local DuckDB file, in-process, SQLite run history."""
    machine = cluster.machine(f"local_{batch}")
    (machine.dagster_home / "dagster.yaml").write_text((Path(__file__).resolve().parents[2] / "deploy" / "local" /
                                                        "dagster.yaml").read_text())
    env = {k: "" for k in ("APIGEN_STORAGE", "APIGEN_EXECUTOR")}
    args = [str(Path(sys.executable).parent / "apigen"), "run", "--batch", batch]
    for domain in domains:
        args += ["--domain", domain]
    if contexts is not None:
        args += ["--contexts", str(contexts)]
    started = time.perf_counter()
    completed = cluster.run(machine, args, **env)
    elapsed = time.perf_counter() - started
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return Warehouse(machine.apigen_home / "warehouse.duckdb"), elapsed


# generation_report sums the partition's LLM usage, including passk_evaluation's requests, but does
# not depend on passk_evaluation: with parallel steps it can run first and count fewer tokens. A
# graph issue (handed to the lead), not a storage one; compared once the dependency exists.
ORDER_DEPENDENT_TABLES: set[str] = set()  # generation_report now waits for every LLM stage


def partitioned_tables(warehouse: Warehouse) -> list[str]:
    return [table for table in all_partitioned_tables(warehouse) if table not in ORDER_DEPENDENT_TABLES]


def column_differences(left: Warehouse, right: Warehouse, table: str, domain: str, batch: str) -> dict:
    """For a failure message: which columns of a partition differ, and how."""
    frames = [w.read_partition(table, domain, batch).drop(columns=["run_id", "materialized_at"], errors="ignore")
              for w in (left, right)]
    frames = [f.sort_values(list(f.columns)[:4], kind="mergesort").reset_index(drop=True).astype(str) for f in frames]
    if len(frames[0]) != len(frames[1]):
        return {"rows": (len(frames[0]), len(frames[1]))}
    return {c: (frames[0][c].tolist()[:3], frames[1][c].tolist()[:3]) for c in frames[0].columns
            if not frames[0][c].equals(frames[1][c])}


def worker_step_counts(cluster: Cluster) -> dict[str, int]:
    return {name: cluster.log(name).count("succeeded in") for name in ("w1", "w2")}


def conflict_retries(cluster: Cluster) -> int:
    return sum(cluster.log(name).count("DuckLake write conflict, retry") for name in ("w1", "w2"))


def test_killing_a_worker_mid_run_and_reexecuting_from_failure(cluster):
    launcher = cluster.machine("launcher")
    domain = "retail"
    spool = cluster.root / "shared_volume" / "request_spool"
    run = subprocess.Popen(launcher_cmd("materialize", partition_key(domain, KILL_BATCH), str(KILL_CONTEXTS)),
                           env=cluster.env(launcher),
                           cwd=launcher.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    workers = {pid: name for name in ("w1", "w2") for pid in cluster.pool_children(name)}
    victim: list[int] = []
    lake = lake_warehouse(cluster)

    def in_blueprints_step(name: str) -> bool:
        log = cluster.log(name)
        started = log.count(f"- {KILL_STEP} - STEP_START")
        return started > log.count(f"- {KILL_STEP} - STEP_SUCCESS") + log.count(f"- {KILL_STEP} - STEP_FAILURE")

    def a_worker_has_answered_requests() -> bool:
        # In the run's first LLM step (the only step in flight then: dagster-celery stops
        # submitting after a step error, so a kill while a sibling branch runs leaves the run waiting
        # for steps it will never submit), once its process has answers that only its spool
        # (spool-<pid>-*.jsonl) holds: kill that process.
        if run.poll() is not None:
            # Runs first in this module: answers cached by an earlier run of the same contexts would
            # leave nothing to send, and so nothing to interrupt.
            raise AssertionError("the run finished before its LLM step could be interrupted:\n"
                                 + run.stdout.read()[-2000:] + run.stderr.read()[-3000:])
        for path in spool.glob("spool-*.jsonl"):
            pid = int(path.name.split("-")[1])
            if pid in workers and in_blueprints_step(workers[pid]) and path.stat().st_size > 0:
                victim.append(pid)
                return True
        return False

    try:
        wait_for(a_worker_has_answered_requests, 300, "an LLM step with answered requests", interval_s=0.1)
        os.kill(victim[0], signal.SIGKILL)
        REPORT["killed"] = f"{workers[victim[0]]} pool process {victim[0]} in {KILL_STEP} (SIGKILL)"
        stdout, stderr = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    failed = parse_result(subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr))
    assert not failed["success"], "the run must fail when a worker dies under it"

    completed = cluster.run(launcher, launcher_cmd("reexecute", failed["run_id"]), timeout_s=600)
    retried = parse_result(completed)
    assert retried["success"], completed.stderr[-4000:]

    local, _ = local_reference(cluster, KILL_BATCH, (domain,), KILL_CONTEXTS)
    tables = partitioned_tables(local)
    distributed, reference = (partition_hashes(w, domain, KILL_BATCH, tables) for w in (lake, local))
    assert distributed == reference, ("no duplicate or missing rows after the crash and the re-execution",
                                      {t: column_differences(lake, local, t, domain, KILL_BATCH) for t in tables
                                       if distributed[t] != reference[t]})

    # Every request answered before the kill (stored under the failed run's id, including answers
    # recovered from the dead process's spool) was a cache hit afterwards, never sent again:
    # answered before + sent after == what one clean run sends.
    with lake.connect() as con:
        before = con.execute("SELECT count(*) FROM llm_requests WHERE run_id = ? AND status = 'answered'",
                             [failed["run_id"]]).fetchone()[0]
    with local.connect() as con:
        clean = con.execute("SELECT count(*) FROM llm_requests WHERE domain = ? AND batch = ? AND status = 'answered'",
                            [domain, KILL_BATCH]).fetchone()[0]
    after = parse_result(cluster.run(launcher, launcher_cmd("llm-stats", retried["run_id"])))
    sent_after = sum(step["llm_requests_answered"] for step in after["steps"].values())
    REPORT["kill"] = {"answered_before_kill": before, "sent_after_reexecution": sent_after, "clean_run_sends": clean}
    assert before > 0
    assert before + sent_after == clean


def test_two_domains_in_parallel_on_two_workers_match_a_local_run(cluster):
    launcher = cluster.machine("launcher")
    started = time.perf_counter()
    runs = {domain: subprocess.Popen(launcher_cmd("materialize", partition_key(domain, BATCH)),
                                     env=cluster.env(launcher), cwd=launcher.root, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for domain in DOMAINS}
    results = {}
    for domain, process in runs.items():
        try:
            stdout, stderr = process.communicate(timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        (cluster.root / f"launcher_{domain}.log").write_text(stdout + stderr)
        results[domain] = parse_result(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    REPORT["celery_wall_s"] = round(time.perf_counter() - started, 1)
    assert all(r["success"] for r in results.values()), results
    assert {r["executor"] for r in results.values()} == {"celery"}

    steps = worker_step_counts(cluster)
    REPORT["steps_per_worker"] = steps
    assert steps["w1"] >= 1 and steps["w2"] >= 1, "both machines ran steps"
    REPORT["conflict_retries"] = conflict_retries(cluster)

    lake = lake_warehouse(cluster)
    local, local_wall = local_reference(cluster, BATCH, DOMAINS)
    REPORT["local_wall_s"] = round(local_wall, 1)
    tables = partitioned_tables(local)
    assert {"task_contexts", "blueprints", "trajectories", "llm_requests"} <= set(tables)
    for domain in DOMAINS:
        distributed, reference = (partition_hashes(w, domain, BATCH, tables) for w in (lake, local))
        assert distributed == reference, {t: column_differences(lake, local, t, domain, BATCH) for t in tables
                                          if distributed[t] != reference[t]}
        assert reference["trajectories"][0] > 0

    exported = cluster.s3_keys("exports/")
    for domain in DOMAINS:
        assert any(f"/{domain}/{BATCH}" in key for key in exported), exported
    compact = cluster.run(launcher, [sys.executable, "-m", "apigen_pipeline.warehouse.lake_setup", "compact"])
    assert compact.returncode == 0, compact.stderr
    lake_files = cluster.s3_keys("lake/")
    assert any(key.endswith(".parquet") for key in lake_files), "DuckLake data lives on S3"
    compute_logs = cluster.s3_keys("compute-logs/")
    assert len(compute_logs) >= 2, compute_logs
    REPORT["s3_objects"] = {"exports": len(exported), "lake": len(lake_files), "compute_logs": len(compute_logs)}


def test_broken_storage_fails_at_start_up_before_any_llm_request(cluster):
    launcher = cluster.machine("launcher")
    closed_port = free_port()
    unreachable = cluster.run(launcher, [sys.executable, "-m", "apigen_pipeline.warehouse.lake_setup", "check"],
                              APIGEN_LAKE_CATALOG=f"postgres:dbname={cluster.lake_db} host=127.0.0.1 "
                                                  f"port={closed_port} user=postgres password=hunter2")
    assert unreachable.returncode == 2
    assert "cannot attach the DuckLake catalog" in unreachable.stderr and "hunter2" not in unreachable.stderr

    missing_wheel = cluster.run(launcher, [sys.executable, "-c",
                                           "import sys; sys.modules['duckdb_extension_postgres'] = None; "
                                           "from apigen_pipeline.warehouse.lake_setup import main; "
                                           "raise SystemExit(main(['check']))"],
                                APIGEN_DUCKDB_EXTENSION_DIR=str(launcher.root / "empty_extensions"))
    assert missing_wheel.returncode == 2 and "duckdb-extension-postgres==1.5.5" in missing_wheel.stderr

    # Bad S3 credentials against an S3 server that checks them: the whole graph is launched and the
    # first step stops on the storage check, so no LLM step ever starts.
    auth_port = free_port()
    cluster.spawn("moto_auth", [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p",
                                str(auth_port)], env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
                  cwd=cluster.root)
    wait_for(lambda: port_open("127.0.0.1", auth_port), 30, "moto with authentication")
    bad = cluster.run(launcher, launcher_cmd("materialize", partition_key("airline", "2026-11-03")),
                      APIGEN_S3_ENDPOINT_URL=f"http://127.0.0.1:{auth_port}", AWS_SECRET_ACCESS_KEY="wrong",
                      APIGEN_EXECUTOR="in_process", APIGEN_CONFIG=str(cluster.pipeline_config))
    cluster.stop("moto_auth", grace_s=5)
    result = parse_result(bad)
    assert not result["success"]
    assert "S3 data path" in bad.stdout + bad.stderr
    stats = parse_result(cluster.run(launcher, launcher_cmd("llm-stats", result["run_id"])))
    assert stats["steps"] == {}, "no LLM step ran"



