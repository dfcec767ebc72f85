"""The LLM gateway: every LLM call of the pipeline goes through `LLMGateway`.

Per request: cache lookup in the request log (answered => returned, nothing sent) -> budget check
(projected cost of in-flight requests counted) -> rate limiter -> send -> by error kind: transient
and rate-limit errors retried with backoff (a 429's Retry-After becomes a cool-down of that model),
invalid output repaired with a bounded re-ask, permanent errors fail at once and stop the batch
loudly -> every finished request is written to the request log. A batch stops early when its failure
rate passes the threshold; the rest are logged as not sent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from apigen_pipeline.llm.capabilities import EndpointCapabilities
from apigen_pipeline.llm.config import LLMSettings, ModelRef, RoleModels, Route
from apigen_pipeline.llm.errors import ProviderError
from apigen_pipeline.llm.factory import ProviderFactory, ProviderPool, preload_providers
from apigen_pipeline.llm.limits import RateLimiter
from apigen_pipeline.llm.pricing import cost_of, estimated_cost
from apigen_pipeline.llm.providers.base import Provider
from apigen_pipeline.llm.request_log import LogRecord, RequestStore, now_utc
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


class PermanentProviderError(RuntimeError):
    """An error that will fail every request (auth, unknown model): the batch stops loudly.

    `results` holds the batch's results in request order when raised by `complete_many`.
    """

    def __init__(self, message: str, result: LLMResult, results: list[LLMResult] | None = None):
        super().__init__(message)
        self.result = result
        self.results = results or []


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
    unknown_price_models: set[str] = field(default_factory=set)
    completed: int = 0          # sent and finished (answered or failed): the early-stop base
    abort_reason: str | None = None

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
    status: Literal["answered", "failed"]
    response: LLMResponse | None
    error_kind: ErrorKind | None
    error_message: str | None
    attempts: int
    repair_turns: int
    usage: Usage
    latency_s: float


class _StoppedBeforeSending(Exception):
    pass


class _LoopState:
    """asyncio primitives bind to one event loop; a gateway may outlive several (one per `complete_many`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_concurrency: int):
        self.loop = loop
        self.slots = asyncio.Semaphore(max_concurrency)
        self.budget_changed = asyncio.Condition()
        self.in_flight: dict[str, asyncio.Future[LLMResult]] = {}


def judge_index(request: LLMRequest) -> int | None:
    raw = request.tags.get("judge_index")
    return int(raw) if raw is not None else None


class LLMGateway:
    def __init__(self, settings: LLMSettings, request_log: RequestStore,
                 providers: Mapping[str, Provider] | None = None, *,
                 provider_factories: Mapping[str, ProviderFactory] | None = None,
                 capabilities: EndpointCapabilities | None = None,
                 limiter: RateLimiter | None = None, jitter_seed: int | None = None):
        self.settings = settings
        self.request_log = request_log
        self.stats = GatewayStats()
        self._provider_overrides = dict(providers or {})
        # Backends this layer does not hold (the simulated one) come from the caller, by provider name.
        self._provider_factories = dict(provider_factories or {})
        # What each endpoint accepts, learned once and kept across the event loops this gateway serves.
        self.capabilities = capabilities if capabilities is not None else EndpointCapabilities()
        self._pool = self._new_pool()
        self._limiter = limiter or RateLimiter(settings.limit_for)
        self._fingerprint = settings.fingerprint()
        self._scrub = SecretScrubber.from_env(settings.api_key_env_names())
        self._jitter = random.Random(jitter_seed)
        self._loop_state: _LoopState | None = None
        self._spent_usd = 0.0
        self._reserved_usd = 0.0
        self._budget_exhausted = False
        self._output_observed: dict[tuple[str, str], tuple[int, int]] = {}  # (count, total tokens)
        self._routes: dict[tuple[str, int | None], Route] = {}
        preload_providers(self._target_providers() - set(self._provider_overrides))

    # -- public API ---------------------------------------------------------------------------
    async def acomplete(self, request: LLMRequest, context: CallContext) -> LLMResult:
        route = self._route(request)
        key = request_key(request, route.target.provider, route.target.model)
        cached = (await asyncio.to_thread(self.request_log.lookup_many, [key])).get(key)
        return await self._complete(request, context, route, key, cached)

    async def acomplete_many(self, requests: Sequence[LLMRequest], context: CallContext) -> list[LLMResult]:
        """All requests concurrently (capped), results in request order."""
        routes = [self._route(request) for request in requests]
        keys = [request_key(request, route.target.provider, route.target.model)
                for request, route in zip(requests, routes, strict=True)]
        cached = await asyncio.to_thread(self.request_log.lookup_many, keys)
        results: list[LLMResult | BaseException | None] = [None] * len(requests)
        pending: dict[int, asyncio.Task[LLMResult]] = {}
        for index, (request, route, key) in enumerate(zip(requests, routes, keys, strict=True)):
            hit = cached.get(key)
            if hit is not None:  # no task for a cache hit: replaying a finished batch stays cheap
                self.stats.for_route(request.role, route).cache_hits += 1
                results[index] = hit
            else:
                pending[index] = asyncio.create_task(self._complete(request, context, route, key, None))
        if pending:
            outcomes = await asyncio.gather(*pending.values(), return_exceptions=True)
            for index, outcome in zip(pending, outcomes, strict=True):
                results[index] = outcome
        permanent = next((r for r in results if isinstance(r, PermanentProviderError)), None)
        other_error = next((r for r in results if isinstance(r, BaseException)
                            and not isinstance(r, PermanentProviderError)), None)
        if other_error is not None:
            raise other_error
        final = [r.result if isinstance(r, PermanentProviderError) else r for r in results]
        logger.info("LLM batch done: %d requests, %d from cache, %d answered, %d failed, %d not sent",
                    len(requests), len(requests) - len(pending),
                    sum(1 for r in final if r.status == "answered" and not r.from_cache),
                    sum(1 for r in final if r.status == "failed"),
                    sum(1 for r in final if r.status == "not_sent"))
        if permanent is not None:
            raise PermanentProviderError(str(permanent), permanent.result, final)
        return final  # type: ignore[return-value]

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
        routes = [self.settings.route(role) for role in RoleModels.model_fields]  # type: ignore[arg-type]
        routes += [self.settings.route("judge", index) for index in range(len(self.settings.judges))]
        return {route.target.provider for route in routes}

    def _route(self, request: LLMRequest) -> Route:
        # Settings are frozen: a route is built (and validated) once per role and judge.
        place = (request.role, judge_index(request))
        route = self._routes.get(place)
        if route is None:
            route = self._routes[place] = self.settings.route(*place)
        return route

    def _new_pool(self) -> ProviderPool:
        return ProviderPool(self.settings, self._provider_overrides, self._provider_factories, self.capabilities)

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._loop_state is None or self._loop_state.loop is not loop:
            self._loop_state = _LoopState(loop, self.settings.max_concurrency)
            # SDK clients belong to the loop they were first used on: start a fresh pool.
            self._pool = self._new_pool()
        return self._loop_state

    async def _complete(self, request: LLMRequest, context: CallContext, route: Route, key: str,
                        cached: LLMResult | None) -> LLMResult:
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
            result = await self._send_and_record(request, context, route, key, stats, state)
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
                               stats: ModelStats, state: _LoopState) -> LLMResult:
        if self._stop_reason() is not None:
            return self._record_not_sent(request, context, route, key, stats, ErrorKind.ABORTED,
                                         f"batch stopped early: {self._stop_reason()}")
        input_estimate = estimate_request_tokens(request)
        output_estimate = self._expected_output_tokens(route.target, request)
        budget_estimate = self._billable_estimate(route, input_estimate, output_estimate)
        if not await self._reserve_budget(budget_estimate, state):
            return self._record_not_sent(request, context, route, key, stats, ErrorKind.BUDGET,
                                         f"budget cap of ${self.settings.budget_usd} reached")
        cost: float | None = None
        projected: float | None = None
        try:
            outcome = await self._attempt(request, route, input_estimate, output_estimate, state)
            cost, projected = self._costs(route, outcome.usage)
            self._spent_usd += (projected or 0.0) if route.target.provider == "simulated" else (cost or 0.0)
        except _StoppedBeforeSending as stopped:
            return self._record_not_sent(request, context, route, key, stats, ErrorKind.ABORTED, str(stopped))
        finally:
            self._reserved_usd -= budget_estimate
            async with state.budget_changed:
                state.budget_changed.notify_all()
        result = self._record_outcome(request, context, route, key, stats, outcome, cost, projected)
        if outcome.error_kind is ErrorKind.PERMANENT:
            message = (f"permanent error from {route.target.label} for role {request.role}: "
                       f"{outcome.error_message}")
            if self.stats.abort_reason is None:
                self.stats.abort_reason = message
            raise PermanentProviderError(message, result)
        self._check_failure_rate()
        return result

    async def _attempt(self, request: LLMRequest, route: Route, input_estimate: int, output_estimate: int,
                       state: _LoopState) -> _Outcome:
        target = route.target
        retry = self.settings.retry
        provider = self._pool.get(target)
        current = request
        attempts = repairs = transient_failures = rate_limited = 0
        usage = Usage()
        started = time.monotonic()

        def failed(kind: ErrorKind, message: str) -> _Outcome:
            self.stats.failures[kind.value] += 1
            logger.warning("LLM request failed (%s, role %s, %s, %d attempts): %s",
                           kind.value, request.role, target.label, attempts, message)
            return _Outcome("failed", None, kind, message, attempts, repairs, usage, time.monotonic() - started)

        while True:
            attempts += 1
            async with state.slots:
                if attempts == 1 and self._stop_reason() is not None:
                    # Stopped while this request queued for a slot: it is not sent at all.
                    raise _StoppedBeforeSending(f"batch stopped early: {self._stop_reason()}")
                reservation = await self._limiter.acquire(target.provider, target.model,
                                                          input_estimate, output_estimate)
                try:
                    response = await provider.send(current, target.model)
                except ProviderError as error:
                    self._limiter.release(reservation)
                    send_error: ProviderError | None = error
                else:
                    self._limiter.reconcile(reservation, response.usage)
                    send_error = None
            invalid_response: LLMResponse | None = None
            if send_error is None:
                usage = usage + response.usage
                self._observe_output(target, response.usage.output_tokens)
                try:
                    validated = validate_response(request, response)
                except StructuredOutputError as invalid:
                    problem, invalid_response = str(invalid), response
                else:
                    return _Outcome("answered", validated, None, None, attempts, repairs, usage,
                                    time.monotonic() - started)
            else:
                kind, problem = send_error.kind, self._scrub(send_error.message)
                if kind is ErrorKind.RATE_LIMIT:
                    rate_limited += 1
                    if rate_limited >= retry.max_attempts_rate_limit:
                        return failed(kind, problem)
                    self.stats.retries[kind.value] += 1
                    wait = send_error.retry_after
                    # The cool-down holds every request to this model, not just this one: the
                    # server's limit is per model, so the others would only collect 429s too.
                    self._limiter.cool_down(target.provider, target.model,
                                            wait if wait is not None else self._backoff(rate_limited))
                    continue
                if kind is ErrorKind.TRANSIENT:
                    transient_failures += 1
                    if transient_failures >= retry.max_attempts_transient:
                        return failed(kind, problem)
                    self.stats.retries[kind.value] += 1
                    await asyncio.sleep(self._backoff(transient_failures))
                    continue
                if kind is not ErrorKind.INVALID_OUTPUT:
                    return failed(ErrorKind.PERMANENT, problem)
            if repairs >= self.settings.max_repair_turns:
                return failed(ErrorKind.INVALID_OUTPUT, problem)
            repairs += 1
            self.stats.retries[ErrorKind.INVALID_OUTPUT.value] += 1
            current = request.model_copy(update={
                "messages": repair_request(request, current.messages, invalid_response, problem)})

    def _backoff(self, failures: int) -> float:
        retry = self.settings.retry
        delay = min(retry.backoff_max_s, retry.backoff_base_s * 2 ** (failures - 1))
        return delay * (1.0 - retry.jitter * self._jitter.random())

    # -- budget and cost --------------------------------------------------------------------------
    def _billable_ref(self, route: Route) -> ModelRef:
        # A simulated run is a rehearsal: its budget is spent in projected dollars.
        return route.projection if route.target.provider == "simulated" else route.target

    def _billable_estimate(self, route: Route, input_tokens: int, output_tokens: int) -> float:
        if self.settings.budget_usd is None:
            return 0.0
        return estimated_cost(input_tokens, output_tokens, self._billable_ref(route).model, self.settings.prices)

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

    def _costs(self, route: Route, usage: Usage) -> tuple[float | None, float | None]:
        """(cost, projected cost): simulated calls cost nothing and project onto their target's prices."""
        projected_cost = cost_of(usage, route.projection.model, self.settings.prices)
        if projected_cost.unknown_model:
            self.stats.unknown_price_models.add(route.projection.model)
        if route.target.provider == "simulated":
            return 0.0, projected_cost.usd
        if route.target == route.projection:
            return projected_cost.usd, projected_cost.usd
        cost = cost_of(usage, route.target.model, self.settings.prices)
        if cost.unknown_model:
            self.stats.unknown_price_models.add(route.target.model)
        return cost.usd, cost.usd

    # -- recording --------------------------------------------------------------------------------
    def _record(self, request: LLMRequest, context: CallContext, route: Route, key: str,
                result: LLMResult, usage: Usage, cost: float | None, projected: float | None) -> None:
        self.request_log.append(LogRecord(
            entry_id=LogRecord.new_entry_id(), request_key=key, role=request.role,
            provider=route.target.provider, model=route.target.model, projection_model=route.projection.model,
            simulated=route.target.provider == "simulated", request_json=request.model_dump_json(),
            response_json=result.response.model_dump_json() if result.response else None,
            status=result.status, error_kind=result.error_kind.value if result.error_kind else None,
            error_message=result.error_message, attempts=result.attempts, repair_turns=result.repair_turns,
            input_tokens=usage.input_tokens, cached_input_tokens=usage.cached_input_tokens,
            output_tokens=usage.output_tokens, cost_usd=cost, projected_cost_usd=projected,
            latency_s=result.latency_s, domain=context.domain, batch=context.batch, run_id=context.run_id,
            asset=context.asset, prompt_version=request.prompt_version,
            settings_fingerprint=self._fingerprint, created_at=now_utc()))

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
                        projected: float | None) -> LLMResult:
        result = LLMResult(
            request_key=key, status=outcome.status, response=outcome.response, error_kind=outcome.error_kind,
            error_message=outcome.error_message, attempts=outcome.attempts, repair_turns=outcome.repair_turns,
            provider=route.target.provider, model=route.target.model, latency_s=outcome.latency_s,
            cost_usd=cost or 0.0, simulated=route.target.provider == "simulated")
        self._record(request, context, route, key, result, outcome.usage, cost, projected)
        if outcome.status == "answered":
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
            self.stats.abort_reason = (
                f"failure rate {rate:.0%} ({failed} of {self.stats.completed} sent requests) passed the "
                f"threshold of {self.settings.failure_rate_threshold:.0%}; by kind: {dict(self.stats.failures)}")
            logger.error("stopping the LLM batch early: %s", self.stats.abort_reason)
