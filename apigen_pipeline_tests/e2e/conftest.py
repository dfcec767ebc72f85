"""One `dagster dev` for the whole end-to-end suite (starting one costs 20-60 s): the repo's
workspace.yaml, a mock-domain config, its own DAGSTER_HOME and APIGEN_HOME."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from apigen_pipeline.config import load_pipeline_config
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.simulated.rates import Phase1SimulationRates
from apigen_pipeline_tests.support.dagster_server import (
    IN_PROCESS_RUN_CONFIG,
    PROJECT_ROOT,
    DagsterDevServer,
    multi_partition_key,
)

DOMAIN = "mockshop"
CONTEXTS_PER_PARTITION = 2
BATCH_START_DATE = "2026-10-01"  # before the default: the backfill test sweeps early October
# Runs tagged with it execute one at a time: how the backfill test interrupts a backfill halfway.
THROTTLE_TAG = "apigen/e2e_throttle"

SIMULATED_GENERATOR_WITHOUT_MISTAKES = Phase1SimulationRates.none().model_dump(mode="json")

# Small on purpose: these tests prove orchestration through the UI and GraphQL (runs, backfills, pools,
# metadata), not yields; the stages' behaviour is covered by the in-process tests.
E2E_CONFIG = {
    "domains": [{"name": DOMAIN, "plugin": "apigen_pipeline_tests.mock_domain:plugin"}],
    "batch_start_date": BATCH_START_DATE,
    "sampling": {"contexts_per_partition": CONTEXTS_PER_PARTITION},
    "phase1": {"max_feedback_rounds": {DOMAIN: 1}},
    "phase2": {"attempts_per_blueprint": 1, "best_of_n": 2},
    "evaluation": {"k": 1, "max_tasks": 1},
    # The simulated generator without its blueprint mistakes (transport and format faults stay): two contexts
    # must give accepted blueprints for any prompt text, since the simulator's draws are seeded by the text.
    "simulated_phase1": SIMULATED_GENERATOR_WITHOUT_MISTAKES,
}


def partition(batch: str) -> str:
    return multi_partition_key({"domain": DOMAIN, "batch": batch})


def instance_overrides() -> dict:
    repo_config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    limits = list(repo_config.get("concurrency", {}).get("runs", {}).get("tag_concurrency_limits", []))
    limits.append({"key": THROTTLE_TAG, "limit": 1})
    return {"concurrency": {"runs": {"tag_concurrency_limits": limits}}}


@pytest.fixture(scope="session")
def e2e_config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("e2e_config") / "pipeline.yaml"
    path.write_text(yaml.safe_dump(E2E_CONFIG))
    return path


@pytest.fixture(scope="session")
def pipeline_server(e2e_config_path: Path) -> Iterator[DagsterDevServer]:
    server = DagsterDevServer(pipeline_config=e2e_config_path, instance_overrides=instance_overrides())
    with server:
        yield server
    # `stop` raised if any process of the server outlived it; say so explicitly as well.
    assert server.process is None
    assert server.leftover_processes() == set()


@pytest.fixture(scope="session")
def fast_run_config(e2e_config_path: Path) -> dict:
    """Run config that executes a run's steps in its worker when the graph's executor lets a run choose
    (one process per run, not per step); nothing when the graph already runs in process."""
    defs = build_definitions(config=load_pipeline_config(e2e_config_path), config_path=str(e2e_config_path))
    executor = defs.resolve_implicit_global_asset_job_def().executor_def
    return dict(IN_PROCESS_RUN_CONFIG) if executor is dg.multi_or_in_process_executor else {}
