"""Stage 1: sampled task contexts, N per domain x batch partition."""


import time
from collections import Counter

import dagster as dg

from apigen_pipeline.defs.environment_assets import environment_for
from apigen_pipeline.defs.frames import partition_frame
from apigen_pipeline.defs.metadata import markdown_counts
from apigen_pipeline.defs.partitions import Partition
from apigen_pipeline.defs.resources import PipelineConfigResource, WarehouseResource
from apigen_pipeline.phase1.contexts import ContextSampler, context_row
from apigen_pipeline.warehouse import PartitionWrite


class TaskContextsConfig(dg.Config):
    contexts_per_partition: int | None = None  # overrides the pipeline config for this run


def build_task_contexts(partitions_def: dg.PartitionsDefinition, upstream: dg.AssetsDefinition,
                        backfill_policy: dg.BackfillPolicy | None = None) -> dg.AssetsDefinition:
    @dg.asset(
        name="task_contexts",
        partitions_def=partitions_def,
        backfill_policy=backfill_policy,
        deps=[upstream],
        group_name="phase1",
        kinds={"python", "duckdb"},
        owners=["team:apigen"],
        description="Sampled task contexts: write tools from a random walk on the API graph plus the reads "
                    "they need, policy excerpts, one user's data, a persona and few-shot examples.",
    )
    def task_contexts(context: dg.AssetExecutionContext, config: TaskContextsConfig, warehouse: WarehouseResource,
                      pipeline_config: PipelineConfigResource) -> dg.MaterializeResult:
        partition = Partition.of(context)
        pipeline = pipeline_config.load()
        count = config.contexts_per_partition or pipeline.sampling.contexts_per_partition
        if count < 1:
            raise dg.Failure(description=f"contexts_per_partition must be >= 1, got {count}", allow_retries=False)
        environment, _ = environment_for(pipeline_config, partition.domain)
        started = time.perf_counter()
        sampler = ContextSampler(environment, pipeline.sampling, domain=partition.domain)
        contexts = [sampler.sample(partition.batch, index) for index in range(count)]
        sampling_seconds = time.perf_counter() - started
        frame = partition_frame([context_row(c) for c in contexts], partition, context, pipeline.fingerprint())
        warehouse.get().replace_partition(partition.domain, partition.batch, [PartitionWrite("task_contexts", frame)])
        write_tool_use = Counter(tool for c in contexts for tool in c.write_tools)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": len(contexts),
            "distinct_users": len({c.domain_data.user_id for c in contexts}),
            "distinct_personas": len({c.persona.persona_id for c in contexts}),
            "mean_write_tools": round(sum(len(c.write_tools) for c in contexts) / len(contexts), 3),
            "mean_examples": round(sum(len(c.examples) for c in contexts) / len(contexts), 3),
            "write_tools_sampled": markdown_counts(write_tool_use, "write tool"),
            "sampling_seconds": round(sampling_seconds, 3),
        })

    return task_contexts
