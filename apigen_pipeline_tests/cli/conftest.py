"""Running `apigen` as a user does: a subprocess with a clean environment and its own project home."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from apigen_pipeline.simulated.rates import Phase1SimulationRates

MOCK = {"name": "mockshop", "plugin": "apigen_pipeline_tests.mock_domain:plugin"}
# Small on purpose: these tests prove the command line, not yields. Two contexts must still give accepted
# blueprints for any prompt text (the simulator's draws are seeded by it): the simulated generator makes none
# of its scripted blueprint mistakes here (format and transport faults stay).
SMALL = {"sampling": {"contexts_per_partition": 2}, "phase1": {"max_feedback_rounds": {"mockshop": 1}},
         "phase2": {"attempts_per_blueprint": 1, "best_of_n": 2}, "evaluation": {"k": 1, "max_tasks": 1},
         "simulated_phase1": Phase1SimulationRates.none().model_dump(mode="json")}


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APIGEN_", "DAGSTER_")) and k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    env["APIGEN_HOME"] = str(home)
    env.update(extra)
    return env


def apigen(home: Path, *args: str, timeout: float = 300, **env: str) -> Completed:
    completed = subprocess.run([sys.executable, "-m", "apigen_pipeline.cli", *args], env=clean_env(home, **env),
                               capture_output=True, text=True, timeout=timeout, cwd=home.parent)
    return Completed(completed.returncode, completed.stdout, completed.stderr)


def write_config(path: Path, domains: list[dict] | None = None, **sections) -> Path:
    path.write_text(yaml.safe_dump({"domains": domains or [MOCK], **SMALL, **sections}))
    return path


@pytest.fixture()
def home(tmp_path) -> Path:
    return tmp_path / "apigen_home"


@pytest.fixture()
def mock_config(tmp_path) -> Path:
    return write_config(tmp_path / "mock.yaml")
