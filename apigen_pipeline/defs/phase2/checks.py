"""Checks of the trajectories: a blocking replay of the kept ones, and a warning when the share of
blueprints with a kept trajectory falls below the configured gate."""

import dagster as dg

from apigen_pipeline.defs.shared.environment import environment_for
from apigen_pipeline.defs.shared.metadata import problems_check_result, yield_check_result
from apigen_pipeline.defs.shared.partition_reads import kept_blueprints, kept_trajectories
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.defs.shared.resources import PipelineConfigResource, WarehouseResource
from apigen_pipeline.phase2.verification import trajectory_replay_problems


def build_phase2_checks(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset="trajectories", blocking=True, partitions_def=partitions_def,
                    description="Every kept trajectory's executed calls replay on a fresh database to the state its "
                                "blueprint's ground truth produces.")
    def kept_trajectories_replay(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                                 pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of(context)
        environment, _ = environment_for(pipeline_config, partition.domain)
        store = warehouse.get()
        trajectories = kept_trajectories(store, partition)
        problems = trajectory_replay_problems(trajectories, kept_blueprints(store, partition), environment)
        return problems_check_result(problems, len(trajectories), "trajectories")

    @dg.asset_check(asset="trajectories", partitions_def=partitions_def,
                    description="Warns when the share of blueprints with a kept trajectory falls below the gate.")
    def trajectory_yield(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                         pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of(context)
        attempts = warehouse.get().read_partition("trajectory_attempts", partition.domain, partition.batch)
        played = attempts["blueprint_id"].nunique() if len(attempts) else 0
        kept = attempts[attempts["kept"]]["blueprint_id"].nunique() if len(attempts) else 0
        rate = kept / played if played else 0.0
        gate = pipeline_config.load().quality.min_trajectory_yield
        return yield_check_result(rate, gate, blueprints=int(played))

    return [kept_trajectories_replay, trajectory_yield]
