from apigen_pipeline.warehouse.migrations import SchemaError
from apigen_pipeline.warehouse.warehouse import PartitionWrite, Warehouse, content_hash

__all__ = ["PartitionWrite", "SchemaError", "Warehouse", "content_hash"]
