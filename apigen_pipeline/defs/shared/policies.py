"""Operating policies shared by the assets and the automation: pools, retries, backfills, run tags.

One place decides how the pipeline behaves under load and failure, so every LLM-calling stage gets
the same treatment and the numbers can be changed without touching asset code:

- pool `llm_api`: caps LLM-calling steps across all runs and backfills (limit in dagster.yaml,
  `concurrency.pools.default_limit`, or `dagster instance concurrency set llm_api N`);
- `TRANSIENT_FAILURE_RETRY_POLICY`: step retries with exponential backoff and jitter, for provider
  hiccups that outlast the LLM client's own retries;
- `LLM_STAGE_BACKFILL_POLICY`: one partition per backfill run, so a failed batch re-runs alone and
  a cancelled backfill resumes where it stopped;
- run retries (dagster.yaml `run_retries`, and `RUN_RETRY_TAGS` on the automation's jobs) restart
  runs whose worker crashed; bad configuration raises `non_retryable(...)` and is never retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from apigen_pipeline.llm.config import LLMSettings

LLM_API_POOL = "llm_api"
"""Pool of every step that calls an LLM provider."""

TRANSIENT_FAILURE_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3,
    delay=5,  # seconds: the n-th retry waits (2**n - 1) * 5 s, plus or minus 5 s of jitter
    backoff=dg.Backoff.EXPONENTIAL,
    # Jitter spreads the retries of parallel steps, so they do not hit a recovering provider together.
    jitter=dg.Jitter.PLUS_MINUS,
)

LLM_STAGE_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)

# Run-level tags. `apigen/llm_provider` feeds `concurrency.runs.tag_concurrency_limits` in dagster.yaml:
# at most N queued runs at once per provider value (set on every run: see `llm_provider_tags`).
TRIGGER_TAG = "apigen/trigger"
DOMAIN_TAG = "apigen/domain"
BATCH_TAG = "apigen/batch"
BATCH_SIZE_TAG = "apigen/batch_size"
LLM_PROVIDER_TAG = "apigen/llm_provider"

RUN_KEY_TAG = "dagster/run_key"  # set by the schedule and sensor daemons from RunRequest.run_key

# Crashed run workers are retried from the failed step; step failures are RetryPolicy's business
# (same split as dagster.yaml, repeated on the jobs so it holds on instances without that setting).
RUN_RETRY_TAGS: Mapping[str, str] = {
    "dagster/max_retries": "2",
    "dagster/retry_strategy": "FROM_FAILURE",
    "dagster/retry_on_asset_or_op_failure": "false",
}


def llm_provider_tag_value(settings: LLMSettings) -> str:
    """The providers a run's LLM requests go to, as one tag value: `simulated`, `openai`, or
    `anthropic+openai` when roles or judges are split across providers (that mix gets its own limit)."""
    routes = [settings.route(role) for role in type(settings.roles).model_fields]
    routes += [settings.route("judge", index) for index in range(len(settings.judges))]
    return "+".join(sorted({route.target.provider for route in routes}))


def llm_provider_tags(settings: LLMSettings) -> dict[str, str]:
    """The run tag the per-provider run throttle keys on, for every run that calls an LLM."""
    return {LLM_PROVIDER_TAG: llm_provider_tag_value(settings)}


def llm_stage_asset_options() -> dict[str, Any]:
    """Keyword arguments for `@dg.asset` of an LLM-calling stage: `@dg.asset(..., **llm_stage_asset_options())`."""
    return {
        "pool": LLM_API_POOL,
        "retry_policy": TRANSIENT_FAILURE_RETRY_POLICY,
        "backfill_policy": LLM_STAGE_BACKFILL_POLICY,
    }


def non_retryable(description: str, metadata: Mapping[str, Any] | None = None) -> dg.Failure:
    """A failure no retry can fix (bad configuration, unknown model, rejected credentials)."""
    return dg.Failure(description=description, metadata=dict(metadata or {}), allow_retries=False)
