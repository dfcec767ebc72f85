"""Every bad input to `apigen run` is found before any Dagster run starts: exit code 2, at most three
lines on stderr naming the value and what is allowed, no traceback unless --verbose. Each case runs
`apigen` as a subprocess, as a user would."""

import hashlib
import os
from pathlib import Path

import pytest
import yaml

from apigen_pipeline_tests.cli.conftest import MOCK, apigen, write_config
from apigen_pipeline_tests.warehouse.built_warehouse import build_warehouse

MISSING_PLUGIN = {"name": "ghost", "plugin": "no_such_module:plugin"}
BROKEN_CONTRACT = {"name": "brokenshop", "plugin": "apigen_pipeline_tests.mock_domain:malformed_plugin"}


def message_lines(completed) -> list[str]:
    """stderr without argparse's usage block (`usage:` and its indented continuation lines): that block
    grows with the command's options, the message is what must stay short."""
    lines = completed.stderr_lines
    if lines and lines[0].startswith("usage:"):
        lines = lines[1:]
        while lines and lines[0].startswith(" "):
            lines = lines[1:]
    return lines


def assert_one_clear_line(completed, *fragments: str) -> None:
    assert completed.returncode == 2, completed.stderr
    assert 1 <= len(message_lines(completed)) <= 3, completed.stderr
    assert "Traceback" not in completed.stderr
    for fragment in fragments:
        assert fragment in completed.stderr, completed.stderr


def assert_nothing_ran(home: Path) -> None:
    assert not (home / "dagster_home").exists()


# (case id, environment, arguments after `run`, fragments the message must contain); "{config}" is the
# small mock-domain config file, "{tmp}" the test's folder.
CASES = [
    ("llm-bogus", {"APIGEN_LLM": "bogus"}, [], ["APIGEN_LLM='bogus'", "simulated", "configured", "provider:model"]),
    ("llm-unknown-provider", {"APIGEN_LLM": "mistral:large"}, [], ["APIGEN_LLM='mistral:large'", "openai or anthropic"]),
    ("llm-base-url", {"APIGEN_LLM_BASE_URL": "localhost:8000"}, [], ["APIGEN_LLM_BASE_URL='localhost:8000'", "http"]),
    ("llm-timeout", {"APIGEN_LLM_TIMEOUT": "10min"}, [], ["APIGEN_LLM_TIMEOUT='10min'", "seconds > 0"]),
    ("llm-timeout-zero", {"APIGEN_LLM_TIMEOUT": "0"}, [], ["APIGEN_LLM_TIMEOUT='0'", "seconds > 0"]),
    ("llm-concurrency", {"APIGEN_LLM_CONCURRENCY": "0"}, [], ["APIGEN_LLM_CONCURRENCY='0'", "whole number >= 1"]),
    ("llm-key-missing", {"APIGEN_LLM": "openai:gpt-4o-mini"}, ["--config", "{config}"],
     ["openai:gpt-4o-mini", "OPENAI_API_KEY", "not set"]),
    ("config-missing", {"APIGEN_CONFIG": "{tmp}/nope.yaml"}, [], ["nope.yaml", "APIGEN_CONFIG", "does not exist"]),
    ("config-malformed", {"APIGEN_CONFIG": "{tmp}/malformed.yaml"}, [],
     ["malformed.yaml", "not valid YAML", "line 2, column 1"]),
    ("config-invalid-field", {"APIGEN_CONFIG": "{tmp}/invalid.yaml"}, [],
     ["invalid.yaml", "sampling.contexts_per_partiton", "Extra inputs are not permitted"]),
    ("config-start-date", {}, ["--config", "{tmp}/bad_start.yaml"], ["batch_start_date", "'2026-02-30' is not a real date"]),
    ("batch-not-a-date", {}, ["--config", "{config}", "--batch", "2026-13-45"], ["--batch", "'2026-13-45'", "YYYY-MM-DD"]),
    ("batch-before-start", {}, ["--config", "{config}", "--batch", "2025-06-01"],
     ["--batch 2025-06-01", "batch_start_date 2026-01-01"]),
    ("batch-in-the-future", {}, ["--config", "{config}", "--batch", "2099-01-01"], ["--batch 2099-01-01", "today"]),
    ("domain-unknown", {}, ["--config", "{config}", "--domain", "nope"], ["'nope'", "enabled: mockshop"]),
    ("contexts-zero", {}, ["--config", "{config}", "--contexts", "0"], ["--contexts", "'0'", "at least 1"]),
    ("plugin-missing", {}, ["--config", "{tmp}/missing_plugin.yaml"], ["ghost", "no_such_module"]),
    ("plugin-contract", {}, ["--config", "{tmp}/broken_contract.yaml"],
     ["brokenshop", "does not meet the contract", "duplicate tool names"]),
    ("storage-mode", {"APIGEN_STORAGE": "lakehouse"}, ["--config", "{config}"],
     ["APIGEN_STORAGE='lakehouse'", "'duckdb' or 'ducklake'"]),
    ("storage-lake-incomplete", {"APIGEN_STORAGE": "ducklake"}, ["--config", "{config}"],
     ["APIGEN_LAKE_CATALOG", "APIGEN_LAKE_DATA_PATH"]),
    ("executor-unknown", {"APIGEN_EXECUTOR": "bogus"}, ["--config", "{config}"],
     ["APIGEN_EXECUTOR='bogus'", "in_process", "celery"]),
    ("executor-celery-incomplete", {"APIGEN_EXECUTOR": "celery"}, ["--config", "{config}"],
     ["APIGEN_CELERY_BROKER", "APIGEN_CELERY_BACKEND"]),
    ("executor-max-steps", {"APIGEN_EXECUTOR": "multiprocess", "APIGEN_MAX_CONCURRENT_STEPS": "zero"},
     ["--config", "{config}"], ["APIGEN_MAX_CONCURRENT_STEPS", "'zero'"]),
]


@pytest.fixture()
def inputs(tmp_path, mock_config) -> dict[str, str]:
    (tmp_path / "malformed.yaml").write_text("domains: [\n")
    (tmp_path / "invalid.yaml").write_text("sampling:\n  contexts_per_partiton: 3\n")
    write_config(tmp_path / "bad_start.yaml", batch_start_date="2026-02-30")
    write_config(tmp_path / "missing_plugin.yaml", domains=[MOCK, MISSING_PLUGIN])
    write_config(tmp_path / "broken_contract.yaml", domains=[BROKEN_CONTRACT])
    return {"config": str(mock_config), "tmp": str(tmp_path)}


@pytest.mark.parametrize(("env", "args", "fragments"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_and_exit_code_2(home, inputs, env, args, fragments):
    env = {name: value.format(**inputs) for name, value in env.items()}
    completed = apigen(home, "run", *(arg.format(**inputs) for arg in args), **env)
    assert_one_clear_line(completed, *fragments)
    assert_nothing_ran(home)


def test_verbose_adds_the_traceback(home):
    completed = apigen(home, "run", "--verbose", APIGEN_LLM="bogus")
    assert completed.returncode == 2
    assert "Traceback" in completed.stderr and "APIGEN_LLM='bogus'" in completed.stderr_lines[-1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_damaged_warehouse_stops_the_run_before_it_starts(home, mock_config):
    warehouse = home / "warehouse.duckdb"
    build_warehouse(warehouse, partitions=(("mockshop", "2026-11-20"),), payload_chars=60_000)
    os.truncate(warehouse, warehouse.stat().st_size // 2)
    before = sha256(warehouse)
    completed = apigen(home, "run", "--config", str(mock_config), "--batch", "2026-11-21")
    assert_one_clear_line(completed, f"warehouse {warehouse} is damaged", "truncated", "left unchanged",
                          f"mv {warehouse} {warehouse}.damaged")
    assert sha256(warehouse) == before
    assert_nothing_ran(home)


def test_the_batch_range_is_the_one_dagster_partitions_have(mock_config):
    """The CLI checks --batch without importing Dagster: its range must be the partitions' own."""
    from apigen_pipeline.cli.preflight import newest_batch
    from apigen_pipeline.config import PipelineConfig
    from apigen_pipeline.defs.shared.partitions import BATCH_DIMENSION, build_partitions

    config = PipelineConfig.model_validate(yaml.safe_load(mock_config.read_text()))
    batches = build_partitions(config).get_partitions_def_for_dimension(BATCH_DIMENSION).get_partition_keys()
    assert (batches[0], batches[-1]) == (config.batch_start_date, newest_batch())
