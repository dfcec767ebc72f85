"""Resources: where the warehouse lives and which pipeline config applies. Chosen by config and
environment variables, never by code changes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr, ValidationError, create_model

from apigen_pipeline.config import ConfigError, PipelineConfig, format_validation_error, load_pipeline_config
from apigen_pipeline.defs.shared.config_fields import dagster_config_class
from apigen_pipeline.defs.shared.executors import executor_from_env
from apigen_pipeline.defs.shared.llm_resource import LLMResource
from apigen_pipeline.defs.shared.policies import non_retryable
from apigen_pipeline.llm.config import BACKEND_ENV_VAR, BASE_URL_ENV_VAR
from apigen_pipeline.paths import apigen_home, warehouse_path
from apigen_pipeline.warehouse import SchemaError, Warehouse
from apigen_pipeline.warehouse.errors import WarehouseDamagedError
from apigen_pipeline.warehouse.storage import StorageSettings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse under the project home (APIGEN_HOME unless `home` is set)."""

    home: str | None = None
    _warehouse: Warehouse | None = PrivateAttr(default=None)

    @property
    def home_path(self) -> Path:
        return Path(self.home).resolve() if self.home else apigen_home()

    def get(self) -> Warehouse:
        if self._warehouse is None:
            # Storage mode (local DuckDB file or DuckLake) comes from APIGEN_STORAGE & co.: see storage.py.
            warehouse = Warehouse(warehouse_path(self.home_path), storage=StorageSettings.from_env())
            try:
                warehouse.migrate()
            except (WarehouseDamagedError, SchemaError) as error:  # no retry mends a damaged file
                raise non_retryable(str(error)) from error
            self._warehouse = warehouse
        return self._warehouse


class PipelineConfigResource(dg.ConfigurableResource):
    """The pipeline config. `pipeline_config_resource` gives it a typed `settings` field holding the
    exact config `build_definitions` built the partitions from, one launchpad field per setting (a run
    config that sets one field keeps the others); without it, a YAML file (or $APIGEN_CONFIG, or the
    defaults) is read."""

    config_path: str | None = Field(default=None, description="The YAML file the settings were read from "
                                                              "(read only when there are no settings).")
    _config: PipelineConfig | None = PrivateAttr(default=None)

    def load(self) -> PipelineConfig:
        try:
            if self._config is None:
                settings: dg.Config | None = getattr(self, "settings", None)
                if settings is not None:
                    self._config = PipelineConfig.model_validate(_resolved(settings.model_dump()))
                else:
                    self._config = load_pipeline_config(self.config_path)
            return self._config
        except ValidationError as error:
            raise non_retryable(f"invalid pipeline config: {format_validation_error(error)}") from error
        except ConfigError as error:
            # Bad configuration will not fix itself: fail fast, no retries.
            raise non_retryable(str(error)) from error


def _resolved(value: Any) -> Any:
    """Settings with each `dg.EnvVar` read (Dagster reads them for a run; a direct call must too)."""
    if isinstance(value, dg.EnvVar):
        return value.get_value()
    if isinstance(value, dict):
        return {key: _resolved(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolved(item) for item in value]
    return value


def pipeline_config_resource(config: PipelineConfig, config_path: str | None = None) -> PipelineConfigResource:
    """The resource for `config`: a `settings` field typed section by section, defaulting to `config`'s
    values; `APIGEN_LLM` / `APIGEN_LLM_BASE_URL` stay environment variables (`dg.EnvVar`) when set."""
    values = config.model_dump(mode="json")
    llm_values = dict(values["llm"])
    for variable, setting in ((BACKEND_ENV_VAR, "backend_override"), (BASE_URL_ENV_VAR, "backend_base_url")):
        if os.environ.get(variable):
            llm_values[setting] = dg.EnvVar(variable)
    settings = dagster_config_class(PipelineConfig, {**values, "llm": llm_values}, "PipelineSettings")
    resource = create_model("PipelineConfigResource", __base__=PipelineConfigResource,
                            settings=(settings, Field(default=settings(), description="The pipeline config "
                                                      "(see the README's Configuration section).")))
    return resource(config_path=config_path)


def s3_resource_from_env() -> S3Resource:
    """Endpoint (for S3-compatible servers) and region from the environment, as `dg.EnvVar`s so the
    launchpad names the variable; credentials come from the standard AWS chain (env vars, profiles,
    instance roles), never from config files."""
    region = next((dg.EnvVar(name) for name in ("AWS_DEFAULT_REGION", "AWS_REGION") if os.environ.get(name)),
                  "us-east-1")
    endpoint = dg.EnvVar("APIGEN_S3_ENDPOINT_URL") if os.environ.get("APIGEN_S3_ENDPOINT_URL") else None
    return S3Resource(endpoint_url=endpoint, region_name=region)


def resource_definitions(config: PipelineConfig, config_path: str | None = None,
                         home: str | None = None) -> dg.Definitions:
    """The resources every area's assets ask for, and the executor, for one config."""
    return dg.Definitions(
        executor=executor_from_env(),
        resources={
            "warehouse": WarehouseResource(home=home),
            "pipeline_config": pipeline_config_resource(config, config_path),
            "llm": LLMResource(),
            "s3": s3_resource_from_env(),
        },
    )
