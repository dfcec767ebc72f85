"""The Dagster code location: `dagster dev` (via workspace.yaml) and `apigen run` load this."""

from __future__ import annotations

import dagster as dg

from apigen_pipeline.config import PipelineConfig, load_pipeline_config
from apigen_pipeline.defs.context_assets import build_task_contexts
from apigen_pipeline.defs.environment_assets import build_environment_api_specs
from apigen_pipeline.defs.llm_resource import LLMResource
from apigen_pipeline.defs.partitions import build_partitions
from apigen_pipeline.defs.phase1_assets import build_phase1_assets
from apigen_pipeline.defs.resources import PipelineConfigResource, WarehouseResource


def build_definitions(config: PipelineConfig | None = None, config_path: str | None = None,
                      home: str | None = None) -> dg.Definitions:
    """The asset graph for a config. Domains are partition keys, so they are fixed at load time."""
    config = config or load_pipeline_config(config_path)
    partitions = build_partitions(config)
    specs = build_environment_api_specs(partitions)
    contexts = build_task_contexts(partitions, specs)
    phase1 = build_phase1_assets(partitions, contexts)
    return dg.Definitions(
        assets=[specs, contexts, phase1[0]],
        asset_checks=phase1[1:],
        resources={
            "warehouse": WarehouseResource(home=home),
            "pipeline_config": PipelineConfigResource(config_json=config.model_dump_json(), config_path=config_path),
            "llm": LLMResource(),
        },
    )


defs = build_definitions()
