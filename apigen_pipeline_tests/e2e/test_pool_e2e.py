"""Pool `llm_api` at limit 1: two concurrent runs never have two of its steps in flight at once."""

import time
from itertools import combinations

import pytest

from apigen_pipeline.config import load_pipeline_config
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.shared.policies import LLM_API_POOL
from apigen_pipeline_tests.e2e.conftest import partition
from apigen_pipeline_tests.support.dagster_server import DagsterDevServer, StepEvent

pytestmark = pytest.mark.slow

BATCHES = ("2026-11-10", "2026-11-11")
START = "ExecutionStepStartEvent"
ENDS = {"ExecutionStepSuccessEvent", "ExecutionStepFailureEvent", "ExecutionStepUpForRetryEvent"}


def pool_step_keys(config_path) -> set[str]:
    """Steps of ops that declare the pool; whatever LLM stages the graph has today."""
    defs = build_definitions(config=load_pipeline_config(config_path), config_path=str(config_path))
    return {a.op.name for a in defs.assets if LLM_API_POOL in a.op.pools}


def intervals(events: list[StepEvent], steps: set[str]) -> list[tuple[float, float, str]]:
    """(start, end, run) of every execution of the given steps."""
    found = []
    started: dict[str, float] = {}
    for event in sorted(events, key=lambda e: e.timestamp_ms):
        if event.step_key not in steps:
            continue
        if event.kind == START:
            started[event.step_key] = event.timestamp_ms
        elif event.kind in ENDS and event.step_key in started:
            found.append((started.pop(event.step_key), event.timestamp_ms, event.run_id))
    return found


def slow_llm_run_config(config_path, fast_run_config: dict) -> dict:
    """The same pipeline config with 250 ms per simulated LLM call, passed as resource config: pool steps
    then last seconds, so two runs launched together really overlap (on a quiet machine the steps
    otherwise finish before the second run starts, and the test would prove nothing)."""
    assert load_pipeline_config(config_path).llm.simulated_latency_s < 0.25
    # One field of the typed settings: every other setting keeps the code location's value.
    return {**fast_run_config,
            "resources": {"pipeline_config": {"config": {"settings": {"llm": {"simulated_latency_s": 0.25}}}}}}


def test_pool_limit_one_keeps_pool_steps_of_concurrent_runs_apart(pipeline_server: DagsterDevServer,
                                                                   e2e_config_path, fast_run_config: dict):
    steps = pool_step_keys(e2e_config_path)
    assert steps, f"no asset of the graph is in pool {LLM_API_POOL}"
    run_config = slow_llm_run_config(e2e_config_path, fast_run_config)
    pipeline_server.set_pool_limit(LLM_API_POOL, 1)
    try:
        run_ids = [pipeline_server.launch_run(partition(batch), tags={"apigen/e2e": "pool"},
                                               run_config=run_config) for batch in BATCHES]
        both_launched_ms = time.time() * 1000
        runs = [pipeline_server.wait_for_run(run_id, timeout_s=300) for run_id in run_ids]
    finally:
        pipeline_server.set_pool_limit(LLM_API_POOL, 4)
    assert [r.status for r in runs] == ["SUCCESS", "SUCCESS"], pipeline_server.log_tail()

    events = {run_id: pipeline_server.step_events(run_id) for run_id in run_ids}
    spans = {run_id: (min(e.timestamp_ms for e in evs), max(e.timestamp_ms for e in evs))
             for run_id, evs in events.items()}
    # Both runs were in the system at once (the second launched before the first finished), so only the
    # pool can have kept their pool steps apart: the run queue may hold the second run while the pool is
    # full, or its pool steps may wait; either way no two pool steps may overlap.
    first_end = min(end for _, end in spans.values())
    assert both_launched_ms < first_end, "the first run finished before the second was launched"
    pool_spans = [span for run_id in run_ids for span in intervals(events[run_id], steps)]
    assert {run for _, _, run in pool_spans} == set(run_ids)
    for (start_a, end_a, run_a), (start_b, end_b, run_b) in combinations(pool_spans, 2):
        if run_a != run_b:
            assert end_a <= start_b or end_b <= start_a, f"pool steps overlapped: {pool_spans}"
