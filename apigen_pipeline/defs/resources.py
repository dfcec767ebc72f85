"""Resources: where the warehouse lives and which pipeline config applies. Chosen by config and
environment variables, never by code changes."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr, ValidationError

from apigen_pipeline.config import ConfigError, PipelineConfig, format_validation_error, load_pipeline_config
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
                raise dg.Failure(description=str(error), allow_retries=False) from error
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
            raise dg.Failure(description=f"invalid pipeline config: {format_validation_error(error)}",
                             allow_retries=False) from error
        except ConfigError as error:
            # Bad configuration will not fix itself: fail fast, no retries.
            raise dg.Failure(description=str(error), allow_retries=False) from error
