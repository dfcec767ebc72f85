"""Everything `apigen run` checks before any Dagster run starts, cheapest first. Each problem is one
`CliError` line naming the value and what is allowed; nothing here imports Dagster except the executor
check, which comes last."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, get_args
from urllib.parse import urlparse

from apigen_pipeline.cli.errors import CliError

if TYPE_CHECKING:
    from apigen_pipeline.config import PipelineConfig
    from apigen_pipeline.warehouse import Warehouse
    from apigen_pipeline.warehouse.storage import StorageSettings

BACKEND_CHOICES = ("simulated", "configured")
# Where each SDK also reads an endpoint from: with one set, a missing key is a local server's business.
SDK_BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


@dataclass(frozen=True)
class RunPlan:
    config: PipelineConfig
    domains: list[str]
    batch: str


def real_providers() -> list[str]:
    from apigen_pipeline.llm.config import ProviderName

    return [name for name in get_args(ProviderName) if name != "simulated"]


def check_backend_env(env: Mapping[str, str]) -> None:
    """APIGEN_LLM, APIGEN_LLM_BASE_URL, APIGEN_LLM_TIMEOUT and APIGEN_LLM_CONCURRENCY, named as the user typed them."""
    from apigen_pipeline.llm.config import BACKEND_ENV_VAR, BASE_URL_ENV_VAR

    value = env.get(BACKEND_ENV_VAR, "").strip()
    if value and value not in BACKEND_CHOICES:
        provider, separator, model = value.partition(":")
        if not separator or not model.strip() or provider not in real_providers():
            raise CliError(f"{BACKEND_ENV_VAR}={value!r} is not a backend: use simulated (the default), configured, "
                           f"or provider:model with provider {' or '.join(real_providers())} (e.g. openai:gpt-4o-mini)")
    base_url = env.get(BASE_URL_ENV_VAR, "").strip()
    if base_url:
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CliError(f"{BASE_URL_ENV_VAR}={base_url!r} is not an http(s) URL "
                           "(e.g. http://127.0.0.1:8000/v1 for a local OpenAI-compatible server)")
    check_backend_limits(env)


def check_backend_limits(env: Mapping[str, str]) -> None:
    """APIGEN_LLM_TIMEOUT (seconds per request, > 0) and APIGEN_LLM_CONCURRENCY (requests at once, >= 1)."""
    from apigen_pipeline.llm.config import CONCURRENCY_ENV_VAR, TIMEOUT_ENV_VAR

    timeout = env.get(TIMEOUT_ENV_VAR, "").strip()
    if timeout:
        try:
            seconds = float(timeout)
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            raise CliError(f"{TIMEOUT_ENV_VAR}={timeout!r} is not a number of seconds > 0 "
                           "(e.g. 600 for a local model on CPU)")
    concurrency = env.get(CONCURRENCY_ENV_VAR, "").strip()
    if concurrency and not (concurrency.isdigit() and int(concurrency) >= 1):
        raise CliError(f"{CONCURRENCY_ENV_VAR}={concurrency!r} is not a whole number >= 1 "
                       "(requests sent at once; 1 for a local model on CPU)")


def load_config(path: str | None) -> PipelineConfig:
    from apigen_pipeline.config import load_pipeline_config

    return load_pipeline_config(path)  # ConfigError: one line naming the file and the field


def newest_batch(today: date | None = None) -> str:
    """The newest batch that exists: today's (UTC), as the batch partitions are defined (end_offset=1)."""
    return (today or datetime.now(UTC).date()).isoformat()


def check_batch(batch: str | None, config: PipelineConfig, today: date | None = None) -> str:
    """A batch inside the partition range: from `batch_start_date` to today (UTC), both included."""
    newest = newest_batch(today)
    batch = batch or newest
    if not config.batch_start_date <= batch <= newest:
        raise CliError(f"--batch {batch} is outside the batch partitions: batches run from batch_start_date "
                       f"{config.batch_start_date} to today {newest} (UTC)")
    return batch


def check_domains(requested: Sequence[str] | None, config: PipelineConfig) -> list[str]:
    domains = list(dict.fromkeys(requested or config.domain_names))
    unknown = [d for d in domains if d not in config.domain_names]
    if unknown:
        raise CliError(f"unknown domain(s) {', '.join(repr(d) for d in unknown)} for --domain; "
                       f"enabled: {', '.join(config.domain_names)}")
    return domains


def check_plugins(config: PipelineConfig, domains: Sequence[str]) -> None:
    """Import each domain's plugin and run its contract check now, not when a step first needs it."""
    from apigen_pipeline.environments.registry import (
        EnvironmentContractError,
        EnvironmentNotFoundError,
        find_plugin,
    )

    for name in domains:
        reference = config.domain(name).reference
        try:
            find_plugin(reference)
        except (EnvironmentContractError, EnvironmentNotFoundError) as error:
            raise CliError(f"domain '{name}' (plugin {reference}): {error}") from error


def check_llm_keys(config: PipelineConfig, env: Mapping[str, str]) -> None:
    """A real backend needs its key in the environment (the variable is named, never its value)."""
    settings = config.llm
    routes = [settings.route(role) for role in type(settings.roles).model_fields]
    routes += [settings.route("judge", index) for index in range(len(settings.judges))]
    for target in (route.target for route in routes):
        if target.provider == "simulated" or target.base_url or env.get(SDK_BASE_URL_ENV.get(target.provider, "")):
            continue
        if target.key_env and not env.get(target.key_env):
            raise CliError(f"{target.label} needs an API key in {target.key_env}, which is not set "
                           "(or set APIGEN_LLM=simulated to run offline)")


def check_storage(env: Mapping[str, str]) -> StorageSettings:
    from apigen_pipeline.warehouse.storage import StorageSettings

    return StorageSettings.from_env(env)  # StorageError: one line naming the variable


def check_executor(env: Mapping[str, str]) -> None:
    """APIGEN_EXECUTOR and the settings it needs (APIGEN_CELERY_*, APIGEN_MAX_CONCURRENT_STEPS)."""
    import dagster as dg

    from apigen_pipeline.defs.shared.executors import executor_from_env

    try:
        executor_from_env(env)
    except dg.DagsterInvalidConfigError as error:
        raise CliError(str(error.args[0]) if error.args else str(error)) from error


def open_warehouse(home: Path, storage: StorageSettings) -> Warehouse:
    """Check the warehouse whole and migrated before any step writes to it (a damaged file fails here,
    unchanged; a DuckLake whose setup step never ran is named with the command to run)."""
    from apigen_pipeline.paths import warehouse_path
    from apigen_pipeline.warehouse import Warehouse

    warehouse = Warehouse(warehouse_path(home), storage=storage)
    warehouse.migrate()
    return warehouse


def plan_run(args_domains: Sequence[str] | None, args_batch: str | None, config_path: str | None,
             env: Mapping[str, str] | None = None) -> tuple[RunPlan, StorageSettings]:
    """Every check that needs neither Dagster nor the warehouse, in the order a user would fix them."""
    env = os.environ if env is None else env
    check_backend_env(env)
    config = load_config(config_path)
    storage = check_storage(env)
    batch = check_batch(args_batch, config)
    domains = check_domains(args_domains, config)
    check_plugins(config, domains)
    check_llm_keys(config, env)
    return RunPlan(config=config, domains=domains, batch=batch), storage
