"""Checks of the Phase 1 assets: a blocking re-execution of the kept blueprints, and warnings when
the yield or the judges' agreement falls below the configured gates."""

import dagster as dg

from apigen_pipeline.defs.shared.environment import environment_for
from apigen_pipeline.defs.shared.metadata import problems_check_result, yield_check_result
from apigen_pipeline.defs.shared.partition_reads import kept_blueprints
from apigen_pipeline.defs.shared.partitions import Partition
from apigen_pipeline.defs.shared.resources import PipelineConfigResource, WarehouseResource
from apigen_pipeline.phase1.committee import committee_kappa
from apigen_pipeline.phase1.rows import judge_vote_sets_from_rows
from apigen_pipeline.phase1.validation.execution import reexecution_problems


def build_phase1_checks(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset="blueprints", blocking=True, partitions_def=partitions_def,
                    description="Every kept blueprint re-executes cleanly on a fresh database to its stored state hash.")
    def accepted_blueprints_reexecute(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                                      pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of(context)
        environment, _ = environment_for(pipeline_config, partition.domain)
        blueprints = kept_blueprints(warehouse.get(), partition)
        problems = reexecution_problems(blueprints, environment)
        return problems_check_result(problems, len(blueprints), "blueprints")

    @dg.asset_check(asset="blueprints", partitions_def=partitions_def,
                    description="Warns when the share of contexts with an accepted blueprint falls below the gate.")
    def blueprint_yield(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                        pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of(context)
        row = warehouse.get().query("phase1/partition_yield", [partition.domain, partition.batch]).iloc[0]
        contexts = int(row["contexts"])
        rate = int(row["accepted_contexts"]) / contexts if contexts else 0.0
        gate = pipeline_config.load().quality.min_blueprint_yield
        return yield_check_result(rate, gate, contexts=contexts)

    @dg.asset_check(asset="committee_votes", partitions_def=partitions_def,
                    description="Warns when the judges agree less than the gate (Fleiss' kappa, all criteria).")
    def judge_agreement(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                        pipeline_config: PipelineConfigResource) -> dg.AssetCheckResult:
        partition = Partition.of(context)
        frame = warehouse.get().read_partition("committee_votes", partition.domain, partition.batch)
        vote_sets = judge_vote_sets_from_rows(frame.to_dict("records"))
        overall = committee_kappa(vote_sets).get("overall")
        gate = pipeline_config.load().quality.min_judge_kappa
        return dg.AssetCheckResult(passed=overall is not None and overall >= gate,
                                   severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"kappa_overall": overall if overall is not None else float("nan"),
                                             "gate": gate, "reviews": len(vote_sets)})

    return [accepted_blueprints_reexecute, blueprint_yield, judge_agreement]
