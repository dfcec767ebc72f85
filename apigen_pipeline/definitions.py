"""The Dagster code location: `dagster dev` (via workspace.yaml) and `apigen run` load this.

Importing this module builds nothing: Dagster calls `defs` when it loads the location, so a bad
config file, plugin reference or executor setting becomes the location's load error, in one line.
"""

from __future__ import annotations

import os
import warnings

import dagster as dg

from apigen_pipeline.config import ConfigError, PipelineConfig, load_pipeline_config
from apigen_pipeline.defs.automation.definitions import automation_definitions
from apigen_pipeline.defs.dataset.definitions import dataset_definitions
from apigen_pipeline.defs.environment.definitions import environment_definitions
from apigen_pipeline.defs.phase1.definitions import phase1_definitions
from apigen_pipeline.defs.phase2.definitions import phase2_definitions
from apigen_pipeline.defs.shared.partitions import build_partitions
from apigen_pipeline.defs.shared.resources import resource_definitions
from apigen_pipeline.environments.registry import (
    EnvironmentContractError,
    EnvironmentNotFoundError,
    find_plugin,
)

# Chosen on purpose, with their status known: per-partition asset checks (preview) gate each batch on
# its own rows, and backfill policies (beta) keep LLM backfills to one partition per run.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")


class CodeLocationLoadError(Exception):
    """A setting the code location cannot load with; the message names the value and what is allowed."""


def build_definitions(config: PipelineConfig | None = None, config_path: str | None = None,
                      home: str | None = None) -> dg.Definitions:
    """The code location: the asset graph plus its schedule, backfill sensor and job."""
    config = config or load_pipeline_config(config_path)
    partitions = build_partitions(config)
    graph = _asset_graph(config, partitions, config_path, home)
    return dg.Definitions.merge(graph, automation_definitions(config, partitions, list(graph.assets or [])))


def build_asset_graph(config: PipelineConfig, config_path: str | None = None,
                      home: str | None = None) -> dg.Definitions:
    """Assets, checks, resources and executor for a config. Domains are partition keys, fixed at load time."""
    return _asset_graph(config, build_partitions(config), config_path, home)


def _asset_graph(config: PipelineConfig, partitions: dg.MultiPartitionsDefinition, config_path: str | None,
                 home: str | None) -> dg.Definitions:
    return dg.Definitions.merge(
        environment_definitions(partitions),
        phase1_definitions(partitions),
        phase2_definitions(partitions),
        dataset_definitions(partitions),
        resource_definitions(config, config_path, home),
    )


def load_code_location() -> dg.Definitions:
    """The definitions for $APIGEN_CONFIG (or the defaults), after checking every domain's plugin resolves;
    any bad setting raises `CodeLocationLoadError` alone (no chained tracebacks)."""
    try:
        config = load_pipeline_config()
        for domain in config.domains:
            _check_plugin(domain.name, domain.reference)
        return build_definitions(config=config)
    except (ConfigError, dg.DagsterInvalidConfigError) as error:
        raise CodeLocationLoadError(_one_line(str(error))) from None


def _check_plugin(domain: str, reference: str) -> None:
    try:
        find_plugin(reference)
    except (EnvironmentContractError, EnvironmentNotFoundError) as error:
        source = os.environ.get("APIGEN_CONFIG") or "the default config"
        raise ConfigError(f"config {source}: domain '{domain}': {error}") from None


def _one_line(message: str) -> str:
    return " ".join(line.strip() for line in message.splitlines() if line.strip().strip("^"))


@dg.definitions
def defs() -> dg.Definitions:
    return load_code_location()
