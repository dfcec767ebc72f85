"""The LLM gateway: every LLM call of the pipeline goes through `LLMGateway`.

Per request: cache lookup in the request log (a stored answer, valid or invalid, is returned and
nothing is sent; `retry_failed` re-asks the invalid ones) -> context-window check (a prompt that cannot
fit its model's window is not sent: `context_window.py`) -> budget check (projected cost of in-flight
requests counted) -> rate limiter -> send -> by error kind: transient errors and timeouts retried with
backoff, rate limits too (a 429's Retry-After becomes a cool-down of that model), invalid output
repaired with a bounded re-ask, an unreachable endpoint (refused, DNS, TLS, no connection) retried
`max_attempts_connection` times, auth/unknown model/other permanent errors not retried -> every
finished request is written to the request log, an answer with its validation outcome.

Errors that every other request would meet too stop the batch loudly: `PermanentProviderError`
(`ProviderUnreachableError` for a dead endpoint), raised after the in-flight requests finished and
the rest were logged as not sent. A batch also stops early when its failure rate passes the
threshold: `FailureRateExceededError`, with the rate and the top reasons.

Time budget of a dead endpoint: each request tries `max_attempts_connection` (3) times with backoff
between attempts (0.5 s, 1 s, minus up to half as jitter); each attempt ends at once when the connection
is refused or the name does not resolve, and after at most the connect timeout (10 s, see
`providers/openai_provider.CONNECT_TIMEOUT_S`) when nothing answers. So the batch fails within
about 1.5 s for a refused connection and about 3 x 10 s + 1.5 s for a black-holed address.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from apigen_pipeline.llm.batch import BatchRunner, BatchStore
from apigen_pipeline.llm.batch.api import ItemOutcome, batch_api_for
from apigen_pipeline.llm.batch.runner import Admit, Collected, Submission
from apigen_pipeline.llm.capabilities import EndpointCapabilities
from apigen_pipeline.llm.config import LLMSettings, ModelRef, Route
from apigen_pipeline.llm.context_window import ContextWindow, ContextWindows, overflow
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.factory import ProviderFactory, ProviderPool, preload_providers
from apigen_pipeline.llm.limits import RateLimiter
from apigen_pipeline.llm.pricing import cost_of, estimated_cost
from apigen_pipeline.llm.prompt_cache import PrefixCache, cache_rule_for, request_blocks
from apigen_pipeline.llm.providers.base import Provider
from apigen_pipeline.llm.request_log import LoggedAnswer, LogRecord, RequestStore, now_utc
from apigen_pipeline.llm.secrets import SecretScrubber
from apigen_pipeline.llm.structured import StructuredOutputError, repair_request, validate_response
from apigen_pipeline.llm.tokens import estimate_request_tokens
from apigen_pipeline.llm.types import ErrorKind, LLMRequest, LLMResponse, LLMResult, Usage, request_key
from apigen_pipeline.percentile import percentile
from apigen_pipeline.records import FrozenModel

logger = logging.getLogger(__name__)


class CallContext(FrozenModel):
    """Where a call belongs; written to every request log row."""

    domain: str
    batch: str
    run_id: str
    asset: str


# Error kinds every other request to the same endpoint would meet too: the batch stops at the first.
STOPS_THE_BATCH = frozenset({ErrorKind.UNREACHABLE, ErrorKind.AUTH, ErrorKind.UNKNOWN_MODEL, ErrorKind.PERMANENT})
_RETRIED_WITH_BACKOFF = frozenset({ErrorKind.TRANSIENT, ErrorKind.TIMEOUT})
_RETRIED_TRANSPORT = _RETRIED_WITH_BACKOFF | {ErrorKind.RATE_LIMIT, ErrorKind.UNREACHABLE}
_TOP_REASONS = 3
_REASON_CHARS = 160


class PermanentProviderError(RuntimeError):
    """An error that will fail every request (auth, unknown model, dead endpoint): the batch stops loudly.

    The message is one line naming the model, the endpoint where it is known, and the error.
    `results` holds the batch's results in request order when raised by `complete_many`.
    """

    def __init__(self, message: str, result: LLMResult, results: list[LLMResult] | None = None):
        super().__init__(message)
        self.result = result
        self.results = results or []

    def with_results(self, results: list[LLMResult]) -> PermanentProviderError:
        return type(self)(str(self), self.result, results)


class ProviderUnreachableError(PermanentProviderError):
    """The endpoint cannot be reached (refused, DNS, TLS, no connection) after the bounded retries."""


class FailureRateExceededError(RuntimeError):
    """The batch stopped early: too many of its sent requests failed. `retryable` when the failures were
    all of kinds that pass (5xx, timeouts, rate limits), so a later attempt of the step may succeed."""

    def __init__(self, message: str, results: list[LLMResult], retryable: bool):
        super().__init__(message)
        self.results = results
        self.retryable = retryable


@dataclass
class ModelStats:
    role: str
    provider: str
    model: str
    projection_model: str
    answered: int = 0
    failed: int = 0
    not_sent: int = 0
    cache_hits: int = 0
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    projected_cost_usd: float = 0.0
    latencies_s: list[float] = field(default_factory=list)

    @property
    def latency_p50_s(self) -> float | None:
        return percentile(self.latencies_s, 0.50)

    @property
    def latency_p95_s(self) -> float | None:
        return percentile(self.latencies_s, 0.95)

    def summary(self) -> dict[str, object]:
        return {"role": self.role, "provider": self.provider, "model": self.model,
                "projection_model": self.projection_model,
                "answered": self.answered, "failed": self.failed, "not_sent": self.not_sent,
                "cache_hits": self.cache_hits, "input_tokens": self.input_tokens,
                "cached_input_tokens": self.cached_input_tokens, "output_tokens": self.output_tokens,
                "cost_usd": self.cost_usd, "projected_cost_usd": self.projected_cost_usd,
                "latency_p50_s": self.latency_p50_s, "latency_p95_s": self.latency_p95_s}


@dataclass
class GatewayStats:
    by_model: dict[tuple[str, str, str, str], ModelStats] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)      # by ErrorKind value
    failures: Counter[str] = field(default_factory=Counter)     # by ErrorKind value
    not_sent: Counter[str] = field(default_factory=Counter)     # by reason (budget, aborted)
    failure_reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, message)
    unknown_price_models: set[str] = field(default_factory=set)
    completed: int = 0          # sent and finished (answered or failed): the early-stop base
    abort_reason: str | None = None
    failure_rate_exceeded: bool = False

    def for_route(self, role: str, route: Route) -> ModelStats:
        key = (role, route.target.provider, route.target.model, route.projection.model)
        stats = self.by_model.get(key)
        if stats is None:
            stats = self.by_model[key] = ModelStats(role, route.target.provider, route.target.model,
                                                    route.projection.model)
        return stats

    def total(self, attribute: str) -> float:
        return sum(getattr(stats, attribute) for stats in self.by_model.values())

    @property
    def cost_usd(self) -> float:
        return self.total("cost_usd")

    @property
    def projected_cost_usd(self) -> float:
        return self.total("projected_cost_usd")

    def summary(self) -> dict[str, object]:
        return {"models": [stats.summary() for stats in self.by_model.values()],
                "answered": int(self.total("answered")), "failed": int(self.total("failed")),
                "not_sent": int(self.total("not_sent")), "cache_hits": int(self.total("cache_hits")),
                "cost_usd": self.cost_usd, "projected_cost_usd": self.projected_cost_usd,
                "retries": dict(self.retries), "failures": dict(self.failures),
                "not_sent_by_reason": dict(self.not_sent),
                "unknown_price_models": sorted(self.unknown_price_models), "abort_reason": self.abort_reason}


@dataclass
class _Outcome:
    """How a sent request ended. `answered` means the provider replied: `validation` says whether the reply
    passed (then `response` is the validated reply) or failed after the repair turns (`response` is the
    last rejected reply, if the provider's reply could be read at all)."""

    status: Literal["answered", "failed"]
    validation: Literal["valid", "invalid"] | None
    response: LLMResponse | None
    error_kind: ErrorKind | None
    error_message: str | None
    attempts: int
    repair_turns: int
    usage: Usage
    latency_s: float
    rejected: list[dict[str, Any]] = field(default_factory=list)  # earlier rejected replies and why


@dataclass
class _Progress:
    """One request's way through its attempts: what its retry decisions and its log row need."""

    attempts: int = 0
    repairs: int = 0
    usage: Usage = field(default_factory=Usage)
    transport_failures: Counter[ErrorKind] = field(default_factory=Counter)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # every rejected reply and why, in order
    started: float = field(default_factory=time.monotonic)

    def outcome(self, status: Literal["answered", "failed"], validation: Literal["valid", "invalid"] | None,
                response: LLMResponse | None, kind: ErrorKind | None = None, message: str | None = None) -> _Outcome:
        # An invalid answer is stored as the response: the earlier rejected replies are its repair history.
        history = self.rejected[:-1] if validation == "invalid" else self.rejected
        return _Outcome(status, validation, response, kind, message, self.attempts, self.repairs, self.usage,
                        time.monotonic() - self.started, list(history))


@dataclass(frozen=True)
class _BatchReply:
    """A reply a provider batch gave that failed validation: the first attempt of its request."""

    response: LLMResponse
    problem: str


class _StoppedBeforeSending(Exception):
    pass


class _LoopState:
    """asyncio primitives bind to one event loop; a gateway may outlive several (one per `complete_many`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_concurrency: int):
        self.loop = loop
        self.slots = asyncio.Semaphore(max_concurrency)
        self.budget_changed = asyncio.Condition()
        self.in_flight: dict[str, asyncio.Future[LLMResult]] = {}
        # Per (provider, model): cleared while the endpoint refuses connections. New requests wait on it
        # instead of piling refused connections onto a dead endpoint; the requests already retrying
        # decide (one gets through: set again; one gives up: the batch stops and wakes everyone).
        self.reachable: dict[tuple[str, str], asyncio.Event] = {}
        # Per target: held by the one request asking its server for the context window; the others wait
        # here, on the loop, rather than each taking a worker thread only to find the answer there.
        self.window_asked: dict[ModelRef, asyncio.Lock] = {}

    def endpoint_gate(self, target: ModelRef) -> asyncio.Event:
        gate = self.reachable.get((target.provider, target.model))
        if gate is None:
            gate = self.reachable[(target.provider, target.model)] = asyncio.Event()
            gate.set()
        return gate


def judge_index(request: LLMRequest) -> int | None:
    raw = request.tags.get("judge_index")
    return int(raw) if raw is not None else None


class LLMGateway:
    def __init__(self, settings: LLMSettings, request_log: RequestStore,
                 providers: Mapping[str, Provider] | None = None, *,
                 provider_factories: Mapping[str, ProviderFactory] | None = None,
                 cache_identities: Mapping[str, str] | None = None,
                 capabilities: EndpointCapabilities | None = None,
                 limiter: RateLimiter | None = None, jitter_seed: int | None = None, retry_failed: bool = False,
                 context_windows: ContextWindows | None = None, batch_store: BatchStore | None = None):
        """`retry_failed`: re-ask the keys whose stored answer failed validation (once per gateway);
        without it a stored answer, valid or not, is final. `cache_identities`: provider name -> a digest
        of what decides its answers beyond the request (the simulated backend's seed and rates), part of
        the request key. `context_windows`: each model's context length (configured or asked of its
        server); a request that cannot fit is not sent. `batch_store`: where provider batches are
        remembered, needed when a role is configured `batch: true` (see `apigen_pipeline.llm.batch`)."""
        self.settings = settings
        self.request_log = request_log
        self.retry_failed = retry_failed
        self._reasked: dict[str, str] = {}  # key -> entry_id of the invalid answer re-asked in this gateway
        self.stats = GatewayStats()
        self._provider_overrides = dict(providers or {})
        # Backends this layer does not hold (the simulated one) come from the caller, by provider name.
        self._provider_factories = dict(provider_factories or {})
        self._cache_identities = dict(cache_identities or {})
        # What each endpoint accepts, learned once and kept across the event loops this gateway serves.
        self.capabilities = capabilities if capabilities is not None else EndpointCapabilities()
        self.context_windows = context_windows if context_windows is not None else ContextWindows()
        self._pool = self._new_pool()
        self._limiter = limiter or RateLimiter(settings.limit_for)
        self._fingerprint = settings.fingerprint()
        self._scrub = SecretScrubber.from_env(settings.api_key_env_names())
        self._jitter = random.Random(jitter_seed)
        self._loop_state: _LoopState | None = None
        self._spent_usd = 0.0
        self._reserved_usd = 0.0
        self._budget_exhausted = False
        self._batch_reserved: dict[str, float] = {}  # request key -> its reservation while in a provider batch
        self._output_observed: dict[tuple[str, str], tuple[int, int]] = {}  # (count, total tokens)
        self._routes: dict[tuple[str, int | None], Route] = {}
        # Per projection model: the prompts a simulated run sent it, for the provider's prompt-cache rule.
        self._projection_caches: dict[tuple[str, str], PrefixCache] = {}
        self._batches = None if batch_store is None else BatchRunner(
            batch_store, lambda target: batch_api_for(target, self.capabilities),
            max_wait_s=settings.batch_max_wait_s, poll_interval_s=settings.batch_poll_interval_s)
        if self._batches is None and any(route.batch for route in self.settings.all_routes()):
            raise ValueError("a role is configured batch: true but the gateway was given no batch_store")
        preload_providers(self._target_providers() - set(self._provider_overrides))

    # -- public API ---------------------------------------------------------------------------
    async def acomplete(self, request: LLMRequest, context: CallContext) -> LLMResult:
        route = self._route(request)
        key = self._key(request, route)
        stored = (await asyncio.to_thread(self.request_log.lookup_many, [key])).get(key)
        replay = self._replay(key, stored)
        supersedes = self._superseded(stored) if replay is None else None
        return await self._complete(request, context, route, key, replay, supersedes)

    async def acomplete_many(self, requests: Sequence[LLMRequest], context: CallContext) -> list[LLMResult]:
        """All requests concurrently (capped), results in request order."""
        routes = [self._route(request) for request in requests]
        keys = [self._key(request, route) for request, route in zip(requests, routes, strict=True)]
        stored = await asyncio.to_thread(self.request_log.lookup_many, keys)
        results: list[LLMResult | BaseException | None] = [None] * len(requests)
        pending: dict[int, asyncio.Task[LLMResult]] = {}
        batched: list[int] = []
        batch_failure: BaseException | None = None
        for index, (request, route, key) in enumerate(zip(requests, routes, keys, strict=True)):
            replay = self._replay(key, stored.get(key))
            if replay is not None:  # no task for a cache hit: replaying a finished batch stays cheap
                self.stats.for_route(request.role, route).cache_hits += 1
                results[index] = replay
            elif route.batch and self._superseded(stored.get(key)) is None:
                batched.append(index)
            else:
                pending[index] = asyncio.create_task(self._complete(
                    request, context, route, key, None, self._superseded(stored.get(key))))
        if batched:
            live, batch_failure = await self._through_batches(requests, routes, keys, batched, context, results)
            for index, batch_reply in live.items():  # the normal path, with its retries and repairs
                pending[index] = asyncio.create_task(self._complete(
                    requests[index], context, routes[index], keys[index], None, None, batch_reply))
        if pending:
            outcomes = await asyncio.gather(*pending.values(), return_exceptions=True)
            for index, outcome in zip(pending, outcomes, strict=True):
                results[index] = outcome
        permanent = next((r for r in results if isinstance(r, PermanentProviderError)), None)
        other_error = next((r for r in results if isinstance(r, BaseException)
                            and not isinstance(r, PermanentProviderError)), None)
        if other_error is not None:
            raise other_error
        if batch_failure is not None:  # a batch still pending: raised once the live requests are logged
            raise batch_failure
        final: list[LLMResult] = [r.result if isinstance(r, PermanentProviderError) else r  # type: ignore[misc]
                                  for r in results]
        logger.info("LLM batch done: %d requests, %d from cache, %d answered, %d failed, %d not sent",
                    len(requests), len(requests) - len(pending),
                    sum(1 for r in final if r.status == "answered" and not r.from_cache),
                    sum(1 for r in final if r.status == "failed"),
                    sum(1 for r in final if r.status == "not_sent"))
        if permanent is not None:
            raise permanent.with_results(final)
        if self.stats.failure_rate_exceeded:
            raise FailureRateExceededError(f"LLM batch stopped early: {self.stats.abort_reason}", final,
                                           retryable=self._failures_pass())
        return final

    def context_window(self, role: str, judge_index: int | None = None) -> ContextWindow | None:
        """The context window of the model a role's requests go to (None: unknown), for prompts that can
        shrink to fit. May ask the model's server once (blocking)."""
        return self.context_windows.window(self._route_for(role, judge_index).target)

    def complete_many(self, requests: Sequence[LLMRequest], context: CallContext) -> list[LLMResult]:
        """Synchronous `acomplete_many` on a private event loop (providers it built are closed after)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._complete_many_and_close(requests, context))
        # Called from inside a running loop (e.g. an async host): run on a helper thread's loop.
        box: dict[str, object] = {}

        def run() -> None:
            try:
                box["value"] = asyncio.run(self._complete_many_and_close(requests, context))
            except BaseException as error:  # re-raised in the caller's thread
                box["error"] = error

        worker = threading.Thread(target=run, name="llm-gateway")
        worker.start()
        worker.join()
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box["value"]  # type: ignore[return-value]

    async def aclose(self) -> None:
        """Close the providers this gateway built (call at the end of a loop that used `acomplete`)."""
        await self._pool.aclose()

    # -- internals ------------------------------------------------------------------------------
    async def _complete_many_and_close(self, requests: Sequence[LLMRequest],
                                       context: CallContext) -> list[LLMResult]:
        try:
            return await self.acomplete_many(requests, context)
        finally:
            await self._pool.aclose()

    def _target_providers(self) -> set[str]:
        return {route.target.provider for route in self.settings.all_routes()}

    async def _through_batches(self, requests: Sequence[LLMRequest], routes: Sequence[Route], keys: Sequence[str],
                               indices: Sequence[int], context: CallContext,
                               results: list[LLMResult | BaseException | None],
                               ) -> tuple[dict[int, _BatchReply | None], BaseException | None]:
        """Answer these requests through provider batches (one per model, waited on together) and log the
        answers. A request that cannot fit its context window is logged not sent and never submitted, as on
        the live path; each batch's estimated cost is reserved against the budget before it is submitted
        (`_batch_admission`) and settled on each item's billed usage as it is logged. Returns the indices for the live path (failed in their batch; with the invalid reply the
        batch gave, which the live path repairs rather than asks again), and the error of a batch that did
        not end in time (`BatchPendingError`), for the caller to raise once the live path is done."""
        assert self._batches is not None
        groups: dict[ModelRef, list[int]] = {}
        refused: dict[str, LLMResult] = {}
        for index in indices:
            too_long = await self._refuse_too_long(requests[index], context, routes[index], keys[index], refused)
            if too_long is not None:
                results[index] = too_long
            else:
                groups.setdefault(routes[index].target, []).append(index)
        started = time.monotonic()
        collections = await asyncio.gather(*(self._batches.collect(
            target, {keys[i]: requests[i] for i in members},
            Submission(requests[members[0]].role, context.domain, context.batch, context.run_id, context.asset),
            self._batch_admission(routes[members[0]])) for target, members in groups.items()),
            return_exceptions=True)
        live: dict[int, _BatchReply | None] = {}
        for members, collected in zip(groups.values(), collections, strict=True):
            if isinstance(collected, BaseException):
                continue
            answered: dict[str, LLMResult] = {}
            for index in members:
                key, request, route = keys[index], requests[index], routes[index]
                if key in answered:  # the same request twice in one call is answered once
                    self.stats.for_route(request.role, route).cache_hits += 1
                    results[index] = answered[key].model_copy(update={"from_cache": True})
                    continue
                item = collected.outcomes.get(key)
                self._release_batch_reservation(key)  # settled: the item's actual cost is spent below
                result: LLMResult | _BatchReply | None
                if item is not None and item.refused is not None:
                    result = self._record_not_sent(request, context, route, key, self.stats.for_route(request.role,
                                                   route), item.refused, item.problem or item.refused.value)
                else:
                    result = self._record_batch_item(request, context, route, key, item, time.monotonic() - started)
                if isinstance(result, LLMResult):
                    answered[key] = results[index] = result
                else:
                    live[index] = result
            await asyncio.to_thread(self._mark_collected, collected)
        async with self._state().budget_changed:  # live requests waiting on the budget may go on
            self._state().budget_changed.notify_all()
        return live, next((c for c in collections if isinstance(c, BaseException)), None)

    async def _refuse_too_long(self, request: LLMRequest, context: CallContext, route: Route, key: str,
                               refused: dict[str, LLMResult]) -> LLMResult | None:
        """The live path's context-window check for a batch item: one that cannot fit is logged as not sent
        (with its token count and the window) and never submitted. None: it fits (or the window is unknown)."""
        if key in refused:  # the same request twice in one call is refused once
            self.stats.for_route(request.role, route).cache_hits += 1
            return refused[key].model_copy(update={"from_cache": True})
        too_long = await self._overflow(route.target, estimate_request_tokens(request), request.sampling.max_tokens,
                                        self._state())
        if too_long is None:
            return None
        refused[key] = self._record_not_sent(request, context, route, key, self.stats.for_route(request.role, route),
                                             ErrorKind.CONTEXT_TOO_LONG, too_long)
        return refused[key]

    def _batch_admission(self, route: Route) -> Admit:
        """Reserve a provider batch's estimated cost (with the batch discount) against `budget_usd` before
        it is submitted; a batch that would pass the cap is refused whole. The requests already in open
        batches (submitted by an earlier attempt) are reserved unconditionally: they will be billed."""

        async def admit(fresh: Mapping[str, LLMRequest], resumed: Mapping[str, LLMRequest]) -> str | None:
            for key, request in resumed.items():
                self._reserve_batch_item(key, self._batch_estimate(route, request))
            estimates = {key: self._batch_estimate(route, request) for key, request in fresh.items()
                         if key not in self._batch_reserved}
            cap = self.settings.budget_usd
            if cap is not None and self._spent_usd + self._reserved_usd + sum(estimates.values()) > cap:
                return self._budget_message()
            for key, estimate in estimates.items():
                self._reserve_batch_item(key, estimate)
            return None

        return admit

    def _batch_estimate(self, route: Route, request: LLMRequest) -> float:
        return self._billable_estimate(route, estimate_request_tokens(request),
                                       self._expected_output_tokens(route.target, request), via_batch=True)

    def _reserve_batch_item(self, key: str, estimate: float) -> None:
        if key not in self._batch_reserved:
            self._batch_reserved[key] = estimate
            self._reserved_usd += estimate

    def _release_batch_reservation(self, key: str) -> None:
        self._reserved_usd -= self._batch_reserved.pop(key, 0.0)

    def _budget_message(self) -> str:
        return f"budget cap of ${self.settings.budget_usd} reached"

    def _mark_collected(self, collected: Collected) -> None:
        # The answers are in the spool (durable) before the batch is marked read: a crash in between only
        # means the next attempt reads the batch again and finds the answers already logged.
        assert self._batches is not None
        self._batches.mark_collected(collected)

    def _record_batch_item(self, request: LLMRequest, context: CallContext, route: Route, key: str,
                           item: ItemOutcome | None, waited_s: float) -> LLMResult | _BatchReply | None:
        """Log a batch item's valid answer and return it. An invalid reply is returned for its repair turns
        on the live path; a failed item is logged as failed and None returned (it is sent live)."""
        stats = self.stats.for_route(request.role, route)
        problem = item.problem if item is not None and item.problem else "no result in the batch"
        usage = Usage()
        if item is not None and item.response is not None:
            usage = item.response.usage
            try:
                response = validate_response(request, item.response)
            except StructuredOutputError as invalid:
                return _BatchReply(item.response, str(invalid))
            else:
                outcome = _Outcome("answered", "valid", response, None, None, 1, 0, usage, waited_s)
                cost, projected = self._costs(route, usage, via_batch=True)
                self._spent_usd += cost or 0.0
                return self._record_outcome(request, context, route, key, stats, outcome, cost, projected, None,
                                            via_batch=True)
        cost, projected = self._costs(route, usage, via_batch=True)
        self._spent_usd += cost or 0.0
        failed = LLMResult(request_key=key, status="failed", error_kind=ErrorKind.TRANSIENT, error_message=problem,
                           attempts=1, provider=route.target.provider, model=route.target.model, latency_s=waited_s)
        self._record(request, context, route, key, failed, usage, cost, projected, via_batch=True)
        self.stats.retries["batch_item_failed"] += 1
        logger.info("batch item failed, sending it live (role %s, %s): %s", request.role, route.target.label, problem)
        return None

    def _route(self, request: LLMRequest) -> Route:
        return self._route_for(request.role, judge_index(request))

    def _route_for(self, role: str, index: int | None) -> Route:
        # Settings are frozen: a route is built (and validated) once per role and judge.
        place = (role, index)
        route = self._routes.get(place)
        if route is None:
            route = self._routes[place] = self.settings.route(*place)  # type: ignore[arg-type]
        return route

    def _key(self, request: LLMRequest, route: Route) -> str:
        target = route.target
        return request_key(request, target.provider, target.model, self._cache_identities.get(target.provider, ""))

    def _new_pool(self) -> ProviderPool:
        return ProviderPool(self.settings, self._provider_overrides, self._provider_factories, self.capabilities)

    def _replay(self, key: str, stored: LoggedAnswer | None) -> LLMResult | None:
        """The stored answer as this request's result, or None to send it."""
        if stored is None:
            return None
        if stored.valid or not self.retry_failed:
            return stored.result
        if self._reasked.setdefault(key, stored.entry_id) != stored.entry_id:
            return stored.result  # the re-ask's own answer: final, even if invalid again
        return None

    def _superseded(self, stored: LoggedAnswer | None) -> str | None:
        """The entry a re-ask replaces: the stored invalid answer, when there is one."""
        return stored.entry_id if stored is not None and not stored.valid else None

    def _failures_pass(self) -> bool:
        kinds = {ErrorKind(kind) for kind in self.stats.failures}
        return bool(kinds) and kinds <= _RETRIED_WITH_BACKOFF | {ErrorKind.RATE_LIMIT}

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._loop_state is None or self._loop_state.loop is not loop:
            self._loop_state = _LoopState(loop, self.settings.max_concurrency)
            # SDK clients belong to the loop they were first used on: start a fresh pool.
            self._pool = self._new_pool()
        return self._loop_state

    async def _complete(self, request: LLMRequest, context: CallContext, route: Route, key: str,
                        cached: LLMResult | None, supersedes: str | None,
                        batch_reply: _BatchReply | None = None) -> LLMResult:
        stats = self.stats.for_route(request.role, route)
        if cached is not None:
            stats.cache_hits += 1
            return cached
        state = self._state()
        running = state.in_flight.get(key)
        if running is not None:  # the same request twice in one batch is sent once
            stats.cache_hits += 1
            result = await asyncio.shield(running)
            return result.model_copy(update={"from_cache": True})
        future: asyncio.Future[LLMResult] = state.loop.create_future()
        state.in_flight[key] = future
        try:
            result = await self._send_and_record(request, context, route, key, stats, state, supersedes, batch_reply)
        except PermanentProviderError as error:
            future.set_result(error.result)
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here; duplicate waiters re-raise it themselves
            raise
        else:
            future.set_result(result)
            return result
        finally:
            state.in_flight.pop(key, None)

    def _stop_reason(self) -> str | None:
        return self.stats.abort_reason

    async def _send_and_record(self, request: LLMRequest, context: CallContext, route: Route, key: str,
                               stats: ModelStats, state: _LoopState, supersedes: str | None,
                               batch_reply: _BatchReply | None = None) -> LLMResult:
        if self._stop_reason() is not None:
            return self._record_not_sent(request, context, route, key, stats, ErrorKind.ABORTED,
                                         f"batch stopped early: {self._stop_reason()}")
        input_estimate = estimate_request_tokens(request)
        too_long = await self._overflow(route.target, input_estimate, request.sampling.max_tokens, state)
        if too_long is not None:
            return self._record_not_sent(request, context, route, key, stats, ErrorKind.CONTEXT_TOO_LONG, too_long)
        output_estimate = self._expected_output_tokens(route.target, request)
        budget_estimate = self._billable_estimate(route, input_estimate, output_estimate)
        if not await self._reserve_budget(budget_estimate, state):
            return self._record_not_sent(request, context, route, key, stats, ErrorKind.BUDGET,
                                         self._budget_message())
        cost: float | None = None
        projected: float | None = None
        try:
            outcome = await self._attempt(request, route, input_estimate, output_estimate, state, batch_reply)
            cost, projected = self._costs(route, outcome.usage)
            self._spent_usd += (projected or 0.0) if route.target.provider == "simulated" else (cost or 0.0)
        except _StoppedBeforeSending as stopped:
            return self._record_not_sent(request, context, route, key, stats, ErrorKind.ABORTED, str(stopped))
        finally:
            self._reserved_usd -= budget_estimate
            async with state.budget_changed:
                state.budget_changed.notify_all()
        result = self._record_outcome(request, context, route, key, stats, outcome, cost, projected, supersedes)
        if outcome.error_kind in STOPS_THE_BATCH:
            raise self._batch_stopper(request, route, outcome, result)
        self._check_failure_rate()
        return result

    async def _overflow(self, target: ModelRef, prompt_tokens: int, reply_tokens: int,
                        state: _LoopState) -> str | None:
        """Why the request cannot fit its model's context window, or None (asking the server off the loop once)."""
        known, window = self.context_windows.cached(target)
        if not known:
            async with state.window_asked.setdefault(target, asyncio.Lock()):
                known, window = self.context_windows.cached(target)
                if not known:
                    window = await asyncio.to_thread(self.context_windows.window, target)
        return overflow(target, window, prompt_tokens, reply_tokens)

    def _batch_stopper(self, request: LLMRequest, route: Route, outcome: _Outcome,
                       result: LLMResult) -> PermanentProviderError:
        """The one-line error that stops the batch; also the abort reason the other requests are logged with."""
        if outcome.error_kind is ErrorKind.UNREACHABLE:
            message = (f"LLM endpoint unreachable for {route.target.label} (role {request.role}) after "
                       f"{outcome.attempts} attempts: {outcome.error_message}")
            error: PermanentProviderError = ProviderUnreachableError(message, result)
        else:
            message = (f"permanent error ({outcome.error_kind}) from {route.target.label} for role "
                       f"{request.role}: {outcome.error_message}")
            error = PermanentProviderError(message, result)
        if self.stats.abort_reason is None:
            self.stats.abort_reason = message
        return error

    async def _attempt(self, request: LLMRequest, route: Route, input_estimate: int, output_estimate: int,
                       state: _LoopState, batch_reply: _BatchReply | None = None) -> _Outcome:
        """Send until answered or given up. `batch_reply`: the invalid reply a provider batch already gave,
        counted as the first attempt, so the request goes on with its repair turns instead of being re-sent."""
        target = route.target
        provider = self._pool.get(target)
        progress = _Progress()
        current = request
        if batch_reply is not None:
            progress.attempts = 1
            progress.usage = batch_reply.response.usage
            repaired = self._rejected(progress, request, target, current, batch_reply.response, batch_reply.problem)
            if isinstance(repaired, _Outcome):
                return repaired
            current = repaired
        gate = state.endpoint_gate(target)
        try:
            while True:
                progress.attempts += 1
                sent = None
                while sent is None:  # a first attempt waits while the endpoint is refusing connections
                    if progress.attempts == 1:
                        await gate.wait()
                    sent = await self._send_once(provider, current, target, progress.attempts, input_estimate,
                                                 output_estimate, state)
                response, send_error = sent
                if send_error is not None:
                    kind, problem = send_error.kind, self._scrub(send_error.message)
                    if kind in _RETRIED_TRANSPORT:
                        progress.transport_failures[kind] += 1
                        if self._gives_up(progress, kind):
                            return self._failed(progress, kind, problem, request, target)
                        self.stats.retries[kind.value] += 1
                        await self._wait_before_retry(send_error, target, progress.transport_failures[kind])
                        continue
                    if kind is not ErrorKind.INVALID_OUTPUT:
                        return self._failed(progress, kind, problem, request, target)  # never retried
                    invalid_response: LLMResponse | None = None
                else:
                    progress.usage = progress.usage + self._billed_usage(route, current, response.usage)
                    self._observe_output(target, response.usage.output_tokens)
                    try:
                        return progress.outcome("answered", "valid", validate_response(request, response))
                    except StructuredOutputError as invalid:
                        problem, invalid_response = str(invalid), response
                repaired = self._rejected(progress, request, target, current, invalid_response, problem)
                if isinstance(repaired, _Outcome):
                    return repaired
                current = repaired
        finally:
            if progress.transport_failures[ErrorKind.UNREACHABLE]:
                gate.set()  # got through, gave up (the batch stops) or failed otherwise: let the others decide

    def _rejected(self, progress: _Progress, request: LLMRequest, target: ModelRef, current: LLMRequest,
                  invalid_response: LLMResponse | None, problem: str) -> _Outcome | LLMRequest:
        """The provider replied, but not usably: the repair re-ask to send next, or the invalid answer it ends with."""
        progress.rejected.append({"reply": invalid_response.model_dump(mode="json") if invalid_response
                                  else None, "problem": problem})
        if progress.repairs >= self.settings.max_repair_turns:
            self._note_failure(ErrorKind.INVALID_OUTPUT, problem, request, target, progress.attempts)
            return progress.outcome("answered", "invalid", invalid_response, ErrorKind.INVALID_OUTPUT, problem)
        progress.repairs += 1
        self.stats.retries[ErrorKind.INVALID_OUTPUT.value] += 1
        return request.model_copy(update={
            "messages": repair_request(request, current.messages, invalid_response, problem)})

    def _gives_up(self, progress: _Progress, kind: ErrorKind) -> bool:
        retry = self.settings.retry
        if kind is ErrorKind.RATE_LIMIT:
            exhausted = progress.transport_failures[kind] >= retry.max_attempts_rate_limit
        elif kind is ErrorKind.UNREACHABLE:
            exhausted = progress.transport_failures[kind] >= retry.max_attempts_connection
        else:  # 5xx and timeouts share one budget
            exhausted = sum(progress.transport_failures[k] for k in _RETRIED_WITH_BACKOFF) >= retry.max_attempts_transient
        return exhausted or self._stop_reason() is not None  # a stopped batch retries nothing

    def _failed(self, progress: _Progress, kind: ErrorKind, message: str, request: LLMRequest,
                target: ModelRef) -> _Outcome:
        self._note_failure(kind, message, request, target, progress.attempts)
        return progress.outcome("failed", None, None, kind, message)

    async def _send_once(self, provider: Provider, request: LLMRequest, target: ModelRef, attempts: int,
                         input_estimate: int, output_estimate: int,
                         state: _LoopState) -> tuple[LLMResponse, None] | tuple[None, ProviderError] | None:
        """One send within a concurrency slot and the rate limits. A first attempt is not sent once the
        batch stopped, nor (None: wait and come back) while its endpoint is refusing connections."""
        async with state.slots:
            self._unless_stopped(attempts)
            if attempts == 1 and not state.endpoint_gate(target).is_set():
                return None
            reservation = await self._limiter.acquire(target.provider, target.model, input_estimate, output_estimate)
            try:
                self._unless_stopped(attempts)  # nor while it waited out a cool-down
                response = await provider.send(request, target.model)
            except ProviderError as error:
                self._limiter.release(reservation)
                if error.kind is ErrorKind.UNREACHABLE:
                    state.endpoint_gate(target).clear()
                return None, error
            except BaseException:
                self._limiter.release(reservation)
                raise
            self._limiter.reconcile(reservation, response.usage)
            return response, None

    def _unless_stopped(self, attempts: int) -> None:
        if attempts == 1 and self._stop_reason() is not None:
            # Stopped while this request queued for a slot: it is not sent at all.
            raise _StoppedBeforeSending(f"batch stopped early: {self._stop_reason()}")

    async def _wait_before_retry(self, error: ProviderError, target: ModelRef, failures: int) -> None:
        if error.kind is ErrorKind.RATE_LIMIT:
            # The cool-down holds every request to this model, not just this one: the server's limit is
            # per model, so the others would only collect 429s too.
            wait = error.retry_after
            self._limiter.cool_down(target.provider, target.model,
                                    wait if wait is not None else self._backoff(failures))
            return
        await asyncio.sleep(self._backoff(failures))

    def _note_failure(self, kind: ErrorKind, message: str, request: LLMRequest, target: ModelRef,
                      attempts: int) -> None:
        self.stats.failures[kind.value] += 1
        self.stats.failure_reasons[(kind.value, " ".join(message.split())[:_REASON_CHARS])] += 1
        # Once the batch stopped, the requests still in flight end the same way: the stop says it once.
        level = logging.WARNING if self._stop_reason() is None else logging.DEBUG
        logger.log(level, "LLM request failed (%s, role %s, %s, %d attempts): %s",
                   kind.value, request.role, target.label, attempts, message)

    def _backoff(self, failures: int) -> float:
        retry = self.settings.retry
        delay = min(retry.backoff_max_s, retry.backoff_base_s * 2 ** (failures - 1))
        return delay * (1.0 - retry.jitter * self._jitter.random())

    # -- budget and cost --------------------------------------------------------------------------
    def _billable_ref(self, route: Route) -> ModelRef:
        # A simulated run is a rehearsal: its budget is spent in projected dollars.
        return route.projection if route.target.provider == "simulated" else route.target

    def _billable_estimate(self, route: Route, input_tokens: int, output_tokens: int, via_batch: bool = False) -> float:
        if self.settings.budget_usd is None:
            return 0.0
        return estimated_cost(input_tokens, output_tokens, self._billable_ref(route).model, self.settings.prices,
                              via_batch)

    async def _reserve_budget(self, estimate: float, state: _LoopState) -> bool:
        cap = self.settings.budget_usd
        if cap is None:
            return True
        async with state.budget_changed:
            while True:
                if self._budget_exhausted:
                    return False
                if self._spent_usd + self._reserved_usd + estimate <= cap:
                    self._reserved_usd += estimate
                    return True
                if self._reserved_usd <= 1e-12:
                    # Nothing in flight could free room: the cap is reached, stop spending for good.
                    self._budget_exhausted = True
                    return False
                await state.budget_changed.wait()  # in-flight requests may finish under their estimate

    def _expected_output_tokens(self, target: ModelRef, request: LLMRequest) -> int:
        count, total = self._output_observed.get((target.provider, target.model), (0, 0))
        if count == 0:
            return request.sampling.max_tokens
        return min(request.sampling.max_tokens, max(1, round(total / count)))

    def _observe_output(self, target: ModelRef, output_tokens: int) -> None:
        count, total = self._output_observed.get((target.provider, target.model), (0, 0))
        self._output_observed[(target.provider, target.model)] = (count + 1, total + output_tokens)

    def _billed_usage(self, route: Route, sent: LLMRequest, usage: Usage) -> Usage:
        """A simulated reply's usage as its projection target would bill it: the target provider's prompt
        cache rule applied to the prompts this gateway sent it (real providers report their own hits)."""
        if route.target.provider != "simulated":
            return usage
        projection = route.projection
        cache = self._projection_caches.get((projection.provider, projection.model))
        if cache is None:
            rule = cache_rule_for(projection.provider, projection.model)
            if rule is None:
                return usage
            cache = self._projection_caches[(projection.provider, projection.model)] = PrefixCache(rule)
        use = cache.use(request_blocks(sent, projection.provider)).within(usage.input_tokens)
        return usage.model_copy(update={"cached_input_tokens": use.read_tokens,
                                        "cache_write_input_tokens": use.write_tokens})

    def _costs(self, route: Route, usage: Usage, via_batch: bool = False) -> tuple[float | None, float | None]:
        """(cost, projected cost): simulated calls cost nothing and project onto their target's prices; a
        provider batch's answer (`via_batch`) is priced with the batch discount."""
        projected_cost = cost_of(usage, route.projection.model, self.settings.prices, via_batch)
        if projected_cost.unknown_model:
            self.stats.unknown_price_models.add(route.projection.model)
        if route.target.provider == "simulated":
            return 0.0, projected_cost.usd
        if route.target == route.projection:
            return projected_cost.usd, projected_cost.usd
        cost = cost_of(usage, route.target.model, self.settings.prices, via_batch)
        if cost.unknown_model:
            self.stats.unknown_price_models.add(route.target.model)
        return cost.usd, cost.usd

    # -- recording --------------------------------------------------------------------------------
    def _record(self, request: LLMRequest, context: CallContext, route: Route, key: str,
                result: LLMResult, usage: Usage, cost: float | None, projected: float | None,
                outcome: _Outcome | None = None, supersedes: str | None = None, via_batch: bool = False) -> None:
        answered = outcome is not None and outcome.status == "answered"
        response = outcome.response if outcome is not None else result.response
        self.request_log.append(LogRecord(
            entry_id=LogRecord.new_entry_id(), request_key=key, role=request.role,
            provider=route.target.provider, model=route.target.model, projection_model=route.projection.model,
            simulated=route.target.provider == "simulated", request_json=request.model_dump_json(),
            response_json=response.model_dump_json() if response else None,
            status="answered" if answered else result.status,
            validation=outcome.validation if outcome is not None else None,
            repair_json=json.dumps(outcome.rejected, ensure_ascii=False) if outcome and outcome.rejected else None,
            supersedes=supersedes if answered else None,
            error_kind=result.error_kind.value if result.error_kind else None,
            error_message=result.error_message, attempts=result.attempts, repair_turns=result.repair_turns,
            input_tokens=usage.input_tokens, cached_input_tokens=usage.cached_input_tokens,
            cache_write_input_tokens=usage.cache_write_input_tokens, output_tokens=usage.output_tokens,
            cost_usd=cost, projected_cost_usd=projected,
            latency_s=result.latency_s, domain=context.domain, batch=context.batch, run_id=context.run_id,
            asset=context.asset, prompt_version=request.prompt_version,
            settings_fingerprint=self._fingerprint, created_at=now_utc(), via_batch=via_batch))

    def _record_not_sent(self, request: LLMRequest, context: CallContext, route: Route, key: str,
                         stats: ModelStats, kind: ErrorKind, message: str) -> LLMResult:
        result = LLMResult(request_key=key, status="not_sent", error_kind=kind, error_message=message,
                           provider=route.target.provider, model=route.target.model,
                           simulated=route.target.provider == "simulated")
        self._record(request, context, route, key, result, Usage(), None, None)
        stats.not_sent += 1
        self.stats.not_sent[kind.value] += 1
        return result

    def _record_outcome(self, request: LLMRequest, context: CallContext, route: Route, key: str,
                        stats: ModelStats, outcome: _Outcome, cost: float | None,
                        projected: float | None, supersedes: str | None, via_batch: bool = False) -> LLMResult:
        valid = outcome.validation == "valid"
        result = LLMResult(
            request_key=key, status="answered" if valid else "failed", response=outcome.response if valid else None,
            error_kind=outcome.error_kind,
            error_message=outcome.error_message, attempts=outcome.attempts, repair_turns=outcome.repair_turns,
            provider=route.target.provider, model=route.target.model, latency_s=outcome.latency_s,
            cost_usd=cost or 0.0, simulated=route.target.provider == "simulated")
        self._record(request, context, route, key, result, outcome.usage, cost, projected, outcome, supersedes,
                     via_batch)
        if valid:
            stats.answered += 1
        else:
            stats.failed += 1
        stats.input_tokens += outcome.usage.input_tokens
        stats.cached_input_tokens += outcome.usage.cached_input_tokens
        stats.output_tokens += outcome.usage.output_tokens
        stats.cost_usd += cost or 0.0
        stats.projected_cost_usd += projected or 0.0
        stats.latencies_s.append(outcome.latency_s)
        self.stats.completed += 1
        return result

    def _check_failure_rate(self) -> None:
        if self.stats.abort_reason is not None or self.stats.completed < self.settings.failure_rate_min_requests:
            return
        failed = int(self.stats.total("failed"))
        rate = failed / self.stats.completed
        if rate > self.settings.failure_rate_threshold:
            top = "; ".join(f"{kind} x{count}: {message}" for (kind, message), count
                            in self.stats.failure_reasons.most_common(_TOP_REASONS))
            self.stats.abort_reason = (
                f"failure rate {rate:.0%} ({failed} of {self.stats.completed} sent requests) passed the "
                f"threshold of {self.settings.failure_rate_threshold:.0%}; by kind: {dict(self.stats.failures)}; "
                f"top reasons: {top}")
            self.stats.failure_rate_exceeded = True
            logger.error("stopping the LLM batch early: %s", self.stats.abort_reason)
