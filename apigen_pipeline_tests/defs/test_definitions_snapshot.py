"""The code location's shape, as a reviewed snapshot: asset keys, groups, deps, kinds, pools, op tags,
retry and backfill policies, checks (blocking or not), the partitions, jobs, schedules, sensors,
resources and executor. A change to any of them fails here with a diff until the snapshot is
regenerated on purpose, with:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest apigen_pipeline_tests/defs/test_definitions_snapshot.py
"""

from __future__ import annotations

import difflib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.definitions import build_definitions

SNAPSHOT = Path(__file__).parent / "__snapshots__" / "definitions.json"
# Fixed on purpose (not the defaults): the snapshot changes when the code does, not when a default does.
SNAPSHOT_CONFIG = {
    "domains": [{"name": "retail"}, {"name": "airline"}],
    "batch_start_date": "2026-11-01",
    "automation": {"batch_cron": "0 0 * * *", "backfill_interval_seconds": 60},
}


def describe_partitions(partitions_def: dg.PartitionsDefinition | None) -> Any:
    """Never the list of time-window keys, which grows with today's date."""
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return {d.name: describe_partitions(d.partitions_def) for d in partitions_def.partitions_defs}
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return {"type": type(partitions_def).__name__, "start": partitions_def.start.isoformat(),
                "cron": partitions_def.cron_schedule, "timezone": partitions_def.timezone,
                "fmt": partitions_def.fmt, "end_offset": partitions_def.end_offset}
    return {"type": type(partitions_def).__name__, "keys": list(partitions_def.get_partition_keys())}


def describe_retry(policy: dg.RetryPolicy | None) -> Any:
    if policy is None:
        return None
    return {"max_retries": policy.max_retries, "delay": policy.delay, "backoff": str(policy.backoff),
            "jitter": str(policy.jitter)}


def describe_assets(defs: dg.Definitions) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    for assets_def in defs.assets or []:
        assert isinstance(assets_def, dg.AssetsDefinition)
        for key, spec in assets_def.specs_by_key.items():
            shape[key.to_user_string()] = {
                "op": assets_def.op.name, "group": spec.group_name,
                "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
                "kinds": sorted(spec.kinds), "owners": sorted(spec.owners), "code_version": spec.code_version,
                "partitions": describe_partitions(assets_def.partitions_def),
                "pool": assets_def.op.pool, "op_tags": dict(assets_def.op.tags),
                "retry_policy": describe_retry(assets_def.op.retry_policy),
                "backfill_policy": str(assets_def.backfill_policy)}
    return shape


def describe_checks(defs: dg.Definitions) -> dict[str, Any]:
    shape: dict[str, Any] = {}
    for checks_def in defs.asset_checks or []:
        for spec in checks_def.check_specs:
            shape[f"{spec.asset_key.to_user_string()}:{spec.name}"] = {
                "blocking": spec.blocking, "partitions": describe_partitions(spec.partitions_def),
                "op": checks_def.op.name}
    return shape


def describe(defs: dg.Definitions) -> dict[str, Any]:
    jobs = [defs.resolve_job_def(job.name) for job in defs.jobs or []]
    return {
        "assets": describe_assets(defs),
        "checks": describe_checks(defs),
        "jobs": {job.name: {"assets": sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys),
                            "tags": dict(job.tags)} for job in jobs},
        "schedules": {s.name: {"job": s.job_name, "cron": s.cron_schedule, "timezone": s.execution_timezone,
                               "default_status": str(s.default_status)} for s in defs.schedules or []},
        "sensors": {s.name: {"jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
                             "interval_s": s.minimum_interval_seconds,
                             "default_status": str(s.default_status)} for s in defs.sensors or []},
        "resources": {key: type(resource).__name__ for key, resource in sorted((defs.resources or {}).items())},
        "executor": defs.executor.name if isinstance(defs.executor, dg.ExecutorDefinition) else None,
    }


def render(defs: dg.Definitions) -> str:
    return json.dumps(describe(defs), indent=2, sort_keys=True) + "\n"


def snapshot_diff(expected: str, actual: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                        fromfile=str(SNAPSHOT.name), tofile="current definitions"))


@pytest.fixture()
def definitions(monkeypatch) -> dg.Definitions:
    for name in ("APIGEN_EXECUTOR", "APIGEN_MAX_CONCURRENT_STEPS"):
        monkeypatch.delenv(name, raising=False)
    return build_definitions(config=PipelineConfig.model_validate(SNAPSHOT_CONFIG))


def test_the_definitions_match_the_reviewed_snapshot(definitions):
    rendered = render(definitions)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(rendered)
    expected = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    if rendered != expected:
        pytest.fail("the shape of the definitions changed; if on purpose, regenerate with UPDATE_SNAPSHOTS=1 "
                    f"(see this module's docstring):\n{snapshot_diff(expected, rendered)}", pytrace=False)


def test_a_new_asset_or_a_changed_check_shows_in_the_diff(definitions):
    @dg.asset(group_name="dataset", deps=["training_dataset"])
    def extra_report() -> None:
        return None

    extended = dg.Definitions.merge(definitions, dg.Definitions(assets=[extra_report]))
    diff = snapshot_diff(render(definitions), render(extended))
    assert '+    "extra_report": {' in diff
    assert '+        "training_dataset"' in diff
    shape = describe(definitions)
    assert shape["checks"]["blueprints:accepted_blueprints_reexecute"]["blocking"] is True
    assert shape["checks"]["blueprints:blueprint_yield"]["blocking"] is False


def test_the_snapshot_does_not_depend_on_the_day_it_is_taken(definitions):
    renders = []
    for day in (datetime(2026, 11, 2, tzinfo=UTC), datetime(2031, 6, 30, tzinfo=UTC)):
        with dg.partition_loading_context(effective_dt=day):
            renders.append(render(definitions))
    assert renders[0] == renders[1]
