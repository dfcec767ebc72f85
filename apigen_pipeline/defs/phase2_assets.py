"""Stages 3-5: trajectories (APIGen-MT Phase 2), the exported training dataset, pass^k evaluation and
the generation report. Thin: read inputs, call the core, write the partition, attach metadata."""

from collections import Counter
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from apigen_pipeline.dataset.card import DatasetCardInfo
from apigen_pipeline.dataset.export import ExportSource, export_dataset
from apigen_pipeline.dataset.passk import run_passk_evaluation
from apigen_pipeline.dataset.report import UsageTotals, build_generation_report, generation_report_rows
from apigen_pipeline.dataset.rows import passk_result_rows
from apigen_pipeline.dataset.targets import LocalTarget, S3Target
from apigen_pipeline.defs.environment_assets import environment_for
from apigen_pipeline.defs.frames import partition_frame
from apigen_pipeline.defs.llm_resource import LLMResource, llm_metadata
from apigen_pipeline.defs.metadata import failure_list, markdown_counts
from apigen_pipeline.defs.partitions import Partition
from apigen_pipeline.defs.resources import PipelineConfigResource, WarehouseResource
from apigen_pipeline.defs.stage_stats import replace_stage_stats
from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.llm.gateway import CallContext
from apigen_pipeline.paths import exports_dir
from apigen_pipeline.phase1.models import AcceptedBlueprint, Phase1Stats
from apigen_pipeline.phase1.rows import accepted_blueprint_from_row
from apigen_pipeline.phase2.agent import agent_system_text, agent_tools
from apigen_pipeline.phase2.models import Phase2Stats, TrajectoryAttempt
from apigen_pipeline.phase2.rows import trajectory_attempt_rows, trajectory_rows, user_turn_candidate_rows
from apigen_pipeline.phase2.runner import run_phase2
from apigen_pipeline.phase2.stats import turn_count
from apigen_pipeline.simulated import SimulatedBackend
from apigen_pipeline.warehouse import PartitionWrite, Warehouse

LLM_POOL = "llm_api"


def kept_blueprints(store: Warehouse, partition: Partition) -> list[AcceptedBlueprint]:
    frame = store.query("phase1/kept_blueprint_records", [partition.domain, partition.batch])
    return [accepted_blueprint_from_row(row) for row in frame.to_dict("records")]


def build_phase2_assets(partitions_def: dg.PartitionsDefinition, retry_policy: dg.RetryPolicy | None = None,
                        backfill_policy: dg.BackfillPolicy | None = None) -> list:
    @dg.asset(
        name="trajectories", partitions_def=partitions_def, deps=["blueprints"], group_name="phase2",
        kinds={"python", "duckdb"}, owners=["team:apigen"], pool=LLM_POOL, retry_policy=retry_policy,
        backfill_policy=backfill_policy, op_tags={"apigen/stage": "phase2"},
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
        simulated = SimulatedBackend({partition.domain: environment}, config.simulated_phase1, config.simulated_phase2)
        call_context = CallContext(domain=partition.domain, batch=partition.batch, run_id=context.run.run_id,
                                   asset="trajectories")
        with llm.bind(config.llm, store, call_context, simulated) as client:
            result = run_phase2(blueprints, environment, client, config.phase2, domain=partition.domain)
        config_hash = config.fingerprint()
        store.replace_partition(partition.domain, partition.batch, [
            PartitionWrite("trajectory_attempts", partition_frame(trajectory_attempt_rows(result.attempts), partition,
                                                                  context, config_hash)),
            PartitionWrite("user_turn_candidates", partition_frame(user_turn_candidate_rows(result.attempts),
                                                                   partition, context, config_hash)),
            PartitionWrite("trajectories", partition_frame(trajectory_rows(result.attempts), partition, context,
                                                           config_hash)),
        ])
        replace_stage_stats(store, "phase2", result.stats.model_dump_json(), partition, context, config_hash)
        stats = result.stats
        kept = result.trajectories
        played = len({a.blueprint_id for a in result.attempts})
        with_success = len({a.blueprint_id for a in kept})
        metadata: dict[str, object] = {
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
            "audit_findings_by_rule": markdown_counts(dict(stats.audit_findings_by_rule), "rule"),
            "mean_turns": _mean([turn_count(a) for a in kept]),
            "mean_tool_calls": _mean([a.tool_calls for a in kept]),
            "mean_user_turns": _mean([a.user_turns for a in kept]),
            "non_llm_seconds": round(result.timings.total_s - result.timings.llm_s, 3),
            "llm_seconds": round(result.timings.llm_s, 3),
            **llm_metadata(client.gateway),
        }
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset_check(asset="trajectories", blocking=True, partitions_def=partitions_def,
                    description="Every kept trajectory's executed calls replay on a fresh database to the state its "
                                "blueprint's ground truth produces.")
    def kept_trajectories_replay(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                                 pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of_check(context)
        environment, _ = environment_for(pipeline_config, partition.domain)
        store = warehouse.get()
        expected = {b.blueprint_id: b.state_hash for b in kept_blueprints(store, partition)}
        problems: list[str] = []
        frame = store.query("phase2/kept_trajectories", [partition.domain, partition.batch])
        for row in frame.itertuples(index=False):
            attempt = TrajectoryAttempt.model_validate_json(row.attempt_json)
            session = environment.new_session()
            for call in attempt.executed_calls:
                session.execute(call.name, call.arguments)
            if session.state_hash() != expected.get(row.blueprint_id):
                problems.append(f"{row.trajectory_id}: replayed state differs from blueprint {row.blueprint_id}")
        return dg.AssetCheckResult(passed=not problems, metadata={
            "trajectories_checked": len(frame), "failures": len(problems),
            "first_failures": failure_list(problems)})

    @dg.asset_check(asset="trajectories", partitions_def=partitions_def,
                    description="Warns when the share of blueprints with a kept trajectory falls below the gate.")
    def trajectory_yield(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                         pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of_check(context)
        attempts = warehouse.get().read_partition("trajectory_attempts", partition.domain, partition.batch)
        played = attempts["blueprint_id"].nunique() if len(attempts) else 0
        kept = attempts[attempts["kept"]]["blueprint_id"].nunique() if len(attempts) else 0
        rate = kept / played if played else 0.0
        gate = pipeline_config.load().quality.min_trajectory_yield
        return dg.AssetCheckResult(passed=rate >= gate, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"yield": round(rate, 4), "gate": gate, "blueprints": int(played)})

    @dg.asset(
        name="training_dataset", partitions_def=partitions_def, deps=[trajectories], group_name="dataset",
        kinds={"python", "parquet", "s3"}, owners=["team:apigen"], retry_policy=retry_policy,
        backfill_policy=backfill_policy,
        description="Verified trajectories exported as APIGen-MT ShareGPT rows and OpenAI chat messages with "
                    "tool calls (Parquet + JSONL), lineage sidecars and a dataset card; to a folder or s3://.")
    def training_dataset(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         pipeline_config: PipelineConfigResource, s3: S3Resource) -> dg.MaterializeResult:
        partition = Partition.of(context)
        config = pipeline_config.load()
        environment, _ = environment_for(pipeline_config, partition.domain)
        store = warehouse.get()
        frame = store.query("phase2/kept_trajectories", [partition.domain, partition.batch])
        attempts = [TrajectoryAttempt.model_validate_json(text) for text in frame["attempt_json"]]
        usage = _usage(store, partition)
        simulated = config.llm.route("agent").target.provider == "simulated"
        card = DatasetCardInfo(
            backend="simulated" if simulated else "live", simulated=simulated,
            models={role: _model_label(config.llm.route(role)) for role in
                    ("generator", "summarizer", "recombiner", "human", "critic", "agent")}
            | {f"judge_{i}": _model_label(config.llm.route("judge", i)) for i in range(len(config.llm.judges))},
            prompt_versions={"agent": config.phase2.prompts.agent, "human": config.phase2.prompts.human,
                             "critic": config.phase2.prompts.critic},
            config_hash=config.fingerprint(), cost_usd=usage.cost_usd, projected_cost_usd=usage.projected_cost_usd,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)
        source = ExportSource(domain=partition.domain, batch=partition.batch,
                              system_text=agent_system_text(environment, partition.domain, config.phase2.prompts.agent),
                              tools=agent_tools(environment), write_tools=environment.write_tools)
        target, location = _export_target(config.export.target, store, s3)
        manifest = export_dataset(attempts, source, card, target,
                                  {b.blueprint_id: b for b in kept_blueprints(store, partition)})
        return dg.MaterializeResult(metadata={
            "dagster/row_count": manifest.rows,
            "location": location,
            "files": dg.MetadataValue.md("\n".join(f"- `{f.location}` ({f.size_bytes} bytes)" for f in manifest.files)),
            "simulated_not_for_training": simulated,
            "cost_usd": round(usage.cost_usd, 6),
            "projected_cost_usd": round(usage.projected_cost_usd, 6),
        })

    @dg.asset(
        name="passk_evaluation", partitions_def=partitions_def, deps=["blueprints"], group_name="dataset",
        kinds={"python", "duckdb"}, owners=["team:apigen"], pool=LLM_POOL, retry_policy=retry_policy,
        backfill_policy=backfill_policy, op_tags={"apigen/stage": "evaluation"},
        description="pass^1..pass^k of the configured agent model on the partition's accepted blueprints, with the "
                    "same human simulator and verification: the generated tasks double as a benchmark.")
    def passk_evaluation(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         pipeline_config: PipelineConfigResource, llm: LLMResource) -> dg.MaterializeResult:
        partition = Partition.of(context)
        config = pipeline_config.load()
        store = warehouse.get()
        evaluation = config.evaluation
        blueprints = kept_blueprints(store, partition)[: evaluation.max_tasks]
        rows: list[dict] = []
        settings = config.llm
        if evaluation.agent_model:
            settings = settings.model_copy(update={"roles": settings.roles.model_copy(
                update={"agent": ModelRef.parse(evaluation.agent_model)})})
        label = settings.route("agent").target.label
        metadata: dict[str, object] = {"tasks": len(blueprints), "agent": label}
        if evaluation.enabled and blueprints:
            environment, _ = environment_for(pipeline_config, partition.domain)
            simulated = SimulatedBackend({partition.domain: environment}, config.simulated_phase1,
                                         config.simulated_phase2)
            call_context = CallContext(domain=partition.domain, batch=partition.batch, run_id=context.run.run_id,
                                       asset="passk_evaluation")
            with llm.bind(settings, store, call_context, simulated) as client:
                result = run_passk_evaluation(blueprints, environment, client, evaluation.k, label,
                                              settings=config.phase2, domain=partition.domain)
            rows = passk_result_rows(result.results)
            for item in result.results:
                metadata[f"pass_hat_{item.k}"] = round(item.value, 4)
            metadata.update(llm_metadata(client.gateway))
        store.replace_partition(partition.domain, partition.batch, [
            PartitionWrite("passk_results", partition_frame(rows, partition, context, config.fingerprint()))])
        return dg.MaterializeResult(metadata={"dagster/row_count": len(rows), **metadata})

    @dg.asset(
        # It sums every LLM request of the partition, so it waits for each stage that sends any.
        name="generation_report", partitions_def=partitions_def, deps=[training_dataset, passk_evaluation],
        group_name="dataset",
        kinds={"python", "duckdb"}, owners=["team:apigen"], backfill_policy=backfill_policy,
        description="The funnel from contexts to dataset rows with yield per stage, failures by reason, and "
                    "tokens and cost per verified trajectory.")
    def generation_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                          pipeline_config: PipelineConfigResource) -> dg.MaterializeResult:
        partition = Partition.of(context)
        config = pipeline_config.load()
        store = warehouse.get()
        stats = dict(store.query("report/stage_stats", [partition.domain, partition.batch]).itertuples(index=False))
        if "phase1" not in stats or "phase2" not in stats:
            raise dg.Failure(description=f"stage statistics missing for {partition.domain}/{partition.batch} "
                                         f"(have: {sorted(stats)}); materialize blueprints and trajectories first",
                             allow_retries=False)
        dataset_rows = len(store.query("phase2/kept_trajectories", [partition.domain, partition.batch]))
        report = build_generation_report(partition.domain, partition.batch,
                                         Phase1Stats.model_validate_json(stats["phase1"]),
                                         Phase2Stats.model_validate_json(stats["phase2"]), dataset_rows,
                                         _usage(store, partition))
        rows = generation_report_rows(report)
        store.replace_partition(partition.domain, partition.batch, [
            PartitionWrite("generation_report", partition_frame(rows, partition, context, config.fingerprint()))])
        funnel = ["| stage | count | yield from previous |", "|---|---:|---:|"]
        funnel += [f"| {s.stage} | {s.count} | "
                   f"{'' if s.yield_from_previous is None else f'{s.yield_from_previous:.1%}'} |" for s in report.stages]
        failures = ["| phase | reason | count |", "|---|---|---:|"]
        failures += [f"| {phase} | {reason} | {count} |" for phase, reasons in report.failures_by_reason.items()
                     for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])]
        metadata: dict[str, object] = {
            "dagster/row_count": len(rows),
            "funnel": dg.MetadataValue.md("\n".join(funnel)),
            "failures_by_reason": dg.MetadataValue.md("\n".join(failures)),
            "verified_trajectories": report.verified_trajectories,
            "cost_usd": round(report.usage.cost_usd, 6),
            "projected_cost_usd": round(report.usage.projected_cost_usd, 6),
        }
        for stage in report.stages:
            metadata[f"count_{stage.stage}"] = stage.count
        for name in ("tokens_per_verified_trajectory", "cost_per_verified_trajectory",
                     "projected_cost_per_verified_trajectory"):
            value = getattr(report, name)
            metadata[name] = round(value, 6) if value is not None else float("nan")
        return dg.MaterializeResult(metadata=metadata)

    return [trajectories, training_dataset, passk_evaluation, generation_report,
            kept_trajectories_replay, trajectory_yield]


def _usage(store: Warehouse, partition: Partition) -> UsageTotals:
    row = store.query("report/usage_totals", [partition.domain, partition.batch]).iloc[0]
    return UsageTotals(input_tokens=int(row["input_tokens"]), output_tokens=int(row["output_tokens"]),
                       cached_input_tokens=int(row["cached_input_tokens"]), cost_usd=float(row["cost_usd"]),
                       projected_cost_usd=float(row["projected_cost_usd"]))


def _export_target(configured: str | None, store: Warehouse, s3: S3Resource):
    """The export root; the files land at `<format>/<domain>/<batch>.<ext>` below it."""
    if configured and configured.startswith("s3://"):
        bucket, _, prefix = configured[5:].partition("/")
        return S3Target(s3.get_client(), bucket, prefix.rstrip("/")), configured.rstrip("/")
    root = Path(configured) if configured else exports_dir(store.path.parent)
    return LocalTarget(root), str(root)


def _model_label(route) -> str:
    """What answered, and for a rehearsal on the simulated backend, which model it stood in for."""
    if route.target.provider == "simulated":
        return f"simulated (rehearsing {route.projection.label})"
    return route.target.label


def _mean(values: list[int]) -> float:
    return round(sum(values) / len(values), 3) if values else 0.0

