"""Stage 2: task blueprints (APIGen-MT Phase 1): generation, staged validation, review committee,
feedback loop, recombination and dedup, with every attempt, verdict and vote kept in DuckDB."""

import json
from collections.abc import Iterator

import dagster as dg

from apigen_pipeline.defs.environment_assets import environment_for
from apigen_pipeline.defs.frames import partition_frame
from apigen_pipeline.defs.llm_resource import LLMResource, llm_metadata
from apigen_pipeline.defs.metadata import failure_list, markdown_counts
from apigen_pipeline.defs.partitions import Partition
from apigen_pipeline.defs.resources import PipelineConfigResource, WarehouseResource
from apigen_pipeline.defs.stage_stats import replace_stage_stats
from apigen_pipeline.llm.gateway import CallContext
from apigen_pipeline.phase1.committee import committee_kappa
from apigen_pipeline.phase1.contexts import TaskContext
from apigen_pipeline.phase1.models import JudgeVote, Phase1Result
from apigen_pipeline.phase1.rows import blueprint_attempt_rows, blueprint_rows, committee_vote_rows
from apigen_pipeline.phase1.runner import run_phase1
from apigen_pipeline.simulated import SimulatedBackend
from apigen_pipeline.warehouse import PartitionWrite

LLM_POOL = "llm_api"


def stage_config_hash(pipeline_config: PipelineConfigResource) -> str:
    return pipeline_config.load().fingerprint()


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


def build_phase1_assets(partitions_def: dg.PartitionsDefinition, task_contexts: dg.AssetsDefinition,
                        retry_policy: dg.RetryPolicy | None = None,
                        backfill_policy: dg.BackfillPolicy | None = None) -> list:
    specs = [
        dg.AssetSpec("blueprints", deps=[task_contexts], group_name="phase1", kinds={"python", "duckdb"},
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

    @dg.multi_asset(name="phase1_blueprints", specs=specs, partitions_def=partitions_def, pool=LLM_POOL,
                    retry_policy=retry_policy, backfill_policy=backfill_policy,
                    op_tags={"apigen/stage": "phase1"})
    def phase1_blueprints(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                          pipeline_config: PipelineConfigResource, llm: LLMResource) -> Iterator[dg.MaterializeResult]:
        partition = Partition.of(context)
        config = pipeline_config.load()
        environment, _ = environment_for(pipeline_config, partition.domain)
        store = warehouse.get()
        frame = store.read_partition("task_contexts", partition.domain, partition.batch)
        if frame.empty:
            raise dg.Failure(description=f"no task contexts for {partition.domain}/{partition.batch}: "
                                         "materialize task_contexts first", allow_retries=False)
        contexts = [TaskContext.model_validate_json(text) for text in frame.sort_values("context_index")["context"]]
        simulated = SimulatedBackend({partition.domain: environment}, config.simulated_phase1, config.simulated_phase2)
        call_context = CallContext(domain=partition.domain, batch=partition.batch, run_id=context.run.run_id,
                                   asset="blueprints")
        with llm.bind(config.llm, store, call_context, simulated) as client:
            result = run_phase1(contexts, environment, client, config.phase1, domain=partition.domain)
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

    @dg.asset_check(asset="blueprints", blocking=True, partitions_def=partitions_def,
                    description="Every kept blueprint re-executes cleanly on a fresh database to its stored state hash.")
    def accepted_blueprints_reexecute(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                                      pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of_check(context)
        environment, _ = environment_for(pipeline_config, partition.domain)
        frame = warehouse.get().query("phase1/kept_blueprints", [partition.domain, partition.batch])
        problems: list[str] = []
        for row in frame.itertuples(index=False):
            session = environment.new_session()
            for action in json.loads(row.actions):
                call = session.execute(action["name"], action.get("arguments", {}))
                if not call.ok:
                    problems.append(f"{row.blueprint_id}: {call.name} -> {call.observation}")
                    break
            else:
                if session.state_hash() != row.state_hash:
                    problems.append(f"{row.blueprint_id}: state hash differs from the stored one")
        return dg.AssetCheckResult(passed=not problems, metadata={
            "blueprints_checked": len(frame), "failures": len(problems),
            "first_failures": failure_list(problems)})

    @dg.asset_check(asset="blueprints", partitions_def=partitions_def,
                    description="Warns when the share of contexts with an accepted blueprint falls below the gate.")
    def blueprint_yield(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                        pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of_check(context)
        row = warehouse.get().query("phase1/partition_yield", [partition.domain, partition.batch]).iloc[0]
        contexts = int(row["contexts"])
        rate = int(row["accepted_contexts"]) / contexts if contexts else 0.0
        gate = pipeline_config.load().quality.min_blueprint_yield
        return dg.AssetCheckResult(passed=rate >= gate, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"yield": round(rate, 4), "gate": gate, "contexts": contexts})

    @dg.asset_check(asset="committee_votes", partitions_def=partitions_def,
                    description="Warns when the judges agree less than the gate (Fleiss' kappa, all criteria).")
    def judge_agreement(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                        pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of_check(context)
        frame = warehouse.get().read_partition("committee_votes", partition.domain, partition.batch)
        vote_sets: dict[str, list[JudgeVote]] = {}
        for row in frame.itertuples(index=False):
            scores = {} if row.abstained else {c: int(getattr(row, c)) for c in
                                               ("correctness", "completeness", "satisfaction", "creativity")}
            vote_sets.setdefault(row.attempt_id, []).append(
                JudgeVote(judge_index=int(row.judge_index), abstained=bool(row.abstained), scores=scores))
        kappa = committee_kappa(list(vote_sets.values()))
        overall = kappa.get("overall")
        gate = pipeline_config.load().quality.min_judge_kappa
        return dg.AssetCheckResult(passed=overall is not None and overall >= gate,
                                   severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"kappa_overall": overall if overall is not None else float("nan"),
                                             "gate": gate, "reviews": len(vote_sets)})

    return [phase1_blueprints, accepted_blueprints_reexecute, blueprint_yield, judge_agreement]

