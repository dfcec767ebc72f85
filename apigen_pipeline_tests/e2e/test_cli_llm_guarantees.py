"""`apigen run` against real OpenAI-compatible wire servers, as a user would run it: a dead endpoint fails
the run in one line with nothing downstream materialized; two runs of one partition at once send each
request once and write a single run's rows; `--retry-failed` re-asks only the answers that failed."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from apigen_pipeline.config import load_pipeline_config
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.testing.simulated_wire import simulated_responder
from apigen_pipeline.testing.wire_batches import mount_batches
from apigen_pipeline.testing.wire_servers import OpenAIWireServer, WireReply
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline_tests.conftest import MOCK_DOMAIN
from apigen_pipeline_tests.partition_content import PROVIDER_BILLING, partition_hashes, partitioned_tables

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

DOMAIN = MOCK_DOMAIN["name"]
BATCH = "2026-11-24"
PLANTED_KEY = "sk-test-PLANTED-SECRET-CLI"
CONFIG = {
    "domains": [MOCK_DOMAIN],
    "sampling": {"contexts_per_partition": 2},
    "phase1": {"max_feedback_rounds": {DOMAIN: 1}},
    "phase2": {"attempts_per_blueprint": 1, "best_of_n": 2},
    "evaluation": {"k": 1, "max_tasks": 1},
}
DOWNSTREAM = ("blueprints", "committee_votes", "trajectories", "passk_evaluation", "training_dataset",
              "generation_report")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def apigen_run(home: Path, config: Path, base_url: str, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APIGEN_", "DAGSTER_"))}
    env.update({"APIGEN_HOME": str(home), "APIGEN_LLM": "openai:gpt-4o-mini", "APIGEN_LLM_BASE_URL": base_url,
                "OPENAI_API_KEY": PLANTED_KEY})
    return subprocess.Popen([sys.executable, "-m", "apigen_pipeline.cli", "run", "--config", str(config),
                             "--domain", DOMAIN, "--batch", BATCH, *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = process.communicate(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, err


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli_config") / "pipeline.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def materialized(home: Path, asset: str) -> bool:
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        return instance.get_latest_materialization_event(dg.AssetKey(asset)) is not None


def step_windows(home: Path, step_key: str) -> list[tuple[float, float]]:
    """(start, end) of a step in each run of the home's Dagster instance."""
    windows = []
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        for run in instance.get_runs():
            times = {entry.dagster_event.event_type_value: entry.timestamp for entry in instance.all_logs(run.run_id)
                     if entry.step_key == step_key and entry.dagster_event is not None}
            windows.append((times["STEP_START"], times.get("STEP_SUCCESS", times.get("STEP_FAILURE", 0.0))))
    return windows


def test_a_dead_endpoint_fails_the_run_in_one_line_and_materializes_nothing_downstream(tmp_path, config_path):
    home = tmp_path / "home"
    base_url = f"http://127.0.0.1:{free_port()}/v1"
    code, out, err = finished(apigen_run(home, config_path, base_url))
    assert code == 1
    assert f"partition {DOMAIN}|{BATCH}: FAILURE" in out
    (failure,) = [line for line in err.splitlines() if line.startswith("  ")]  # one line per failed step
    assert failure.startswith("  phase1_blueprints: ")
    assert failure.endswith(f"LLM endpoint unreachable for openai:gpt-4o-mini (role generator) after 3 attempts: "
                            f"openai at {base_url}: connection refused (nothing listening?)")
    assert "Traceback" not in err and "Stack Trace" not in err
    assert PLANTED_KEY not in out + err
    # The timeout budget of a refused connection: 3 attempts, 0.5 s + 1 s of backoff; the step's own work
    # (reading contexts, loading the environment) comes on top.
    ((started, ended),) = step_windows(home, "phase1_blueprints")
    assert ended - started < 10
    assert materialized(home, "task_contexts")  # what needs no LLM ran ...
    assert not any(materialized(home, asset) for asset in DOWNSTREAM)  # ... nothing from an empty input did
    assert not any(path.is_file() for path in (home / "exports").rglob("*"))


# ---- two runs at once, and --retry-failed --------------------------------------------------------------------

class WeakModel:
    """Answers like the simulated backend, except that every structured request whose first user message
    falls in a fixed fifth of all prompts gets prose instead of JSON, repairs included: those keys end as
    answered-invalid, deterministically."""

    def __init__(self, environment: Environment):
        self.plausible = simulated_responder("openai", environments={DOMAIN: environment}, vary_repeats=False)

    def __call__(self, body: dict[str, Any], call_index: int) -> WireReply:
        first_user = next((m["content"] for m in body["messages"] if m["role"] == "user"), "") or ""
        if "response_format" in body and hashlib.sha256(str(first_user).encode()).digest()[0] % 5 == 0:
            return WireReply.of_text("Happy to help! Here is what I came up with, in my own words.")
        return self.plausible(body, call_index)


@dataclass(frozen=True)
class Runs:
    single: Path                              # the home of the run alone
    single_requests: Counter[str]             # what one run alone sent (body hash -> times)
    concurrent_requests: Counter[str]         # what two runs of the same partition at once sent
    concurrent_codes: list[int]
    concurrent_windows: list[tuple[float, float]]  # of each run's first LLM step
    single_rows: dict[str, tuple[int, str]]   # partition content per table (row count, hash)
    concurrent_rows: dict[str, tuple[int, str]]
    invalid_answers: list[dict[str, Any]]     # the answers that failed validation (concurrent runs' home)
    retry_bodies: list[dict[str, Any]]        # what `--retry-failed` then sent, in the concurrent runs' home
    retry_code: int


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, config_path: Path) -> Runs:
    root = tmp_path_factory.mktemp("cli_runs")
    single, concurrent = root / "single", root / "concurrent"
    domain = load_pipeline_config(config_path).domain(DOMAIN)
    environment = load_environment(domain.reference, domain.seed, domain.scale)  # what the answers come from
    with OpenAIWireServer(WeakModel(environment), expected_api_key=PLANTED_KEY) as server:
        code, _, err = finished(apigen_run(single, config_path, server.base_url))
        assert code == 0, err[-3000:]
        single_requests = Counter(server.count_by_body_hash())
        server.clear_records()

        prepare_dagster_home(concurrent)
        pair = [apigen_run(concurrent, config_path, server.base_url) for _ in range(2)]
        concurrent_codes = [finished(process)[0] for process in pair]
        windows = step_windows(concurrent, "phase1_blueprints")
        concurrent_requests = Counter(server.count_by_body_hash())
        server.clear_records()

        single_rows, concurrent_rows = partition_rows(single), partition_rows(concurrent)
        log = warehouse(concurrent).query("llm/all_requests", [])
        invalid = log[(log["status"] == "answered") & (log["validation"] == "invalid")].to_dict("records")
        retry_code, _, err = finished(apigen_run(concurrent, config_path, server.base_url, "--retry-failed"))
        retry_bodies = [record.body for record in server.requests]
    return Runs(single, single_requests, concurrent_requests, concurrent_codes, windows, single_rows,
                concurrent_rows, invalid, retry_bodies, retry_code)


def prepare_dagster_home(home: Path) -> None:
    """The Dagster instance created before two runs start on it: two processes creating one SQLite instance
    at the same moment can both stamp its schedule storage's schema version (alembic: "more than one head")."""
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    (dagster_home / "dagster.yaml").write_text((PROJECT_ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(dagster_home)):
        pass


def warehouse(home: Path) -> Warehouse:
    return Warehouse(home / "warehouse.duckdb")


def partition_rows(home: Path) -> dict[str, tuple[int, str]]:
    store = warehouse(home)
    # The runs share one wire server, whose prompt cache the first run warmed: billing differs, rows do not.
    return partition_hashes(store, DOMAIN, BATCH, partitioned_tables(store), ignoring=PROVIDER_BILLING)


def first_user_text(messages: list[dict[str, Any]]) -> str:
    return next(str(m["content"]) for m in messages if m["role"] == "user")


def test_two_runs_of_one_partition_at_once_send_each_request_once(runs: Runs):
    assert runs.concurrent_codes == [0, 0]
    (first_start, first_end), (second_start, second_end) = sorted(runs.concurrent_windows)
    assert second_start < first_end, "the runs' LLM steps must overlap (the second waits for the first's lease)"
    assert runs.single_requests.total() > 0
    # The same requests, each as often (judges of one model, best-of-N samples: identical bodies, several keys).
    assert runs.concurrent_requests == runs.single_requests


def test_two_runs_of_one_partition_at_once_write_a_single_runs_rows(runs: Runs):
    assert {"blueprints", "trajectories", "llm_requests"} <= set(runs.single_rows)
    assert runs.single_rows["blueprint_attempts"][0] > 0
    differing = sorted(table for table in runs.single_rows if runs.concurrent_rows.get(table) != runs.single_rows[table])
    assert differing == []


def test_retry_failed_reasks_only_the_answers_that_failed(runs: Runs):
    assert runs.retry_code == 0
    assert runs.invalid_answers, "the weak model must leave some answers invalid"
    failed = Counter(first_user_text(json.loads(row["request_json"])["messages"]) for row in runs.invalid_answers)
    resent = Counter(first_user_text(body["messages"]) for body in runs.retry_bodies)
    # Every failed key was asked again, with its repair turns (the weak model fails them again), and
    # nothing else: no answer that had passed validation was paid for twice.
    assert set(resent) == set(failed)
    assert len(runs.retry_bodies) == sum(int(row["attempts"]) for row in runs.invalid_answers)


# ---- provider batches: killed while waiting on a batch, then re-run ------------------------------------------

BATCHED = {"provider": "openai", "model": "gpt-4o", "batch": True}
BATCH_LLM = {"roles": {"generator": BATCHED, "summarizer": BATCHED, "recombiner": BATCHED},
             "judges": [BATCHED, {**BATCHED, "provider": "anthropic", "model": "claude-3-5-sonnet-latest"},
                        {**BATCHED, "model": "gpt-4o-mini"}],
             "batch_max_wait_s": 120, "batch_poll_interval_s": 0.2, "batch_retry_wait_s": 1}


@dataclass(frozen=True)
class BatchRuns:
    home: Path
    killed_batches: list[str]                 # the provider batches submitted before the kill
    batches: list[str]                        # every provider batch, both runs
    submitted: Counter[str]                   # custom id (request key) -> times submitted in a batch
    answers: Counter[str]                     # body hash -> times answered, live and in batches, both runs
    failed_items: int                         # batch items the server failed (sent live afterwards)
    code: int
    err: str


@pytest.fixture(scope="module")
def batch_runs(tmp_path_factory: pytest.TempPathFactory, config_path: Path) -> BatchRuns:
    """The runs' partition again, its non-interactive roles through OpenAI Batch: the first run is killed while
    it waits on a batch, the provider then finishes, and a second run completes the partition."""
    root = tmp_path_factory.mktemp("cli_batches")
    home, config = root / "home", root / "pipeline.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "llm": BATCH_LLM}))
    domain = load_pipeline_config(config_path).domain(DOMAIN)
    environment = load_environment(domain.reference, domain.seed, domain.scale)
    with OpenAIWireServer(WeakModel(environment), expected_api_key=PLANTED_KEY) as server:
        endpoints = mount_batches(server, completion_delay_s=600, failure_share=0.25)
        killed = apigen_run(home, config, server.base_url)
        deadline = time.monotonic() + 120
        while not endpoints.polls and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # polled: the batch ids are in the warehouse, the run is waiting
        assert endpoints.polls, killed.communicate()[1][-3000:] if killed.poll() is not None else "never polled"
        killed.kill()
        killed.communicate()
        killed_batches = endpoints.batch_ids
        endpoints.completion_delay_s = 0.0  # the provider finished while nothing waited
        code, _, err = finished(apigen_run(home, config, server.base_url))
        failed_items = sum(1 for r in server.requests if r.path.startswith("batch:") and not r.answered)
        return BatchRuns(home, killed_batches, endpoints.batch_ids, endpoints.submitted_custom_ids(),
                         Counter(server.answers_by_body_hash()), failed_items, code, err)


# Dollars: batch answers are priced with the batch discount, so the batch run's report costs less (asserted).
COSTS = ("cost_usd", "projected_cost_usd", "cost_per_verified_trajectory", "projected_cost_per_verified_trajectory")


def content_apart_from_config(home: Path) -> dict[str, tuple[int, str]]:
    """Each pipeline table's partition content without `config_hash` (batch: true is a config change) and dollars."""
    store = warehouse(home)
    tables = [t for t in partitioned_tables(store) if t not in ("llm_requests", "llm_batch_items", "llm_batch_submissions")]
    return partition_hashes(store, DOMAIN, BATCH, tables, ignoring=("config_hash", *COSTS))


def report_cost(home: Path) -> float:
    return float(warehouse(home).read_partition("generation_report", DOMAIN, BATCH)["cost_usd"].max())


def answered_keys(home: Path) -> set[tuple[str, str]]:
    log = warehouse(home).query("llm/all_requests", [])
    answered = log[log["status"] == "answered"]
    return set(zip(answered["request_key"], answered["validation"], strict=True))


def test_a_batch_run_killed_mid_wait_and_rerun_resubmits_nothing_and_ends_with_the_live_runs_rows(
        runs: Runs, batch_runs: BatchRuns):
    assert batch_runs.code == 0, batch_runs.err[-3000:]
    assert len(batch_runs.killed_batches) == 1 and batch_runs.killed_batches[0] in batch_runs.batches
    assert len(batch_runs.batches) > 1  # the re-run polled the first batch and went on with new ones
    assert set(batch_runs.submitted.values()) == {1}  # no request was ever submitted twice
    assert batch_runs.failed_items > 0  # partial failures happened, and were answered live instead
    # Every body answered exactly as often as by the live run alone (identical bodies of several keys
    # included): nothing answered was paid for twice, across the kill.
    assert batch_runs.answers == runs.single_requests
    assert content_apart_from_config(batch_runs.home) == content_apart_from_config(runs.single)
    assert 0 < report_cost(batch_runs.home) < report_cost(runs.single)  # the batch discount
    assert answered_keys(batch_runs.home) == answered_keys(runs.single)
    log = warehouse(batch_runs.home).query("llm/all_requests", [])
    assert log[log["status"] == "answered"]["via_batch"].fillna(False).sum() > 0
