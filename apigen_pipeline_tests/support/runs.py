"""Running the whole asset graph of one partition in process, with the lines its steps logged."""

from __future__ import annotations

import dagster as dg

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.definitions import build_definitions
from apigen_pipeline.defs.shared.partitions import Partition


def run_partition_logged(config: PipelineConfig, domain: str, batch: str, **options: object
                         ) -> tuple[dg.ExecuteInProcessResult, list[str]]:
    """The run and the lines its steps logged (`context.log`), as the UI's run page shows them."""
    job = build_definitions(config=config).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key=Partition(domain, batch).key(), instance=instance,
                                        raise_on_error=False, **options)
        lines = [entry.user_message for entry in instance.all_logs(result.run_id) if not entry.is_dagster_event]
    return result, lines
