"""The instance configs shipped in deploy/ load under Dagster's own config schema, down to each
pluggable class (run launcher, storage, compute logs), with secrets read from the environment.
ECS and Kubernetes cannot run here; this is how far they can be checked without a cluster."""

import importlib
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import post_process_config, validate_config
from dagster._core.instance.config import dagster_instance_config

from apigen_pipeline.defs.shared.executors import CELERY_CONFIG_SOURCE, executor_from_env

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTANCE_CONFIGS = ["local", "celery", "ecs", "k8s"]
CLASS_SECTIONS = ("storage", "compute_logs", "run_launcher", "run_coordinator")
SECRET_ENV = {
    "DAGSTER_PG_HOST": "pg.internal", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_DB": "dagster",
    "DAGSTER_PG_USER": "dagster", "DAGSTER_PG_PASSWORD": "from-the-secret-store",
    "APIGEN_S3_BUCKET": "bucket", "APIGEN_S3_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_DEFAULT_REGION": "us-east-1",
    "APIGEN_CELERY_BROKER": "redis://127.0.0.1:6379/0", "APIGEN_CELERY_BACKEND": "redis://127.0.0.1:6379/1",
}


def _class_sections(config: dict) -> dict[str, tuple[str, str, dict]]:
    sections = {}
    for name in CLASS_SECTIONS:
        section = config.get(name)
        if not section:
            continue
        if name == "storage" and "postgres" in section:
            sections[name] = ("dagster_postgres", "DagsterPostgresStorage", section["postgres"])
        elif "module" in section:
            sections[name] = (section["module"], section["class"], section.get("config") or {})
    return sections


@pytest.mark.parametrize("name", INSTANCE_CONFIGS)
def test_instance_config_loads_with_dagsters_schema(name, tmp_path, monkeypatch):
    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    shutil.copy(DEPLOY / name / "dagster.yaml", tmp_path / "dagster.yaml")
    validated, _ = dagster_instance_config(str(tmp_path))
    assert validated["telemetry"]["enabled"] is False
    # Dead workers and the slots of ended runs are the daemon's job (the reaper sensor covers this host).
    monitoring = validated["run_monitoring"]
    assert monitoring["enabled"] is True and monitoring["free_slots_after_run_end_seconds"] > 0

    raw = yaml.safe_load((DEPLOY / name / "dagster.yaml").read_text())
    for section, (module, class_name, class_config) in _class_sections(raw).items():
        configurable = getattr(importlib.import_module(module), class_name)
        schema = dg.Field(configurable.config_type()).config_type
        result = validate_config(schema, class_config)
        assert result.success, f"{name}/{section}: {[e.message for e in result.errors]}"
        resolved = post_process_config(schema, class_config)
        assert resolved.success, f"{name}/{section}: {[e.message for e in resolved.errors]}"


@pytest.mark.parametrize("name", ["celery", "ecs", "k8s"])
def test_multi_machine_configs_keep_secrets_out_of_the_file(name):
    text = (DEPLOY / name / "dagster.yaml").read_text()
    raw = yaml.safe_load(text)
    assert raw["storage"]["postgres"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert raw["storage"]["postgres"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
    assert raw["compute_logs"]["class"] == "S3ComputeLogManager"
    assert "from-the-secret-store" not in text and "AKIA" not in text


def test_a_missing_secret_fails_loading_by_name(tmp_path, monkeypatch):
    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DAGSTER_PG_PASSWORD")
    from dagster_postgres import DagsterPostgresStorage

    raw = yaml.safe_load((DEPLOY / "celery" / "dagster.yaml").read_text())["storage"]["postgres"]
    schema = dg.Field(DagsterPostgresStorage.config_type()).config_type
    resolved = post_process_config(schema, raw)
    assert not resolved.success
    assert "DAGSTER_PG_PASSWORD" in str([e.message for e in resolved.errors])


def test_celery_worker_config_matches_the_executor(monkeypatch):
    from dagster_celery.cli import get_validated_config

    for key, value in SECRET_ENV.items():
        monkeypatch.setenv(key, value)
    worker = get_validated_config(str(DEPLOY / "celery" / "celery.yaml"))
    assert worker["broker"] == SECRET_ENV["APIGEN_CELERY_BROKER"]
    assert worker["backend"] == SECRET_ENV["APIGEN_CELERY_BACKEND"]
    executor = executor_from_env({"APIGEN_EXECUTOR": "celery", **SECRET_ENV})
    assert executor.name == "celery"
    # The launcher's executor and the workers use the same Celery settings.
    assert worker["config_source"] == CELERY_CONFIG_SOURCE


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "in_process"),
    ({"APIGEN_EXECUTOR": "multiprocess"}, "multiprocess"),
    ({"APIGEN_EXECUTOR": "ecs", "APIGEN_MAX_CONCURRENT_STEPS": "8"}, "ecs"),
    ({"APIGEN_EXECUTOR": "k8s"}, "k8s"),
])
def test_executor_is_chosen_by_environment(env, expected):
    assert executor_from_env(env).name == expected


@pytest.mark.parametrize(("env", "named"), [
    ({"APIGEN_EXECUTOR": "spark"}, "APIGEN_EXECUTOR='spark'"),
    ({"APIGEN_EXECUTOR": "celery", "APIGEN_CELERY_BROKER": "redis://x/0"}, "APIGEN_CELERY_BACKEND"),
    ({"APIGEN_MAX_CONCURRENT_STEPS": "0"}, "APIGEN_MAX_CONCURRENT_STEPS"),
])
def test_bad_executor_settings_are_named(env, named):
    with pytest.raises(dg.DagsterInvalidConfigError, match=named.replace("'", ".")):
        executor_from_env(env)
