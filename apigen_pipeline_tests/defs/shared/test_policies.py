"""The shared operating policies: pool, step retries (exponential, jittered, never for bad config),
backfill chunking and run retries."""

import random
from pathlib import Path

import dagster as dg
import yaml

from apigen_pipeline.defs.shared.policies import (
    LLM_API_POOL,
    LLM_PROVIDER_TAG,
    LLM_STAGE_BACKFILL_POLICY,
    RUN_RETRY_TAGS,
    TRANSIENT_FAILURE_RETRY_POLICY,
    llm_provider_tag_value,
    llm_stage_asset_options,
    non_retryable,
)
from apigen_pipeline.llm.config import LLMSettings

REPO_ROOT = Path(__file__).resolve().parents[3]


def retry_events(result: dg.ExecuteInProcessResult, step: str) -> list[dg.DagsterEvent]:
    return [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY" and e.step_key == step]


def test_an_llm_stage_lands_in_the_llm_pool_with_retries_and_one_partition_per_backfill_run():
    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["a", "b"]), **llm_stage_asset_options())
    def blueprint_like() -> None:
        return None

    assert LLM_API_POOL == "llm_api"
    assert blueprint_like.op.pool == "llm_api"
    assert blueprint_like.op.retry_policy == TRANSIENT_FAILURE_RETRY_POLICY
    assert blueprint_like.backfill_policy == LLM_STAGE_BACKFILL_POLICY
    assert LLM_STAGE_BACKFILL_POLICY.max_partitions_per_run == 1


def test_retry_delays_grow_exponentially_and_are_jittered():
    random.seed(7)
    policy = TRANSIENT_FAILURE_RETRY_POLICY
    assert policy.backoff == dg.Backoff.EXPONENTIAL and policy.jitter == dg.Jitter.PLUS_MINUS
    base = policy.delay
    for attempt in (1, 2, 3):
        samples = [policy.calculate_delay(attempt) for _ in range(200)]
        centre = (2 ** attempt - 1) * base
        assert all(centre - base <= s <= centre + base for s in samples)
        assert max(samples) - min(samples) > base  # jitter spreads parallel retries
    means = [sum(policy.calculate_delay(n) for _ in range(200)) / 200 for n in (1, 2, 3)]
    assert means[0] < means[1] < means[2]


def test_transient_failures_are_retried_and_bad_configuration_is_not():
    # The shared policy's backoff and jitter, without its waiting: the mechanism, not the clock.
    fast = TRANSIENT_FAILURE_RETRY_POLICY._replace(delay=0)

    @dg.asset(retry_policy=fast)
    def flaky_provider(context: dg.AssetExecutionContext) -> None:
        if context.retry_number < 2:
            raise ConnectionError("provider returned 503")

    @dg.asset(retry_policy=fast)
    def misconfigured() -> None:
        raise non_retryable("unknown model 'gpt-nope' for role judge", {"role": "judge"})

    instance = dg.DagsterInstance.ephemeral()
    flaky = dg.materialize([flaky_provider], instance=instance, raise_on_error=False)
    bad = dg.materialize([misconfigured], instance=instance, raise_on_error=False)
    assert flaky.success
    assert len(retry_events(flaky, "flaky_provider")) == 2
    assert not bad.success
    assert retry_events(bad, "misconfigured") == []
    failure = next(e for e in bad.all_events if e.is_step_failure)
    assert "unknown model" in failure.step_failure_data.user_failure_data.description


def test_crashed_runs_are_retried_by_the_instance_and_step_failures_are_left_to_the_retry_policy():
    instance_config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    assert instance_config["run_retries"]["enabled"] is True
    assert instance_config["run_retries"]["max_retries"] >= 1
    assert instance_config["run_retries"]["retry_on_asset_or_op_failure"] is False
    assert RUN_RETRY_TAGS["dagster/retry_on_asset_or_op_failure"] == "false"
    assert int(RUN_RETRY_TAGS["dagster/max_retries"]) >= 1
    assert instance_config["concurrency"]["pools"]["default_limit"] >= 1


def test_the_run_throttle_keys_on_the_tag_runs_carry():
    limits = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
    assert [limit["key"] for limit in limits] == [LLM_PROVIDER_TAG]
    assert limits[0]["value"] == {"applyLimitPerUniqueValue": True}


def test_the_provider_tag_names_where_the_requests_go():
    assert llm_provider_tag_value(LLMSettings()) == "simulated"  # no backend override: offline
    assert llm_provider_tag_value(LLMSettings(backend_override="openai:gpt-4o-mini")) == "openai"
    assert llm_provider_tag_value(LLMSettings(backend_override="anthropic:claude-3-5-haiku-latest")) == "anthropic"
    # "configured": each role and judge goes to its own model; the defaults mix two providers.
    assert llm_provider_tag_value(LLMSettings(backend_override="configured")) == "anthropic+openai"
