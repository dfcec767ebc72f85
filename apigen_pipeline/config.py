"""The pipeline's configuration: which domains, how contexts are sampled. Validated, hashed, recorded.

Every choice the paper leaves open is a field here with a documented default; the hash of the
effective config is written on every row so any row can be traced back and re-made.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """A bad configuration: the message names the file and the field."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DomainConfig(StrictModel):
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


class SamplingConfig(StrictModel):
    contexts_per_partition: int = Field(default=20, ge=1, le=100_000)
    min_write_tools: int = Field(default=1, ge=1)
    max_write_tools: int = Field(default=3, ge=1)
    min_examples: int = Field(default=1, ge=0)
    max_examples: int = Field(default=3, ge=0)
    persona_pool: int = Field(default=5000, ge=1)
    base_seed: int = Field(default=0, description="Mixed into every (domain, batch, index) seed.")

    @model_validator(mode="after")
    def _ranges(self) -> SamplingConfig:
        if self.min_write_tools > self.max_write_tools:
            raise ValueError("min_write_tools must not exceed max_write_tools")
        if self.min_examples > self.max_examples:
            raise ValueError("min_examples must not exceed max_examples")
        return self


class PipelineConfig(StrictModel):
    domains: list[DomainConfig] = Field(default_factory=lambda: [DomainConfig(name="airline"),
                                                                  DomainConfig(name="retail")])
    batch_start_date: str = Field(default="2026-01-01", pattern=r"^\d{4}-\d{2}-\d{2}$")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)

    @model_validator(mode="after")
    def _unique_domains(self) -> PipelineConfig:
        names = [d.name for d in self.domains]
        if len(set(names)) != len(names):
            raise ValueError(f"domain names must be unique, got {names}")
        if not names:
            raise ValueError("at least one domain must be enabled")
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
        body = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]


def load_pipeline_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """From a YAML file (argument, else $APIGEN_CONFIG, else defaults) plus overrides."""
    source = path or os.environ.get("APIGEN_CONFIG")
    data: dict[str, Any] = {}
    label = "defaults"
    if source:
        label = str(source)
        try:
            loaded = yaml.safe_load(Path(source).read_text())
        except FileNotFoundError as error:
            raise ConfigError(f"config file {source} does not exist") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"config file {source} is not valid YAML: {error}") from error
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {source} must hold a mapping at the top level")
        data = {k: v for k, v in (loaded or {}).items() if k != "llm"}
    data = _deep_merge(data, overrides or {})
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"invalid pipeline config ({label}): {format_validation_error(error)}") from error


def format_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
