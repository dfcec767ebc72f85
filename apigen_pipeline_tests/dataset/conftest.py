from __future__ import annotations

import pytest

from apigen_pipeline.dataset.card import DatasetCardInfo
from apigen_pipeline.dataset.export import ExportSource
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.phase1.models import AcceptedBlueprint
from apigen_pipeline.phase2.agent import agent_system_text, agent_tools
from apigen_pipeline.phase2.models import Phase2Result, Phase2Settings
from apigen_pipeline.phase2.runner import run_phase2
from apigen_pipeline.simulated import FaultRates
from apigen_pipeline_tests.phase2.helpers import cancel_blueprint, mock_environment, simulated_client


@pytest.fixture(scope="session")
def environment() -> Environment:
    return mock_environment()


@pytest.fixture(scope="session")
def blueprints(environment: Environment) -> list[AcceptedBlueprint]:
    return [cancel_blueprint(environment, i, with_question=i % 2 == 0) for i in range(5)]


@pytest.fixture(scope="session")
def phase2_result(environment: Environment, blueprints: list[AcceptedBlueprint]) -> Phase2Result:
    faults = FaultRates.none().model_copy(update={"agent_wrong_tool": 0.3})
    return run_phase2(blueprints, environment, simulated_client(faults=faults), Phase2Settings(), "mockshop")


@pytest.fixture(scope="session")
def source(environment: Environment) -> ExportSource:
    return ExportSource(domain="mockshop", batch="2026-01-01", system_text=agent_system_text(environment, "mockshop", "v1"),
                        tools=agent_tools(environment), write_tools=environment.write_tools)


@pytest.fixture(scope="session")
def card_info() -> DatasetCardInfo:
    return DatasetCardInfo(models={"agent": "openai:gpt-4o", "human": "openai:gpt-4o-mini"},
                           prompt_versions={"agent": "v1", "human": "v1", "critic": "v1"}, config_hash="abc123",
                           projected_cost_usd=1.25, input_tokens=1000, output_tokens=200)
