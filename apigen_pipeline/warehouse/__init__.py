"""The only code that talks to DuckDB. Names load on first use (PEP 562), so that importing a light
module of this package (`errors`, `storage`) does not pull in pandas: the CLI names a bad setting
before it has paid for the warehouse."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apigen_pipeline.warehouse.migrations import SchemaError
    from apigen_pipeline.warehouse.warehouse import PartitionWrite, Warehouse, content_hash

_EXPORTS = {"PartitionWrite": "warehouse", "Warehouse": "warehouse", "content_hash": "warehouse",
            "SchemaError": "migrations"}

__all__ = ["PartitionWrite", "SchemaError", "Warehouse", "content_hash"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
