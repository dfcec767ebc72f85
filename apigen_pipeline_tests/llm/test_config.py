from pathlib import Path

import pytest

from apigen_pipeline.llm.config import (
    SIMULATED,
    LLMSettings,
    ModelRef,
    RateLimit,
    SettingsError,
)


def test_model_ref_parses_provider_model_strings():
    ref = ModelRef.parse("anthropic:claude-3-5-sonnet-latest")
    assert (ref.provider, ref.model) == ("anthropic", "claude-3-5-sonnet-latest")
    assert ref.key_env == "ANTHROPIC_API_KEY"
    assert ModelRef.parse("simulated") == SIMULATED
    # Model names may themselves contain colons (e.g. Ollama tags): only the first one splits.
    assert ModelRef.parse("openai:qwen2.5-coder:7b").model == "qwen2.5-coder:7b"


@pytest.mark.parametrize("spec", ["gpt-4o", "openai:", "mistral:large"])
def test_model_ref_rejects_bad_specs(spec):
    with pytest.raises(ValueError):
        ModelRef.parse(spec)


def test_unknown_nested_field_is_named_in_the_error(tmp_path: Path):
    path = tmp_path / "llm.yaml"
    path.write_text("roles:\n  critic:\n    provider: openai\n    model: gpt-4o\n    temprature: 0.2\n")
    with pytest.raises(SettingsError) as caught:
        LLMSettings.from_sources(path, env={})
    assert "roles.critic.temprature" in str(caught.value)
    assert str(path) in str(caught.value)


def test_bad_value_is_named_in_the_error():
    with pytest.raises(SettingsError, match=r"retry\.max_attempts_transient"):
        LLMSettings.validated({"retry": {"max_attempts_transient": 0}})
    with pytest.raises(SettingsError, match=r"judges\.1\.provider"):
        LLMSettings.validated({"judges": ["openai:gpt-4o", {"provider": "cohere", "model": "x"}]})


def test_limit_keys_must_name_a_provider_and_model():
    with pytest.raises(SettingsError, match="limits"):
        LLMSettings.validated({"limits": {"gpt-4o": {"requests_per_min": 10}}})
    settings = LLMSettings.validated({"limits": {"openai:gpt-4o": {"requests_per_min": 10}}})
    assert settings.limit_for("openai", "gpt-4o") == RateLimit(requests_per_min=10)
    assert settings.limit_for("openai", "gpt-4o-mini") == RateLimit()


def test_default_judges_mix_providers():
    settings = LLMSettings()
    assert len(settings.judges) == 3
    assert {judge.provider for judge in settings.judges} == {"openai", "anthropic"}


def test_unset_backend_goes_simulated_and_projects_onto_configured_models():
    settings = LLMSettings.from_sources(None, env={})
    route = settings.route("judge", 1)
    assert route.target == SIMULATED
    assert route.projection == settings.judges[1]
    assert settings.route("agent").projection == settings.roles.agent


def test_apigen_llm_override_sends_every_role_and_judge_to_one_model():
    settings = LLMSettings.from_sources(None, env={"APIGEN_LLM": "openai:gpt-4o-mini"})
    targets = {settings.route(role).target.label
               for role in ("generator", "summarizer", "recombiner", "human", "critic", "agent")}
    targets |= {settings.route("judge", index).target.label for index in range(len(settings.judges))}
    assert targets == {"openai:gpt-4o-mini"}
    # Real spending is priced at the model that is actually called.
    assert settings.route("judge", 1).projection.label == "openai:gpt-4o-mini"


def test_configured_backend_uses_each_roles_own_model(tmp_path: Path):
    path = tmp_path / "llm.yaml"
    path.write_text("roles:\n  agent: anthropic:claude-3-5-haiku-latest\n")
    settings = LLMSettings.from_sources(path, env={"APIGEN_LLM": "configured"})
    assert settings.route("agent").target.label == "anthropic:claude-3-5-haiku-latest"
    assert settings.route("judge", 0).target == settings.judges[0]


def test_judge_routing_needs_a_valid_index():
    with pytest.raises(SettingsError, match="judge_index"):
        LLMSettings().route("judge", 7)


def test_yaml_prices_extend_the_defaults(tmp_path: Path):
    path = tmp_path / "llm.yaml"
    path.write_text("prices:\n  my-local-model: {input: 0.0, cached_input: 0.0, output: 0.0}\n"
                    "  gpt-4o: {input: 1.0, cached_input: 0.5, output: 4.0}\n")
    settings = LLMSettings.from_sources(path, env={})
    assert settings.prices["gpt-4o"].input == 1.0
    assert "my-local-model" in settings.prices
    assert "claude-3-5-haiku-latest" in settings.prices


def test_fingerprint_is_stable_and_tracks_every_setting():
    assert LLMSettings().fingerprint() == LLMSettings().fingerprint()
    assert LLMSettings(max_repair_turns=3).fingerprint() != LLMSettings().fingerprint()
    assert LLMSettings(backend_override="openai:gpt-4o").fingerprint() != LLMSettings().fingerprint()


def test_fingerprint_and_dump_never_hold_key_values(monkeypatch):
    secret = "sk-test-PLANTED-SECRET-123"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("MY_VLLM_KEY", secret)
    settings = LLMSettings.validated({"roles": {"agent": {"provider": "openai", "model": "qwen",
                                                          "api_key_env": "MY_VLLM_KEY"}}})
    assert secret not in settings.model_dump_json()
    assert settings.fingerprint() == LLMSettings.validated(
        {"roles": {"agent": {"provider": "openai", "model": "qwen", "api_key_env": "MY_VLLM_KEY"}}}).fingerprint()
    assert {"MY_VLLM_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"} <= settings.api_key_env_names()


def test_override_can_point_at_an_openai_compatible_server():
    env = {"APIGEN_LLM": "openai:qwen2.5-coder", "APIGEN_LLM_BASE_URL": "http://127.0.0.1:8080/v1"}
    route = LLMSettings.from_sources(None, env=env).route("agent")
    assert route.target.base_url == "http://127.0.0.1:8080/v1" and route.target.model == "qwen2.5-coder"


def test_override_takes_its_timeout_and_concurrency_from_the_environment():
    env = {"APIGEN_LLM": "openai:qwen2.5-0.5b", "APIGEN_LLM_BASE_URL": "http://127.0.0.1:8080/v1",
           "APIGEN_LLM_TIMEOUT": "900", "APIGEN_LLM_CONCURRENCY": "1"}
    settings = LLMSettings.from_sources(None, env=env)
    assert settings.max_concurrency == 1
    assert {settings.route(role).target.timeout_s for role in ("generator", "agent", "human")} == {900.0}
    assert settings.route("judge", 0).target.timeout_s == 900.0
    # Without the variables, the defaults.
    plain = LLMSettings.from_sources(None, env={"APIGEN_LLM": "openai:qwen2.5-0.5b"})
    assert plain.max_concurrency == 16 and plain.route("agent").target.timeout_s == 60.0


def test_pipeline_config_honours_the_timeout_and_concurrency_variables(monkeypatch):
    from apigen_pipeline.config import load_pipeline_config

    monkeypatch.setenv("APIGEN_LLM", "openai:qwen2.5-0.5b")
    monkeypatch.setenv("APIGEN_LLM_TIMEOUT", "600")
    monkeypatch.setenv("APIGEN_LLM_CONCURRENCY", "2")
    settings = load_pipeline_config(None).llm
    assert settings.max_concurrency == 2 and settings.route("generator").target.timeout_s == 600.0
