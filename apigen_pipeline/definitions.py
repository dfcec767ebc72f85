"""The Dagster code location: `dagster dev` (via workspace.yaml) and `apigen run` load this."""

from __future__ import annotations

import os
import warnings

import dagster as dg
from dagster_aws.s3 import S3Resource

from apigen_pipeline.config import PipelineConfig, load_pipeline_config
from apigen_pipeline.defs.automation import automation_definitions
from apigen_pipeline.defs.context_assets import build_task_contexts
from apigen_pipeline.defs.environment_assets import build_environment_api_specs
from apigen_pipeline.defs.executors import executor_from_env
from apigen_pipeline.defs.llm_resource import LLMResource
from apigen_pipeline.defs.partitions import build_partitions
from apigen_pipeline.defs.phase1_assets import build_phase1_assets
from apigen_pipeline.defs.phase2_assets import build_phase2_assets
from apigen_pipeline.defs.policies import LLM_STAGE_BACKFILL_POLICY, TRANSIENT_FAILURE_RETRY_POLICY
from apigen_pipeline.defs.resources import PipelineConfigResource, WarehouseResource

# Chosen on purpose, with their status known: per-partition asset checks (preview) gate each batch on
# its own rows, and backfill policies (beta) keep LLM backfills to one partition per run.
warnings.filterwarnings("ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*")
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")


def s3_resource_from_env() -> S3Resource:
    """Endpoint (for S3-compatible servers) and region from the environment; credentials come from the
    standard AWS chain (env vars, profiles, instance roles), never from config files."""
    return S3Resource(endpoint_url=os.environ.get("APIGEN_S3_ENDPOINT_URL") or None,
                      region_name=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1")


def build_definitions(config: PipelineConfig | None = None, config_path: str | None = None,
                      home: str | None = None) -> dg.Definitions:
    """The code location: the asset graph plus its schedule, backfill sensor and job."""
    config = config or load_pipeline_config(config_path)
    graph = build_asset_graph(config, config_path, home)
    assets = list(graph.assets or [])
    return dg.Definitions.merge(graph, automation_definitions(config, assets[0].partitions_def, assets))


def build_asset_graph(config: PipelineConfig, config_path: str | None = None,
                      home: str | None = None) -> dg.Definitions:
    """Assets, checks, resources and executor for a config. Domains are partition keys, fixed at load time."""
    partitions = build_partitions(config)
    # Every batch asset shares one backfill policy, so a backfill makes one run per partition.
    specs = build_environment_api_specs(partitions, LLM_STAGE_BACKFILL_POLICY)
    contexts = build_task_contexts(partitions, specs, LLM_STAGE_BACKFILL_POLICY)
    phase1_assets, *phase1_checks = build_phase1_assets(partitions, contexts, TRANSIENT_FAILURE_RETRY_POLICY,
                                                        LLM_STAGE_BACKFILL_POLICY)
    *phase2_assets, replay_check, yield_check = build_phase2_assets(partitions, TRANSIENT_FAILURE_RETRY_POLICY,
                                                                    LLM_STAGE_BACKFILL_POLICY)
    return dg.Definitions(
        assets=[specs, contexts, phase1_assets, *phase2_assets],
        asset_checks=[*phase1_checks, replay_check, yield_check],
        executor=executor_from_env(),
        resources={
            "warehouse": WarehouseResource(home=home),
            "pipeline_config": PipelineConfigResource(config_json=config.model_dump_json(), config_path=config_path),
            "llm": LLMResource(),
            "s3": s3_resource_from_env(),
        },
    )


defs = build_definitions()
