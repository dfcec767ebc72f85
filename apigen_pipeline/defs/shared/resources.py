"""Resources: where the warehouse lives and which pipeline config applies. Chosen by config and
environment variables, never by code changes."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr, ValidationError

from apigen_pipeline.config import ConfigError, PipelineConfig, format_validation_error, load_pipeline_config
from apigen_pipeline.defs.shared.executors import executor_from_env
from apigen_pipeline.defs.shared.llm_resource import LLMResource
from apigen_pipeline.defs.shared.policies import non_retryable
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
    """The pipeline config. `build_definitions` passes the exact config it built the partitions from
    (as JSON), so the assets and the partition set can never disagree; without it, a YAML file
    (or $APIGEN_CONFIG, or the defaults) is read."""

    config_json: str | None = None
    config_path: str | None = None
    _config: PipelineConfig | None = PrivateAttr(default=None)

    def load(self) -> PipelineConfig:
        try:
            if self._config is None:
                if self.config_json is not None:
                    self._config = PipelineConfig.model_validate_json(self.config_json)
                else:
                    self._config = load_pipeline_config(self.config_path)
            return self._config
        except ValidationError as error:
            raise non_retryable(f"invalid pipeline config: {format_validation_error(error)}") from error
        except ConfigError as error:
            # Bad configuration will not fix itself: fail fast, no retries.
            raise non_retryable(str(error)) from error


def s3_resource_from_env() -> S3Resource:
    """Endpoint (for S3-compatible servers) and region from the environment; credentials come from the
    standard AWS chain (env vars, profiles, instance roles), never from config files."""
    return S3Resource(endpoint_url=os.environ.get("APIGEN_S3_ENDPOINT_URL") or None,
                      region_name=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1")


def resource_definitions(config: PipelineConfig, config_path: str | None = None,
                         home: str | None = None) -> dg.Definitions:
    """The resources every area's assets ask for, and the executor, for one config."""
    return dg.Definitions(
        executor=executor_from_env(),
        resources={
            "warehouse": WarehouseResource(home=home),
            "pipeline_config": PipelineConfigResource(config_json=config.model_dump_json(), config_path=config_path),
            "llm": LLMResource(),
            "s3": s3_resource_from_env(),
        },
    )
