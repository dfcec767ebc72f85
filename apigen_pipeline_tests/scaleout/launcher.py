"""The launcher "machine" of the scale-out test, run as a subprocess with that machine's environment:

    python -m apigen_pipeline_tests.scaleout.launcher materialize PARTITION_KEY [CONTEXTS]
    python -m apigen_pipeline_tests.scaleout.launcher reexecute RUN_ID
    python -m apigen_pipeline_tests.scaleout.launcher llm-stats RUN_ID

Does what `dagster asset materialize --select '*' --partition KEY -m apigen_pipeline.definitions`
does (the executor comes from the Definitions, so from APIGEN_EXECUTOR), but prints the run id as JSON,
and adds re-execution from failure. Nothing here configures storage or executors: that is all
environment, as on real machines.
"""

from __future__ import annotations

import json
import os
import sys

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

CODE_MODULE = os.environ.get("APIGEN_SCALEOUT_CODE_MODULE", "apigen_pipeline.definitions")


def _job():
    repository = ReconstructableRepository.for_module(CODE_MODULE, "defs", working_directory=os.getcwd())
    definition = repository.get_definition()
    job_def = definition.get_implicit_job_def_for_assets(list(definition.asset_graph.get_all_asset_keys()))
    return repository.get_reconstructable_job(job_def.name), job_def


def materialize(partition_key: str, contexts: str | None = None) -> dict:
    job, job_def = _job()
    tags = job_def.get_tags_for_partition_key(partition_key, selected_asset_keys=None)
    run_config = {"ops": {"task_contexts": {"config": {"contexts_per_partition": int(contexts)}}}} if contexts else {}
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(job, instance, run_config=run_config,
                                tags={**tags, "apigen/source": "scaleout-test"})
        return {"run_id": result.run_id, "success": result.success, "executor": job_def.executor_def.name}


def reexecute(run_id: str) -> dict:
    job, _ = _job()
    with dg.DagsterInstance.get() as instance:
        options = dg.ReexecutionOptions.from_failure(run_id, instance)
        # As the UI does: the re-execution keeps the parent's partition and run config.
        parent = instance.get_run_by_id(run_id)
        tags = {key: value for key, value in parent.tags.items() if key.startswith("dagster/partition")}
        result = dg.execute_job(job, instance, run_config=parent.run_config, tags=tags, reexecution_options=options)
        return {"run_id": result.run_id, "success": result.success}


def llm_stats(run_id: str) -> dict:
    """LLM requests actually sent and cache hits per step of one run, from materialization metadata."""
    per_step: dict[str, dict[str, int]] = {}
    with dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        for record in records:
            event = record.event_log_entry.dagster_event
            metadata = event.event_specific_data.materialization.metadata
            if "llm_requests_answered" not in metadata:
                continue
            # A multi-asset repeats its step's numbers on each output: count a step once.
            per_step[event.step_key] = {name: int(metadata[name].value) for name in
                                        ("llm_requests_answered", "llm_cache_hits")}
        status = instance.get_run_by_id(run_id).status.value
    return {"status": status, "steps": per_step}


def main(argv: list[str]) -> int:
    command, *arguments = argv
    result = {"materialize": materialize, "reexecute": reexecute, "llm-stats": llm_stats}[command](*arguments)
    print("SCALEOUT_RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
