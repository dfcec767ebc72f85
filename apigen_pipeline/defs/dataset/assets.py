"""Stages 4-5: the exported training dataset, pass^k evaluation and the generation report."""

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_aws.s3 import S3Resource

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.dataset.card import DatasetCardInfo
from apigen_pipeline.dataset.export import ExportSource, export_dataset
from apigen_pipeline.dataset.passk import run_passk_evaluation
from apigen_pipeline.dataset.report import (
    GenerationReport,
    RolePromptTokens,
    UsageTotals,
    build_generation_report,
    generation_report_rows,
    markdown_prompt_tokens,
)
from apigen_pipeline.dataset.rows import passk_result_rows
from apigen_pipeline.dataset.targets import LocalTarget, S3Target
from apigen_pipeline.defs.shared.environment import environment_for
from apigen_pipeline.defs.shared.frames import partition_frame
from apigen_pipeline.defs.shared.llm_resource import LLMResource, llm_metadata, simulated_backend
from apigen_pipeline.defs.shared.metadata import markdown_counts
from apigen_pipeline.defs.shared.partition_reads import (
    kept_blueprints,
    kept_trajectories,
    prompt_tokens_by_role,
    usage_totals,
)
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.defs.shared.policies import (
    LLM_STAGE_BACKFILL_POLICY,
    TRANSIENT_FAILURE_RETRY_POLICY,
    llm_stage_asset_options,
    non_retryable,
)
from apigen_pipeline.defs.shared.progress import logged_progress
from apigen_pipeline.defs.shared.resources import PipelineConfigResource, WarehouseResource
from apigen_pipeline.defs.shared.tables import CODE_VERSIONS, table_metadata
from apigen_pipeline.llm.config import ModelRef
from apigen_pipeline.llm.gateway import CallContext
from apigen_pipeline.llm.provenance import Simulated, combined_label
from apigen_pipeline.paths import exports_dir
from apigen_pipeline.phase1.models import Phase1Stats
from apigen_pipeline.phase2.agent import agent_system_text, agent_tools
from apigen_pipeline.phase2.models import Phase2Stats
from apigen_pipeline.warehouse import PartitionWrite, Warehouse


def build_training_dataset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="training_dataset", code_version=CODE_VERSIONS["training_dataset"], partitions_def=partitions_def, deps=["trajectories"], group_name="dataset",
        kinds={"python", "parquet", "s3"}, owners=["team:apigen"], retry_policy=TRANSIENT_FAILURE_RETRY_POLICY,
        backfill_policy=LLM_STAGE_BACKFILL_POLICY,
        description="Verified trajectories exported as APIGen-MT ShareGPT rows and OpenAI chat messages with "
                    "tool calls (Parquet + JSONL), lineage sidecars and a dataset card, and the accepted blueprints "
                    "as tau-bench task files (tasks/); to a folder or s3://.")
    def training_dataset(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         pipeline_config: PipelineConfigResource, s3: S3Resource) -> dg.MaterializeResult:
        partition = Partition.of(context)
        config = pipeline_config.load()
        environment, _ = environment_for(pipeline_config, partition.domain)
        store = warehouse.get()
        usage = usage_totals(store, partition)
        card = dataset_card_info(config, usage, prompt_tokens_by_role(store, partition))
        source = ExportSource(domain=partition.domain, batch=partition.batch,
                              system_text=agent_system_text(environment, partition.domain, config.phase2.prompts.agent),
                              tools=agent_tools(environment), write_tools=environment.write_tools)
        target, location = export_target(config.export.target, store, s3)
        blueprints = {b.blueprint_id: b for b in kept_blueprints(store, partition)}
        trajectories = kept_trajectories(store, partition)
        progress = logged_progress(context.log, "training_dataset: trajectories rendered and checked",
                                   total=sum(1 for t in trajectories if t.kept))
        manifest = export_dataset(trajectories, source, card, target, blueprints, on_checked=progress.advance)
        progress.finish()
        return dg.MaterializeResult(metadata={
            "dagster/row_count": manifest.rows,
            "location": location,
            "files": dg.MetadataValue.md("\n".join(f"- `{f.location}` ({f.size_bytes} bytes)" for f in manifest.files)),
            "rows_dropped": sum(manifest.dropped_by_reason.values()),
            "dropped_by_reason": markdown_counts(manifest.dropped_by_reason, "reason"),
            "simulated": manifest.simulated or "unknown",
            "not_for_training": bool(manifest.card["not_for_training"]),
            "cost_usd": round(usage.cost_usd, 6),
            "projected_cost_usd": round(usage.projected_cost_usd, 6),
        })

    return training_dataset


def dataset_card_info(config: PipelineConfig, usage: UsageTotals,
                      prompt_tokens: Mapping[str, RolePromptTokens] | None = None) -> DatasetCardInfo:
    """What the card says about the configuration: models per role, prompts, cost. Whether the rows are
    simulated is not decided here: the exporter reads it from the rows' provenance."""
    return DatasetCardInfo(
        models={role: _model_label(config.llm.route(role)) for role in
                ("generator", "summarizer", "recombiner", "human", "critic", "agent")}
        | {f"judge_{i}": _model_label(config.llm.route("judge", i)) for i in range(len(config.llm.judges))},
        prompt_versions={"agent": config.phase2.prompts.agent, "human": config.phase2.prompts.human,
                         "critic": config.phase2.prompts.critic} | config.phase1.prompts.model_dump(),
        config_hash=config.fingerprint(), cost_usd=usage.cost_usd, projected_cost_usd=usage.projected_cost_usd,
        input_tokens=usage.input_tokens, cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
        prompt_tokens_by_role={role: tokens.model_dump() for role, tokens in (prompt_tokens or {}).items()})


def build_passk_evaluation(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="passk_evaluation", code_version=CODE_VERSIONS["passk_evaluation"], partitions_def=partitions_def, deps=["blueprints"], group_name="dataset",
        kinds={"python", "duckdb"}, owners=["team:apigen"], op_tags={"apigen/stage": "evaluation"},
        **llm_stage_asset_options(),
        description="pass^1..pass^k of the configured agent model on the partition's accepted blueprints, with the "
                    "same human simulator and verification: the generated tasks double as a benchmark. Opt-in: "
                    "batch runs include it with evaluation.enabled; materializing it evaluates the chosen partitions.")
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
        if blueprints:  # materializing this asset is the opt-in (batch runs leave it out unless enabled)
            environment, _ = environment_for(pipeline_config, partition.domain)
            call_context = CallContext(domain=partition.domain, batch=partition.batch, run_id=context.run.run_id,
                                       asset="passk_evaluation")
            simulated = simulated_backend(config, partition.domain, environment, settings)
            with llm.bind(settings, store, call_context, simulated, log=context.log) as client:
                result = run_passk_evaluation(blueprints, environment, client, evaluation.k, label,
                                              settings=config.phase2, domain=partition.domain)
            rows = passk_result_rows(result.results)
            for item in result.results:
                metadata[f"pass_hat_{item.k}"] = round(item.value, 4)
            metadata.update(llm_metadata(client.gateway))
        store.replace_partition(partition.domain, partition.batch, [
            PartitionWrite("passk_results", partition_frame(rows, partition, context, config.fingerprint()))])
        return dg.MaterializeResult(metadata={"dagster/row_count": len(rows), **table_metadata(store, "passk_results"),
                                              **metadata})

    return passk_evaluation


def build_generation_report_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        # It sums every LLM request of the partition, so it waits for each stage that sends any.
        name="generation_report", code_version=CODE_VERSIONS["generation_report"], partitions_def=partitions_def, deps=["training_dataset", "passk_evaluation"],
        group_name="dataset",
        kinds={"python", "duckdb"}, owners=["team:apigen"], backfill_policy=LLM_STAGE_BACKFILL_POLICY,
        description="The funnel from contexts to dataset rows with yield per stage, failures by reason, and "
                    "tokens and cost per verified trajectory.")
    def generation_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                          pipeline_config: PipelineConfigResource) -> dg.MaterializeResult:
        partition = Partition.of(context)
        config = pipeline_config.load()
        store = warehouse.get()
        stats = dict(store.query("report/stage_stats", [partition.domain, partition.batch]).itertuples(index=False))
        if "phase1" not in stats or "phase2" not in stats:
            raise non_retryable(f"stage statistics missing for {partition.domain}/{partition.batch} "
                                f"(have: {sorted(stats)}); materialize blueprints and trajectories first")
        dataset_rows = len(store.query("phase2/kept_trajectories", [partition.domain, partition.batch]))
        report = build_generation_report(partition.domain, partition.batch,
                                         Phase1Stats.model_validate_json(stats["phase1"]),
                                         Phase2Stats.model_validate_json(stats["phase2"]), dataset_rows,
                                         usage_totals(store, partition), prompt_tokens_by_role(store, partition))
        rows = generation_report_rows(report)
        store.replace_partition(partition.domain, partition.batch, [
            PartitionWrite("generation_report", partition_frame(rows, partition, context, config.fingerprint()))])
        simulated = combined_label(label for table in ("blueprints", "trajectories")
                                   for label in store.read_partition(table, partition.domain, partition.batch)
                                   .get("simulated", pd.Series(dtype=object)).dropna())
        return dg.MaterializeResult(metadata={"dagster/row_count": len(rows), **table_metadata(store, "generation_report"),
                                              **report_metadata(report, simulated)})

    return generation_report


SIMULATED_YIELDS_NOTE = ("Simulated answers (some or all): these yields rehearse the pipeline and measure nothing "
                         "about any model.")


def report_metadata(report: GenerationReport, simulated: Simulated | None = None) -> dict[str, object]:
    """`simulated`: the provenance of the partition's rows; yields of anything simulated say what they are."""
    funnel = ([f"_{SIMULATED_YIELDS_NOTE}_", ""] if simulated in ("true", "mixed") else [])
    funnel += ["| stage | count | yield | of |", "|---|---:|---:|---|"]
    funnel += [f"| {s.stage} | {s.count} | "
               f"{'' if s.yield_from_previous is None else f'{s.yield_from_previous:.1%}'} | {s.base or ''} |"
               for s in report.stages]
    failures = ["| phase | reason | count |", "|---|---|---:|"]
    failures += [f"| {phase} | {reason} | {count} |" for phase, reasons in report.failures_by_reason.items()
                 for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])]
    metadata: dict[str, object] = {
        "funnel": dg.MetadataValue.md("\n".join(funnel)),
        "failures_by_reason": dg.MetadataValue.md("\n".join(failures)),
        "verified_trajectories": report.verified_trajectories,
        "prompt_tokens_by_role": dg.MetadataValue.md(markdown_prompt_tokens(report.prompt_tokens_by_role)),
        **{f"prompt_tokens_p50_{role}": tokens.p50 for role, tokens in report.prompt_tokens_by_role.items()},
        "simulated": simulated or "unknown",
        "cost_usd": round(report.usage.cost_usd, 6),
        "projected_cost_usd": round(report.usage.projected_cost_usd, 6),
    }
    for stage in report.stages:
        metadata[f"count_{stage.stage}"] = stage.count
    for name in ("tokens_per_verified_trajectory", "cost_per_verified_trajectory",
                 "projected_cost_per_verified_trajectory"):
        value = getattr(report, name)
        metadata[name] = round(value, 6) if value is not None else float("nan")
    hit_rate = report.usage.prompt_cache_hit_rate
    metadata["prompt_cache_hit_rate"] = hit_rate if hit_rate is not None else float("nan")
    return metadata


def export_target(configured: str | None, store: Warehouse, s3: S3Resource):
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
