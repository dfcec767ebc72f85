"""The environment area: one asset describing each domain's environment."""

import dagster as dg

from apigen_pipeline.defs.environment.assets import build_environment_api_specs


def environment_definitions(partitions_def: dg.PartitionsDefinition) -> dg.Definitions:
    return dg.Definitions(assets=[build_environment_api_specs(partitions_def)])
