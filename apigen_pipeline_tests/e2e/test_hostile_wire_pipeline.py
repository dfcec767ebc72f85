"""The whole graph against a weak model: every hostile profile at once, through the real OpenAI SDK.

One OpenAI wire server answers every role like a competent model (the simulated backend without its own
faults), and about a third of its replies (drawn per body, plus the first reply each profile applies to) are
degraded by one of the profiles of `testing.hostile` that applies to the request (fenced or
prose-wrapped JSON, truncated JSON, empty actions, unknown tools, wrong argument types, a user who never
stops, an agent that only talks). The run must end, every failure must be classified, and every exported
row must pass an independent re-validation (`independent_export_check`: re-parsed files, calls replayed on
a fresh database). Then an identical re-run sends nothing, and `retry_failed` re-asks exactly the keys whose
answer failed validation. One server run covers all profiles; `testing/test_hostile.py` covers each
profile alone at the parsing layer.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.environments.registry import load_environment
from apigen_pipeline.paths import exports_dir, warehouse_path
from apigen_pipeline.simulated import FaultRates, Phase1SimulationRates, Phase2SimulationRates
from apigen_pipeline.testing.hostile import HOSTILE_PROFILES, hostile_responder
from apigen_pipeline.testing.simulated_wire import simulated_responder
from apigen_pipeline.testing.wire_servers import OpenAIWireServer, RecordedRequest
from apigen_pipeline.warehouse import Warehouse
from apigen_pipeline.warehouse.sql_files import as_temporary_view
from apigen_pipeline_tests.conftest import MOCK_DOMAIN
from apigen_pipeline_tests.e2e.independent_export_check import (
    export_problems,
    replay_problems,
    task_state_hashes,
)
from apigen_pipeline_tests.e2e.test_cli_llm_guarantees import first_user_text
from apigen_pipeline_tests.e2e.test_wire_pipeline import BATCH, RunRecord, run_graph

pytestmark = pytest.mark.slow

DOMAIN = MOCK_DOMAIN["name"]
PLANTED_KEY = "sk-test-PLANTED-SECRET-HOSTILE"
RETRY_FAILED = {"resources": {"llm": {"config": {"retry_failed": True}}}}
SHARE = 0.3  # of the replies a profile applies to; `cover_all` adds the first of each, so every profile fires


def hostile_config(base_url: str) -> PipelineConfig:
    return PipelineConfig.model_validate({
        "domains": [MOCK_DOMAIN],
        # Sized so rows survive whatever order the replies arrive in (`cover_all` degrades the first reply
        # each profile applies to, and that depends on order): a clean compound task already takes 5 user
        # turns (identity, confirmation, follow-up, stop), so 8 leave room for a user who was made to go on
        # or an agent that only talked; with 6 contexts and 5 turns some draws left no row at all, with 10
        # contexts and 8 turns seeds 0-3 each exported 3 to 6.
        "sampling": {"contexts_per_partition": 10},
        "phase1": {"max_feedback_rounds": {DOMAIN: 2}},
        "phase2": {"attempts_per_blueprint": 1, "best_of_n": 2, "max_user_turns": 8, "max_agent_steps": 12},
        "evaluation": {"enabled": False},
        # A weak model fails often: the early stop must not end the batch before the profiles are met.
        "llm": {"backend_override": "openai:gpt-4o-mini", "backend_base_url": base_url,
                "failure_rate_threshold": 1.0, "max_repair_turns": 1},
    })


@dataclass(frozen=True)
class HostileRun:
    home: Path
    environment: Environment
    first: RunRecord
    second: RunRecord
    retry: RunRecord
    fired: Counter[str]
    first_requests: list[RecordedRequest]
    second_request_count: int
    invalid_answers: list[dict[str, Any]]  # the answers that failed validation, after the first run
    retry_requests: list[RecordedRequest]
    export_after_first: tuple[int, list[str]]
    export_after_retry: tuple[int, list[str]]


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    home = tmp_path_factory.mktemp("hostile") / "apigen_home"
    environment = load_environment(MOCK_DOMAIN["plugin"])
    # A competent model: none of the simulated backend's own faults, so only the profiles degrade replies.
    plausible = simulated_responder("openai", faults=FaultRates.none(), environments={DOMAIN: environment},
                                    phase1_rates=Phase1SimulationRates.none(),
                                    phase2_rates=Phase2SimulationRates.none(), vary_repeats=False)
    responder = hostile_responder(plausible, "openai", HOSTILE_PROFILES, share=SHARE, cover_all=True)
    with pytest.MonkeyPatch.context() as env, OpenAIWireServer(responder, expected_api_key=PLANTED_KEY) as server:
        env.setenv("APIGEN_HOME", str(home))
        env.delenv("APIGEN_LLM", raising=False)
        env.setenv("OPENAI_API_KEY", PLANTED_KEY)
        config = hostile_config(server.base_url)
        first = run_graph(config)
        first_requests = server.requests
        export_after_first = export_problems(exports_dir(home), DOMAIN, BATCH, environment)
        server.clear_records()
        second = run_graph(config)
        second_request_count = server.request_count
        log = Warehouse(warehouse_path(home)).query("llm/all_requests", [])
        invalid = log[(log["status"] == "answered") & (log["validation"] == "invalid")].to_dict("records")
        retry = run_graph(config, RETRY_FAILED)
        retry_requests = server.requests
        export_after_retry = export_problems(exports_dir(home), DOMAIN, BATCH, environment)
    return HostileRun(home, environment, first, second, retry, Counter(responder.fired), first_requests,
                      second_request_count, invalid, retry_requests, export_after_first, export_after_retry)


def test_the_run_ends_and_meets_every_hostile_profile(hostile_run: HostileRun):
    assert hostile_run.first.success and hostile_run.second.success and hostile_run.retry.success
    assert set(hostile_run.fired) == set(HOSTILE_PROFILES), hostile_run.fired
    assert all(r.status == 200 and r.auth_matched for r in hostile_run.first_requests)


def test_no_exported_row_fails_an_independent_revalidation(hostile_run: HostileRun):
    for rows, problems in (hostile_run.export_after_first, hostile_run.export_after_retry):
        assert problems == []
        assert rows >= 1, "some rows must survive the weak model, or the check checks nothing"
    assert hostile_run.first.checks["kept_trajectories_replay"] is True
    # Every request went to a real SDK: the rows, and so the export, are labelled as not simulated.
    root = exports_dir(hostile_run.home)
    lineage = [json.loads(line) for line in (root / "lineage" / DOMAIN / f"{BATCH}.jsonl").read_text().splitlines()]
    assert {row["simulated"] for row in lineage} == {"false"}
    card = json.loads((root / "cards" / DOMAIN / f"{BATCH}.json").read_text())
    assert card["simulated"] == "false" and card["not_for_training"] is False


def test_every_failure_is_classified(hostile_run: HostileRun):
    store = Warehouse(warehouse_path(hostile_run.home))
    with store.connect(read_only=True) as con:
        con.execute(as_temporary_view("views/generation_failures"))
        failures = con.execute("SELECT item_kind, failure_stage, failure_reason FROM generation_failures").df()
    assert len(failures) > 0
    assert not (failures[["failure_stage", "failure_reason"]] == "unknown").any().any(), failures
    reasons = set(failures["failure_reason"])
    # The weak model's kinds of failure show up by name, not as one bucket.
    assert any(reason.startswith("format.") for reason in reasons), reasons
    assert len(reasons) >= 3, reasons
    log = store.query("llm/all_requests", [])
    answered = log[log["status"] == "answered"]
    assert set(answered["validation"]) == {"valid", "invalid"}
    assert log[log["status"] != "answered"]["error_kind"].notna().all()


def test_an_identical_rerun_sends_nothing(hostile_run: HostileRun):
    assert len(hostile_run.first_requests) > 0
    assert hostile_run.second_request_count == 0
    for asset in ("blueprints", "trajectories"):
        assert hostile_run.second.metadata[asset]["llm_requests_answered"] == 0


def test_retry_failed_sends_only_the_failed_keys(hostile_run: HostileRun):
    assert hostile_run.invalid_answers, "the weak model must leave some answers invalid"
    first_bodies = {r.body_hash for r in hostile_run.first_requests}
    assert {r.body_hash for r in hostile_run.retry_requests} <= first_bodies  # nothing new was asked
    # Each failed key is asked again with its repair turns (the weak model fails them the same way), and
    # no answer that had passed validation is paid for twice.
    assert len(hostile_run.retry_requests) == sum(int(row["attempts"]) for row in hostile_run.invalid_answers)
    failed = {first_user_text(json.loads(row["request_json"])["messages"]) for row in hostile_run.invalid_answers}
    assert {first_user_text(r.body["messages"]) for r in hostile_run.retry_requests} == failed
    log = Warehouse(warehouse_path(hostile_run.home)).query("llm/all_requests", [])
    reasked = log[log["supersedes"].notna()]
    assert len(reasked) == len(hostile_run.invalid_answers)
    assert set(pd.Series(reasked["supersedes"])) == {row["entry_id"] for row in hostile_run.invalid_answers}


def test_the_independent_check_catches_a_row_whose_calls_do_not_replay(hostile_run: HostileRun):
    root = exports_dir(hostile_run.home)
    row = json.loads((root / "openai" / DOMAIN / f"{BATCH}.jsonl").read_text().splitlines()[0])
    lineage = json.loads((root / "lineage" / DOMAIN / f"{BATCH}.jsonl").read_text().splitlines()[0])
    expected = task_state_hashes(root, DOMAIN, BATCH, hostile_run.environment)[lineage["blueprint_id"]]
    assert replay_problems(row, hostile_run.environment, expected) == []
    tool_message = next(m for m in row["messages"] if m["role"] == "tool")
    tool_message["content"] = "an observation the tools never gave"
    assert replay_problems(row, hostile_run.environment, expected) != []
    assert replay_problems(row, hostile_run.environment, "another state") != []
