"""Loading the code location: importing it builds nothing, and a bad config file, plugin reference or
executor setting is one line naming the value and what is allowed (the location's load error in the UI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ERROR_PREFIX = "apigen_pipeline.definitions.CodeLocationLoadError: "
# Imports the module under a bad APIGEN_CONFIG, then loads the location as Dagster does (calling `defs`)
# for each case, printing each failure's traceback as Python would show it.
LOADER = """
import json, os, sys, traceback, warnings
warnings.simplefilter("ignore")
cases = json.loads(sys.argv[1])
os.environ.update(cases[0][1])
import apigen_pipeline.definitions as location
print("IMPORTED", flush=True)
failures = {}
for name, env in cases:
    for key in ("APIGEN_CONFIG", "APIGEN_EXECUTOR"):
        os.environ.pop(key, None)
    os.environ.update(env)
    try:
        location.defs()
        failures[name] = None
    except Exception as error:
        failures[name] = "".join(traceback.format_exception(error))
print("FAILURES " + json.dumps(failures))
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def load_failures(tmp_path_factory) -> dict[str, tuple[str, str | None]]:
    folder = tmp_path_factory.mktemp("code_location")
    cases = {
        "yaml": write(folder, "broken.yaml", "domains: [\n  - {name: mockshop\n"),
        "value": write(folder, "upper.yaml", "domains:\n  - name: MockShop\n"),
        "plugin": write(folder, "missing.yaml", "domains:\n  - name: ghost\n    plugin: no_such_package.shop:plugin\n"),
        "contract": write(folder, "malformed.yaml", "domains:\n  - name: brokenshop\n"
                                                    "    plugin: apigen_pipeline_tests.mock_domain:malformed_plugin\n"),
        "good": write(folder, "good.yaml", "domains:\n  - name: mockshop\n"
                                           "    plugin: apigen_pipeline_tests.mock_domain:plugin\n"),
    }
    envs = [[name, {"APIGEN_CONFIG": path}] for name, path in cases.items()]
    envs.append(["executor", {"APIGEN_CONFIG": cases["good"], "APIGEN_EXECUTOR": "bogus"}])
    env = {k: v for k, v in os.environ.items() if k not in ("APIGEN_EXECUTOR", "APIGEN_CONFIG")}
    done = subprocess.run([sys.executable, "-c", LOADER, json.dumps(envs)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "IMPORTED"  # under the broken YAML file: importing the module raised nothing
    failures = json.loads(next(line for line in lines if line.startswith("FAILURES "))[len("FAILURES "):])
    return {name: (cases.get(name, cases["good"]), failure) for name, failure in failures.items()}


def error_line(traceback_text: str) -> str:
    """The exception's own line, checked to be the only exception in the traceback and short."""
    lines = traceback_text.rstrip("\n").splitlines()
    assert "During handling" not in traceback_text and "direct cause" not in traceback_text
    assert len(lines) <= 12, traceback_text
    assert lines[-1].startswith(ERROR_PREFIX), traceback_text
    return lines[-1][len(ERROR_PREFIX):]


def test_a_good_config_loads(load_failures):
    assert load_failures["good"][1] is None


@pytest.mark.parametrize(("case", "expected"), [
    ("yaml", ["is not valid YAML", "line 2"]),
    ("value", ["domains.0.name", "lower-case letters, digits and underscores"]),
    ("plugin", ["domain 'ghost'", "cannot import module 'no_such_package.shop'"]),
    ("contract", ["domain 'brokenshop'", "duplicate tool names: find_user"]),
])
def test_a_bad_config_is_one_line_naming_the_file_and_the_problem(load_failures, case, expected):
    path, failure = load_failures[case]
    message = error_line(failure)
    assert path in message
    for part in expected:
        assert part in message


def test_a_bad_executor_setting_names_the_variable_and_the_choices(load_failures):
    message = error_line(load_failures["executor"][1])
    assert message.startswith("APIGEN_EXECUTOR='bogus' is not an executor")
    assert "in_process" in message and "multiprocess" in message


@pytest.mark.slow
def test_dagster_reports_the_same_line_as_the_locations_load_error(load_failures, tmp_path):
    path, _ = load_failures["plugin"]
    env = {**{k: v for k, v in os.environ.items() if k != "APIGEN_EXECUTOR"}, "APIGEN_CONFIG": path,
           "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
                           "-m", "apigen_pipeline.definitions"], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert f"{ERROR_PREFIX}config {path}: domain 'ghost': cannot import module" in output
    assert "The above exception was caused by" not in output
