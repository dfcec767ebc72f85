import pytest

from apigen_pipeline.config import PipelineConfig

MOCK_DOMAIN = {"name": "mockshop", "plugin": "apigen_pipeline_tests.mock_domain:plugin"}


@pytest.fixture()
def mock_config() -> PipelineConfig:
    return PipelineConfig.model_validate({"domains": [MOCK_DOMAIN], "sampling": {"contexts_per_partition": 6}})


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """No test writes into the developer's project home or Dagster instance."""
    monkeypatch.setenv("APIGEN_HOME", str(tmp_path / "apigen_home"))
    monkeypatch.delenv("APIGEN_CONFIG", raising=False)
    monkeypatch.delenv("APIGEN_LLM", raising=False)


@pytest.fixture(autouse=True)
def _restore_simulated_role_handlers():
    """Assets register the simulated Phase-1/2 roles in the process-wide registry; each test starts
    from the registry as it was, so test order never matters."""
    from apigen_pipeline.llm.simulated.roles import DEFAULT_REGISTRY

    saved = dict(DEFAULT_REGISTRY._handlers)
    yield
    DEFAULT_REGISTRY._handlers.clear()
    DEFAULT_REGISTRY._handlers.update(saved)
