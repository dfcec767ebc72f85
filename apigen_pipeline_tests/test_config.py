import pytest

from apigen_pipeline.config import ConfigError, PipelineConfig, load_pipeline_config


def test_defaults_enable_both_built_in_domains():
    config = load_pipeline_config()
    assert config.domain_names == ["airline", "retail"]
    assert config.sampling.contexts_per_partition == 20


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("domains:\n  - name: retail\n    scale: 0.5\nsampling:\n  contexts_per_partition: 7\n")
    config = load_pipeline_config(path, overrides={"sampling": {"base_seed": 3}})
    assert config.domain_names == ["retail"]
    assert config.domain("retail").scale == 0.5
    assert (config.sampling.contexts_per_partition, config.sampling.base_seed) == (7, 3)


@pytest.mark.parametrize(("text", "fragment"), [
    ("sampling:\n  contexts_per_partiton: 3\n", "sampling.contexts_per_partiton: Extra inputs are not permitted"),
    ("sampling:\n  contexts_per_partition: 0\n", "sampling.contexts_per_partition"),
    ("domains:\n  - name: Retail\n", "domains.0.name"),
    ("domains:\n  - name: retail\n  - name: retail\n", "domain names must be unique"),
    ("domains: []\n", "at least one domain"),
    ("sampling:\n  min_write_tools: 3\n  max_write_tools: 1\n", "min_write_tools must not exceed"),
    ("- just\n- a list\n", "must hold a mapping"),
    ("domains: [\n", "is not valid YAML"),
])
def test_bad_config_names_the_problem(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_pipeline_config(path)
    assert fragment in str(error.value)
    assert str(path) in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_pipeline_config(tmp_path / "nope.yaml")


def test_env_var_points_at_the_config(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("domains:\n  - name: airline\n")
    monkeypatch.setenv("APIGEN_CONFIG", str(path))
    assert load_pipeline_config().domain_names == ["airline"]


def test_fingerprint_changes_with_any_setting():
    base = PipelineConfig()
    assert base.fingerprint() == PipelineConfig().fingerprint()
    changed = PipelineConfig.model_validate({"sampling": {"base_seed": 1}})
    assert changed.fingerprint() != base.fingerprint()


def test_committee_cannot_outnumber_the_configured_judges(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("phase1:\n  committee_size: 5\nllm:\n  judges: [openai:gpt-4o, anthropic:claude-3-5-haiku-latest]\n")
    with pytest.raises(ConfigError, match="committee_size is 5 but llm.judges lists only 2"):
        load_pipeline_config(path)


def test_llm_settings_errors_name_the_nested_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("llm:\n  roles:\n    generator: {provider: openai, modle: gpt-4o}\n")
    with pytest.raises(ConfigError, match="llm.roles.generator"):
        load_pipeline_config(path)


@pytest.mark.parametrize(("text", "fragment"), [
    ('batch_start_date: "2026-02-30"\n', "batch_start_date: '2026-02-30' is not a real date"),
    ('automation:\n  backfill: {start: "2026-13-01"}\n', "automation.backfill.start: '2026-13-01' is not a real date"),
])
def test_batch_dates_are_real_dates(tmp_path, text, fragment):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="invalid pipeline config") as error:
        load_pipeline_config(path)
    assert fragment in str(error.value)


def test_a_yaml_error_is_one_line_with_where_it_is(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sampling:\n  contexts_per_partition: [1, 2\nphase1: {}\n")
    with pytest.raises(ConfigError) as error:
        load_pipeline_config(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"config file {path} is not valid YAML: ")
    assert "expected ',' or ']', but got ':' at line 3, column 7" in message


def test_a_config_from_the_environment_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("APIGEN_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match=r"nope\.yaml \(from APIGEN_CONFIG\) does not exist"):
        load_pipeline_config()
