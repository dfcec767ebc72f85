"""The warehouse resource fails a step on a damaged warehouse without retries: no retry mends a file."""

import os

import dagster as dg
import pytest

from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.shared.resources import (
    PipelineConfigResource,
    WarehouseResource,
    pipeline_config_resource,
)
from apigen_pipeline.paths import warehouse_path
from apigen_pipeline_tests.warehouse.built_warehouse import build_warehouse


def test_a_damaged_warehouse_fails_the_step_for_good(tmp_path):
    path = warehouse_path(tmp_path)
    build_warehouse(path, partitions=(("retail", "2026-11-20"),), payload_chars=60_000)
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(dg.Failure) as caught:
        WarehouseResource(home=str(tmp_path)).get()
    assert caught.value.allow_retries is False
    assert f"warehouse {path} is damaged" in caught.value.description and "\n" not in caught.value.description


def launchpad_fields(defs: dg.Definitions) -> dict:
    """The launchpad's schema of the pipeline_config resource: config type per field, recursively."""
    job = defs.resolve_implicit_global_asset_job_def()
    resources = job.run_config_schema.config_type.fields["resources"].config_type
    return resources.fields["pipeline_config"].config_type.fields["config"].config_type.fields


def type_name(field: dg.Field) -> str:
    config_type = field.config_type
    return (config_type.inner_type if config_type.kind.name == "NONEABLE" else config_type).key


def test_the_launchpad_shows_the_pipeline_config_as_typed_fields_not_a_json_string(mock_config):
    fields = launchpad_fields(build_definitions(config=mock_config))
    assert "config_json" not in fields
    settings = fields["settings"].config_type.fields
    sampling = settings["sampling"].config_type.fields
    assert type_name(sampling["contexts_per_partition"]) == "IntSourceType"  # an int, or {env: VAR}
    assert sampling["contexts_per_partition"].default_value == 6  # the code location's config
    assert type_name(settings["phase2"].config_type.fields["keep_policy_violations"]) == "BoolSourceType"
    assert type_name(settings["llm"].config_type.fields["http_transport"]) == "StringSourceType"  # a Literal
    assert settings["quality"].config_type.fields["min_blueprint_yield"].description.startswith("Accepted")


def test_a_run_config_setting_one_field_keeps_every_other_setting(mock_config):
    resource = pipeline_config_resource(mock_config)
    assert resource.load().fingerprint() == mock_config.fingerprint()  # the settings round-trip exactly

    @dg.asset
    def loaded(pipeline_config: PipelineConfigResource) -> dict:
        config = pipeline_config.load()
        return {"latency": config.llm.simulated_latency_s, "domains": config.domain_names,
                "contexts": config.sampling.contexts_per_partition}

    result = dg.materialize([loaded], resources={"pipeline_config": resource}, run_config={
        "resources": {"pipeline_config": {"config": {"settings": {"llm": {"simulated_latency_s": 0.25}}}}}})
    assert result.output_for_node("loaded") == {"latency": 0.25, "domains": ["mockshop"], "contexts": 6}


def test_environment_driven_settings_stay_environment_variables(mock_config, monkeypatch):
    monkeypatch.setenv("APIGEN_LLM", "openai:gpt-4o-mini")
    monkeypatch.setenv("APIGEN_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    defs = build_definitions(config=mock_config)
    llm = launchpad_fields(defs)["settings"].config_type.fields["llm"].config_type.fields
    assert llm["backend_override"].default_value == {"env": "APIGEN_LLM"}
    s3 = defs.resources["s3"]
    assert isinstance(s3.endpoint_url, dg.EnvVar) and s3.endpoint_url.env_var_name == "APIGEN_S3_ENDPOINT_URL"
    monkeypatch.setenv("APIGEN_LLM", "anthropic:claude-3-5-haiku-latest")  # read when the run loads it
    assert defs.resources["pipeline_config"].load().llm.backend_override == "anthropic:claude-3-5-haiku-latest"
