"""The Phase 2 area: simulated, verified and audited trajectories."""

import dagster as dg

from apigen_pipeline.defs.phase2.assets import build_trajectories
from apigen_pipeline.defs.phase2.checks import build_phase2_checks


def phase2_definitions(partitions_def: dg.PartitionsDefinition) -> dg.Definitions:
    return dg.Definitions(assets=[build_trajectories(partitions_def)],
                          asset_checks=build_phase2_checks(partitions_def))
