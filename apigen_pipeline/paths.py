"""Where the project keeps its state: APIGEN_HOME (warehouse, exports, request spools) and DAGSTER_HOME."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME_NAME = ".apigen_home"


def apigen_home(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("APIGEN_HOME") or Path.cwd() / DEFAULT_HOME_NAME).resolve()


def warehouse_path(home: Path | None = None) -> Path:
    return (home or apigen_home()) / "warehouse.duckdb"


def exports_dir(home: Path | None = None) -> Path:
    return (home or apigen_home()) / "exports"


def spool_dir(home: Path | None = None) -> Path:
    return (home or apigen_home()) / "request_spool"


def ensure_dagster_home(home: Path | None = None) -> Path:
    """DAGSTER_HOME defaults inside APIGEN_HOME, so run history persists instead of being thrown away."""
    if os.environ.get("DAGSTER_HOME"):
        path = Path(os.environ["DAGSTER_HOME"]).resolve()
    else:
        path = (home or apigen_home()) / "dagster_home"
        os.environ["DAGSTER_HOME"] = str(path)
    path.mkdir(parents=True, exist_ok=True)
    instance_yaml = path / "dagster.yaml"
    if not instance_yaml.exists():
        template = Path(__file__).resolve().parents[1] / "dagster.yaml"
        if template.exists():
            instance_yaml.write_text(template.read_text())
    return path
