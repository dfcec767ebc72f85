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

