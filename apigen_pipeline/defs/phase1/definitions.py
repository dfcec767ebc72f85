"""The Phase 1 area: task contexts, then blueprints with their committee votes and recombinations."""

import dagster as dg

from apigen_pipeline.defs.phase1.assets import build_phase1_blueprints, build_task_contexts
from apigen_pipeline.defs.phase1.checks import build_phase1_checks


def phase1_definitions(partitions_def: dg.PartitionsDefinition) -> dg.Definitions:
    return dg.Definitions(assets=[build_task_contexts(partitions_def), build_phase1_blueprints(partitions_def)],
                          asset_checks=build_phase1_checks(partitions_def))
