"""The LLM resource: a gateway bound to one partition, with the durable request log in the warehouse.

The request log is opened for the duration of an asset's LLM work only, under the partition lease
(one run at a time does a partition's LLM work; see `llm/lease.py`); the warehouse connection itself is
never held while waiting on a model (the log spools to disk and ingests in short bursts).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from apigen_pipeline.config import PipelineConfig
from apigen_pipeline.defs.shared.policies import non_retryable
from apigen_pipeline.environments.base import Environment
from apigen_pipeline.llm.batch import BatchPendingError
from apigen_pipeline.llm.config import LLMSettings
from apigen_pipeline.llm.context_window import ContextWindow
from apigen_pipeline.llm.gateway import (
    CallContext,
    FailureRateExceededError,
    LLMGateway,
    PermanentProviderError,
)
from apigen_pipeline.llm.session import partition_gateway
from apigen_pipeline.llm.types import LLMRequest, LLMResult, Role
from apigen_pipeline.paths import spool_dir
from apigen_pipeline.percentile import percentile
from apigen_pipeline.simulated import SimulatedBackend
from apigen_pipeline.simulated.hooks import DOMAIN_ROLES, MissingSimulatedHooks, require_hooks
from apigen_pipeline.warehouse import Warehouse


@dataclass
class BoundClient:
    """An `LLMClient` for stage code: every call is logged against this partition and asset."""

    gateway: LLMGateway
    call_context: CallContext

    def context_window(self, role: Role) -> ContextWindow | None:
        return self.gateway.context_window(role)

    def complete_many(self, requests: Sequence[LLMRequest]) -> list[LLMResult]:
        try:
            return self.gateway.complete_many(requests, self.call_context)
        except PermanentProviderError as error:
            # Dead endpoint, auth, unknown model, context too long: every request would fail the same way.
            raise non_retryable(str(error), {"error_kind": str(error.result.error_kind),
                                             "model": error.result.model}) from error
        except FailureRateExceededError as error:
            raise dg.Failure(description=str(error), allow_retries=error.retryable) from error
        except BatchPendingError as error:
            # Not a fault: the provider has not finished. The step is up for retry, which frees its llm_api
            # slot until the retry polls the same batches (the ids are in llm_batch_items; a later run does too).
            settings = self.gateway.settings
            raise dg.RetryRequested(max_retries=settings.batch_max_step_retries,
                                    seconds_to_wait=settings.batch_retry_wait_s) from error


class LLMResource(dg.ConfigurableResource):
    """Where request spools live (default: $APIGEN_HOME/request_spool). Models come from the pipeline config.

    `retry_failed` re-asks the requests whose stored answer failed validation (`apigen run --retry-failed`;
    in the UI, this resource's config in the launchpad); otherwise a stored answer, valid or not, is replayed.
    `lease_ttl_s`: how long a crashed run's hold on a partition's LLM work lasts (less on the same machine).
    """

    spool_directory: str | None = None
    retry_failed: bool = False
    lease_ttl_s: float = 60.0

    @contextmanager
    def bind(self, settings: LLMSettings, warehouse: Warehouse, call_context: CallContext,
             simulated: SimulatedBackend) -> Iterator[BoundClient]:
        """A client for one asset's LLM work; `simulated` plays the roles wherever `settings` route to it."""
        with partition_gateway(settings, warehouse, call_context, retry_failed=self.retry_failed,
                               spool_dir=self.spool_directory or spool_dir(warehouse.path.parent),
                               lease_ttl_s=self.lease_ttl_s,
                               provider_factories={"simulated": simulated.provider},
                               cache_identities={"simulated": simulated.cache_identity(settings)}) as gateway:
            yield BoundClient(gateway, call_context)


def simulated_backend(config: PipelineConfig, domain: str, environment: Environment,
                      settings: LLMSettings | None = None) -> SimulatedBackend:
    """The simulated roles for this partition: its environment and the config's simulation rates. A plugin
    lacking the hooks the simulated roles of `settings` (default: the config's) need fails here, before
    anything is sent, and is not retried."""
    routes = settings or config.llm
    playing = [role for role in DOMAIN_ROLES if routes.route(role).target.provider == "simulated"]
    try:
        require_hooks(environment, playing)
    except MissingSimulatedHooks as error:
        raise non_retryable(f"domain '{domain}': {error}", {"error_kind": "missing_simulated_hooks"}) from error
    return SimulatedBackend({domain: environment}, config.simulated_phase1, config.simulated_phase2)


def llm_metadata(gateway: LLMGateway) -> dict[str, object]:
    """Numbers the UI plots per materialization (calls, cache hits, tokens, cost, latency) and a table per model."""
    stats = gateway.stats
    latencies = [v for m in stats.by_model.values() for v in m.latencies_s]

    rows = ["| role | provider:model | projected as | answered | failed | cached | in tok | out tok | cost $ | projected $ |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in sorted(stats.by_model.values(), key=lambda m: (m.role, m.provider, m.model)):
        rows.append(f"| {m.role} | {m.provider}:{m.model} | {m.projection_model} | {m.answered} | {m.failed} | "
                    f"{m.cache_hits} | {m.input_tokens} | {m.output_tokens} | {m.cost_usd:.4f} | "
                    f"{m.projected_cost_usd:.4f} |")
    return {
        "llm_requests_answered": int(stats.total("answered")),
        "llm_requests_failed": int(stats.total("failed")),
        "llm_requests_not_sent": int(stats.total("not_sent")),
        "llm_cache_hits": int(stats.total("cache_hits")),
        "llm_retries": int(sum(stats.retries.values())),
        "llm_input_tokens": int(stats.total("input_tokens")),
        "llm_cached_input_tokens": int(stats.total("cached_input_tokens")),
        # Share of the prompt tokens sent that the providers (or, simulated, their cache rule) served cached.
        "llm_prompt_cache_hit_rate": round(stats.total("cached_input_tokens") / max(1, stats.total("input_tokens")), 4),
        "llm_output_tokens": int(stats.total("output_tokens")),
        "llm_cost_usd": round(stats.cost_usd, 6),
        "llm_projected_cost_usd": round(stats.projected_cost_usd, 6),
        "llm_latency_p50_s": round(percentile(latencies, 0.5) or 0.0, 4),
        "llm_latency_p95_s": round(percentile(latencies, 0.95) or 0.0, 4),
        "llm_by_model": dg.MetadataValue.md("\n".join(rows)),
    }
