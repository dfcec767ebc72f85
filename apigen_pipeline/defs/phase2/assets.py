"""Stage 3: trajectories (APIGen-MT Phase 2): simulated human-agent attempts per blueprint, verified
by replay and audited for policy; the unique verified, audit-clean trajectories are kept."""

from collections import Counter

import dagster as dg

from apigen_pipeline.defs.shared.environment import environment_for
from apigen_pipeline.defs.shared.frames import partition_frame
from apigen_pipeline.defs.shared.llm_resource import LLMResource, llm_metadata, simulated_backend
from apigen_pipeline.defs.shared.metadata import markdown_counts
from apigen_pipeline.defs.shared.partition_reads import kept_blueprints, simulated_by_key
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.defs.shared.policies import llm_stage_asset_options
from apigen_pipeline.defs.shared.resources import PipelineConfigResource, WarehouseResource
from apigen_pipeline.defs.shared.stage_stats import replace_stage_stats
from apigen_pipeline.llm.gateway import CallContext
from apigen_pipeline.phase2.models import Phase2Result
from apigen_pipeline.phase2.provenance import request_keys, with_provenance
from apigen_pipeline.phase2.rows import trajectory_attempt_rows, trajectory_rows, user_turn_candidate_rows
from apigen_pipeline.phase2.runner import run_phase2
from apigen_pipeline.phase2.stats import turn_count
from apigen_pipeline.warehouse import PartitionWrite


def build_trajectories(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="trajectories", partitions_def=partitions_def, deps=["blueprints"], group_name="phase2",
        kinds={"python", "duckdb"}, owners=["team:apigen"], op_tags={"apigen/stage": "phase2"},
        **llm_stage_asset_options(),
        description="Every simulated human-agent attempt per blueprint (best-of-N user turns, one tool call per "
                    "agent turn), verified by replay against the blueprint's ground truth and audited for "
                    "policy; the unique verified, audit-clean trajectories are kept.")
    def trajectories(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                     pipeline_config: PipelineConfigResource, llm: LLMResource) -> dg.MaterializeResult:
        partition = Partition.of(context)
        config = pipeline_config.load()
        environment, _ = environment_for(pipeline_config, partition.domain)
        store = warehouse.get()
        blueprints = kept_blueprints(store, partition)
        call_context = CallContext(domain=partition.domain, batch=partition.batch, run_id=context.run.run_id,
                                   asset="trajectories")
        simulated = simulated_backend(config, partition.domain, environment)
        with llm.bind(config.llm, store, call_context, simulated) as client:
            result = run_phase2(blueprints, environment, client, config.phase2, domain=partition.domain)
        attempts = with_provenance(result.attempts, simulated_by_key(store, request_keys(result.attempts)),
                                   {b.blueprint_id: b.simulated for b in blueprints})
        config_hash = config.fingerprint()
        store.replace_partition(partition.domain, partition.batch, [
            PartitionWrite("trajectory_attempts", partition_frame(trajectory_attempt_rows(attempts), partition,
                                                                  context, config_hash)),
            PartitionWrite("user_turn_candidates", partition_frame(user_turn_candidate_rows(attempts),
                                                                   partition, context, config_hash)),
            PartitionWrite("trajectories", partition_frame(trajectory_rows(attempts), partition, context,
                                                           config_hash)),
        ])
        replace_stage_stats(store, "phase2", result.stats.model_dump_json(), partition, context, config_hash)
        return dg.MaterializeResult(metadata={**phase2_metadata(result), **llm_metadata(client.gateway)})

    return trajectories


def phase2_metadata(result: Phase2Result) -> dict[str, object]:
    kept = result.trajectories
    played = len({a.blueprint_id for a in result.attempts})
    with_success = len({a.blueprint_id for a in kept})
    return {
        "dagster/row_count": len(kept),
        "blueprints_played": played,
        "attempts": len(result.attempts),
        "verified_attempts": sum(1 for a in result.attempts if a.verified),
        "kept_trajectories": len(kept),
        "blueprint_yield": round(with_success / played, 4) if played else 0.0,
        "failures_by_reason": markdown_counts(
            Counter(a.failure_reason for a in result.attempts if a.failure_reason), "reason"),
        "dropped_by_reason": markdown_counts(
            Counter(a.drop_reason for a in result.attempts if a.drop_reason), "reason"),
        "audit_findings_by_rule": markdown_counts(dict(result.stats.audit_findings_by_rule), "rule"),
        "mean_turns": _mean([turn_count(a) for a in kept]),
        "mean_tool_calls": _mean([a.tool_calls for a in kept]),
        "mean_user_turns": _mean([a.user_turns for a in kept]),
        "non_llm_seconds": round(result.timings.total_s - result.timings.llm_s, 3),
        "llm_seconds": round(result.timings.llm_s, 3),
    }


def _mean(values: list[int]) -> float:
    return round(sum(values) / len(values), 3) if values else 0.0
