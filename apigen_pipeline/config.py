"""The pipeline's configuration: which domains, how contexts are sampled. Validated, hashed, recorded.

Every choice the paper leaves open is a field here with a documented default; the hash of the
effective config is written on every row so any row can be traced back and re-made.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from apigen_pipeline.llm.config import LLMSettings, env_overlay
from apigen_pipeline.phase1.contexts import SamplingConfig
from apigen_pipeline.phase1.settings import Phase1Config
from apigen_pipeline.phase2.models import Phase2Settings
from apigen_pipeline.records import FrozenModel
from apigen_pipeline.simulated.rates import Phase1SimulationRates, Phase2SimulationRates

CONFIG_ENV_VAR = "APIGEN_CONFIG"
_BATCH_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ConfigError(ValueError):
    """A bad configuration: the message (one line) names the file and the field."""


class DomainConfig(FrozenModel):
    name: str = Field(description="Partition key of the domain (lower-case).")
    plugin: str | None = Field(default=None, description="Built-in name, entry-point name or 'module:attr'; "
                                                        "defaults to the name.")
    seed: int = Field(default=0, description="Seed of the domain database.")
    scale: float = Field(default=1.0, gt=0, le=1000, description="Database size relative to tau-bench's.")

    @field_validator("name")
    @classmethod
    def _name_is_a_partition_key(cls, value: str) -> str:
        if not value or not value.replace("_", "").isalnum() or value != value.lower():
            raise ValueError("domain names are lower-case letters, digits and underscores")
        return value

    @property
    def reference(self) -> str:
        return self.plugin or self.name


def parse_batch_date(value: str) -> date:
    """A batch key is a real calendar date written YYYY-MM-DD (`2026-13-45` is not)."""
    if not _BATCH_DATE.fullmatch(value):
        raise ValueError(f"'{value}' is not a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"'{value}' is not a real date ({error})") from None


def _real_batch_date(value: str | None) -> str | None:
    if value is not None:
        parse_batch_date(value)
    return value


class BackfillRangeConfig(FrozenModel):
    """Batches (days) the backfill sensor sweeps, both ends inclusive."""

    start: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    end: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                            description="Last batch; defaults to the newest batch that exists.")

    _real_dates = field_validator("start", "end")(_real_batch_date)

    @model_validator(mode="after")
    def _ordered(self) -> BackfillRangeConfig:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"backfill end {self.end} lies before its start {self.start}")
        return self


class AutomationConfig(FrozenModel):
    """When batches are generated. Not part of the config fingerprint: it changes when rows are made,
    never what they hold."""

    batch_cron: str = Field(default="0 0 * * *", description="Cron of the schedule that generates the newest "
                                                              "batch of every enabled domain (default: daily).")
    schedule_running: bool = Field(default=False, description="Start the schedule when the code location loads "
                                                             "(else it is switched on in the UI).")
    backfill: BackfillRangeConfig | None = Field(default=None, description="Range the backfill sensor sweeps; "
                                                                           "the sensor's cursor can override it.")
    backfill_runs_per_tick: int = Field(default=10, ge=1, le=1000)
    backfill_interval_seconds: int = Field(default=60, ge=30)


class QualityGates(FrozenModel):
    """Thresholds of the warning checks on each stage (a failed gate warns; it never deletes data)."""

    min_blueprint_yield: float = Field(default=0.3, ge=0, le=1, description="Accepted simple blueprints / contexts.")
    min_judge_kappa: float = Field(default=0.2, ge=-1, le=1, description="Fleiss' kappa over all criteria.")
    min_trajectory_yield: float = Field(default=0.3, ge=0, le=1,
                                        description="Blueprints with a kept trajectory / blueprints played.")


class ExportConfig(FrozenModel):
    """Where `training_dataset` writes: a local folder (default $APIGEN_HOME/exports) or an s3:// URL
    (through dagster-aws's S3Resource; endpoint and credentials from the environment, never from here)."""

    target: str | None = Field(default=None, description="None, a folder path, or s3://bucket/prefix")

    @field_validator("target")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("s3://") and len(value[5:].split("/", 1)[0]) < 3:
            raise ValueError("an S3 target looks like s3://bucket/prefix")
        return value


class EvaluationConfig(FrozenModel):
    """pass^k of an agent model on the partition's accepted blueprints (the tasks double as a benchmark).

    Opt-in: it plays k more conversations per evaluated task, as many LLM calls as generating trajectories.
    """

    enabled: bool = Field(default=False, description="Evaluate in every batch run (apigen run, the schedule, "
                                                     "backfills); otherwise only when `passk_evaluation` is "
                                                     "materialized on its own, e.g. from the UI.")
    k: int = Field(default=3, ge=1, le=16, description="Trials per task; pass^1..pass^k are reported.")
    max_tasks: int = Field(default=10, ge=1, description="At most this many kept blueprints are evaluated.")
    agent_model: str | None = Field(default=None, description="provider:model for the agent under test "
                                                              "(default: the pipeline's agent role).")


class PipelineConfig(FrozenModel):
    domains: list[DomainConfig] = Field(default_factory=lambda: [DomainConfig(name="airline"),
                                                                  DomainConfig(name="retail")])
    batch_start_date: str = Field(default="2026-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    phase1: Phase1Config = Field(default_factory=Phase1Config)
    # Models per role, prices, limits, budget; APIGEN_LLM / APIGEN_LLM_BASE_URL override the backend.
    llm: LLMSettings = Field(default_factory=LLMSettings)
    # How often the offline simulated generator makes each blueprint mistake (only with the simulated backend).
    simulated_phase1: Phase1SimulationRates = Field(default_factory=Phase1SimulationRates)
    quality: QualityGates = Field(default_factory=QualityGates)
    phase2: Phase2Settings = Field(default_factory=Phase2Settings)
    simulated_phase2: Phase2SimulationRates = Field(default_factory=Phase2SimulationRates)
    export: ExportConfig = Field(default_factory=ExportConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    automation: AutomationConfig = Field(default_factory=AutomationConfig)

    _real_start_date = field_validator("batch_start_date")(_real_batch_date)

    @model_validator(mode="after")
    def _unique_domains(self) -> PipelineConfig:
        names = [d.name for d in self.domains]
        if len(set(names)) != len(names):
            raise ValueError(f"domain names must be unique, got {names}")
        if not names:
            raise ValueError("at least one domain must be enabled")
        if self.phase1.committee_size > len(self.llm.judges):
            raise ValueError(f"phase1.committee_size is {self.phase1.committee_size} but llm.judges lists only "
                             f"{len(self.llm.judges)} models")
        return self

    def domain(self, name: str) -> DomainConfig:
        for domain in self.domains:
            if domain.name == name:
                return domain
        raise ConfigError(f"domain '{name}' is not enabled (enabled: {', '.join(self.domain_names)})")

    @property
    def domain_names(self) -> list[str]:
        return sorted(d.name for d in self.domains)

    def fingerprint(self) -> str:
        body = json.dumps(self.model_dump(mode="json", exclude={"automation"}), sort_keys=True,
                          separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]


def load_pipeline_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """From a YAML file (argument, else $APIGEN_CONFIG, else defaults) plus overrides."""
    source = path or os.environ.get(CONFIG_ENV_VAR)
    data: dict[str, Any] = {}
    label = "defaults"
    if source:
        label = str(source) if path else f"{source} (from {CONFIG_ENV_VAR})"
        data = _read_yaml_mapping(Path(source), label)
    data = _deep_merge(data, overrides or {})
    llm_section = dict(data.get("llm") or {})
    llm_section.update(env_overlay(os.environ))
    data["llm"] = llm_section
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"invalid pipeline config ({label}): {format_validation_error(error)}") from error


def _read_yaml_mapping(path: Path, label: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"config file {label} does not exist") from error
    except IsADirectoryError as error:
        raise ConfigError(f"config file {label} is a directory, not a YAML file") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {label} is not text (UTF-8): {error.reason}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {label} is not valid YAML: {_yaml_problem(error)}") from error
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"config file {label} must hold a mapping at the top level")
    return dict(loaded or {})


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's messages span several lines (with a snippet of the file): keep the problem and where."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{error.problem or error.context or 'unreadable'}{where}"
    return " ".join(str(error).split())


def format_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        message = " ".join(str(item["msg"]).removeprefix("Value error, ").split())
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
