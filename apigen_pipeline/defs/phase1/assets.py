"""Stages 1-2: sampled task contexts, then task blueprints (APIGen-MT Phase 1): generation, staged
validation, review committee, feedback loop, recombination and dedup, with every attempt, verdict and
vote kept in DuckDB."""

import time
from collections import Counter
from collections.abc import Iterator

import dagster as dg

from apigen_pipeline.defs.shared.environment import environment_for
from apigen_pipeline.defs.shared.frames import partition_frame
from apigen_pipeline.defs.shared.llm_resource import LLMResource, llm_metadata, simulated_backend
from apigen_pipeline.defs.shared.metadata import markdown_counts
from apigen_pipeline.defs.shared.partition_reads import simulated_by_key
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.defs.shared.policies import (
    LLM_STAGE_BACKFILL_POLICY,
    llm_stage_asset_options,
    non_retryable,
)
from apigen_pipeline.defs.shared.resources import PipelineConfigResource, WarehouseResource
from apigen_pipeline.defs.shared.stage_stats import replace_stage_stats
from apigen_pipeline.llm.gateway import CallContext
from apigen_pipeline.phase1.contexts import ContextSampler, TaskContext, context_row
from apigen_pipeline.phase1.models import Phase1Result
from apigen_pipeline.phase1.provenance import request_keys, with_provenance
from apigen_pipeline.phase1.rows import blueprint_attempt_rows, blueprint_rows, committee_vote_rows
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.warehouse import PartitionWrite


class TaskContextsConfig(dg.Config):
    contexts_per_partition: int | None = None  # overrides the pipeline config for this run


def build_task_contexts(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="task_contexts",
        partitions_def=partitions_def,
        backfill_policy=LLM_STAGE_BACKFILL_POLICY,
        deps=["environment_api_specs"],
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
            raise non_retryable(f"contexts_per_partition must be >= 1, got {count}")
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


def _funnel_markdown(result: Phase1Result) -> dg.MetadataValue:
    lines = ["| stage | reached | passed | pass rate |", "|---|---:|---:|---:|"]
    for row in result.stats.funnel:
        rate = row.passed / row.reached if row.reached else 0.0
        lines.append(f"| {row.stage} | {row.reached} | {row.passed} | {rate:.1%} |")
    return dg.MetadataValue.md("\n".join(lines))


def phase1_metadata(result: Phase1Result) -> dict[str, object]:
    stats = result.stats
    metadata: dict[str, object] = {
        "contexts": stats.contexts,
        "attempts": stats.attempts,
        "accepted_simple": stats.accepted_simple,
        "accepted_recombined": stats.accepted_recombined,
        "kept_after_dedup": stats.kept_after_dedup,
        "yield_without_feedback": round(stats.yield_without_feedback, 4),
        "yield_with_feedback": round(stats.yield_with_feedback, 4),
        "feedback_rounds": result.feedback_rounds,
        "judge_abstentions": stats.judge_abstentions,
        "funnel": _funnel_markdown(result),
        "failures_by_reason": markdown_counts(stats.failures_by_reason, "reason"),
        "accepted_by_round": markdown_counts(stats.acceptance_by_round, "round", "accepted"),
        "non_llm_seconds": round(result.timings.total_s - result.timings.llm_s, 3),
        "llm_seconds": round(result.timings.llm_s, 3),
    }
    for row in stats.funnel:
        metadata[f"pass_rate_{row.stage}"] = round(row.passed / row.reached, 4) if row.reached else 0.0
    for criterion, kappa in stats.kappa.items():
        metadata[f"judge_kappa_{criterion}"] = kappa if kappa is not None else float("nan")
    return metadata


PHASE1_SPECS = [
    dg.AssetSpec("blueprints", deps=["task_contexts"], group_name="phase1", kinds={"python", "duckdb"},
                 owners=["team:apigen"],
                 description="Every blueprint attempt (round, stage verdicts, diff, feedback plan) and the "
                             "accepted, deduplicated task blueprints (instruction, ground-truth actions, "
                             "expected outputs)."),
    dg.AssetSpec("committee_votes", deps=["blueprints"], group_name="phase1", kinds={"python", "duckdb"},
                 owners=["team:apigen"],
                 description="One row per judge per reviewed blueprint: four binary scores, reflection, "
                             "suggested correction; majority vote per criterion."),
    dg.AssetSpec("recombined_blueprints", deps=["blueprints"], group_name="phase1", kinds={"python", "duckdb"},
                 owners=["team:apigen"],
                 description="Harder tasks from 2-3 accepted blueprints of one user, re-executed, re-checked "
                             "against policy and re-reviewed (rows of `blueprints` with kind = recombined)."),
]


def build_phase1_blueprints(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(name="phase1_blueprints", specs=PHASE1_SPECS, partitions_def=partitions_def,
                    op_tags={"apigen/stage": "phase1"}, **llm_stage_asset_options())
    def phase1_blueprints(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                          pipeline_config: PipelineConfigResource, llm: LLMResource) -> Iterator[dg.MaterializeResult]:
        partition = Partition.of(context)
        config = pipeline_config.load()
        environment, _ = environment_for(pipeline_config, partition.domain)
        store = warehouse.get()
        frame = store.read_partition("task_contexts", partition.domain, partition.batch)
        if frame.empty:
            raise non_retryable(f"no task contexts for {partition.domain}/{partition.batch}: "
                                "materialize task_contexts first")
        contexts = [TaskContext.model_validate_json(text) for text in frame.sort_values("context_index")["context"]]
        call_context = CallContext(domain=partition.domain, batch=partition.batch, run_id=context.run.run_id,
                                   asset="blueprints")
        simulated = simulated_backend(config, partition.domain, environment)
        with llm.bind(config.llm, store, call_context, simulated) as client:
            result = run_phase1(contexts, environment, client, config.phase1, domain=partition.domain)
        result = with_provenance(result, simulated_by_key(store, request_keys(result)))
        config_hash = config.fingerprint()
        attempts = blueprint_attempt_rows(result)
        votes = committee_vote_rows(result)
        blueprints = blueprint_rows(result)
        replace_stage_stats(store, "phase1", result.stats.model_dump_json(), partition, context, config_hash)
        store.replace_partition(partition.domain, partition.batch, [
            PartitionWrite("blueprint_attempts", partition_frame(attempts, partition, context, config_hash)),
            PartitionWrite("committee_votes", partition_frame(votes, partition, context, config_hash)),
            PartitionWrite("blueprints", partition_frame(blueprints, partition, context, config_hash)),
        ])
        kept = result.kept_blueprints
        recombined = [b for b in kept if b.kind == "recombined"]
        yield dg.MaterializeResult(asset_key="blueprints", metadata={
            "dagster/row_count": len(kept), **phase1_metadata(result), **llm_metadata(client.gateway)})
        yield dg.MaterializeResult(asset_key="committee_votes", metadata={
            "dagster/row_count": len(votes),
            "abstentions": sum(1 for v in votes if v["abstained"]),
            **{f"judge_kappa_{k}": (v if v is not None else float("nan")) for k, v in result.stats.kappa.items()},
        })
        yield dg.MaterializeResult(asset_key="recombined_blueprints", metadata={
            "dagster/row_count": len(recombined),
            "recombinations_tried": result.stats.recombination_tried,
            "recombinations_accepted": result.stats.accepted_recombined,
        })

    return phase1_blueprints
