"""Stage 0: the environment's API specs (tools, policy, dependency graph, database fingerprint)."""

import json
import time

import dagster as dg

from apigen_pipeline.defs.shared.environment import environment_for
from apigen_pipeline.defs.shared.frames import partition_frame
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.defs.shared.policies import LLM_STAGE_BACKFILL_POLICY
from apigen_pipeline.defs.shared.resources import PipelineConfigResource, WarehouseResource
from apigen_pipeline.defs.shared.tables import CODE_VERSIONS, table_metadata
from apigen_pipeline.environments.dependency_graph import DependencyGraph
from apigen_pipeline.environments.specs import edge_rows, fingerprint_row, policy_row, tool_rows
from apigen_pipeline.warehouse import PartitionWrite


def build_environment_api_specs(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="environment_api_specs",
        code_version=CODE_VERSIONS["environment_api_specs"],
        partitions_def=partitions_def,
        backfill_policy=LLM_STAGE_BACKFILL_POLICY,  # every batch asset shares it: one run per partition
        group_name="environment",
        kinds={"python", "duckdb"},
        owners=["team:apigen"],
        description="Tools (JSON schema, read/write), policy text, API dependency graph and database "
                    "fingerprint of the partition's domain environment.",
    )
    def environment_api_specs(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                              pipeline_config: PipelineConfigResource) -> dg.MaterializeResult:
        partition = Partition.of(context)
        started = time.perf_counter()
        environment, source = environment_for(pipeline_config, partition.domain)
        graph = DependencyGraph.from_plugin(environment.plugin)
        config_hash = pipeline_config.load().fingerprint()
        fingerprint = fingerprint_row(environment, source)
        writes = [
            PartitionWrite("environment_tools", partition_frame(tool_rows(environment), partition, context, config_hash)),
            PartitionWrite("environment_policies", partition_frame([policy_row(environment)], partition, context, config_hash)),
            PartitionWrite("environment_graph_edges", partition_frame(edge_rows(graph), partition, context, config_hash)),
            PartitionWrite("environment_fingerprints", partition_frame([fingerprint], partition, context, config_hash)),
        ]
        store = warehouse.get()
        counts = store.replace_partition(partition.domain, partition.batch, writes)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": counts["environment_tools"],
            **table_metadata(store, "environment_tools"),
            "tools": len(environment.tool_specs),
            "write_tools": len(environment.write_tools),
            "policy_checks": len(environment.plugin.policy_checks),
            "graph_edges": len(graph.edges),
            "database_state_hash": fingerprint["state_hash"],
            "database_tables": dg.MetadataValue.json(json.loads(fingerprint["table_counts"])),
            "plugin_source": source,
            "config_hash": config_hash,
            "seconds": round(time.perf_counter() - started, 3),
        })

    return environment_api_specs
