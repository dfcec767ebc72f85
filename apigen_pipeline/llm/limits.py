"""Client-side rate limits per (provider, model): requests/min, input tokens/min, output tokens/min.

Design choice (exactness): the *request* bucket holds a single request. Sends are paced one every
60/limit seconds from the first one, so any one-minute window holds at most `limit` sends (a
600/min limit means one send every 100 ms) and a saturated run stays within a fraction of a percent
of it. A fuller bucket would allow a burst on top of the steady rate and break "never above".
Token buckets hold one second's worth (plus debt, see below): token limits are coarse estimates
anyway, and a whole request must be able to pass.

Token buckets may go negative: a request larger than the bucket waits for a full bucket and then
leaves a debt that later requests wait out, so the long-run rate still holds. `acquire` reserves the
*estimated* tokens; `reconcile` settles with the real usage once the reply is in.

After a 429, `cool_down` blocks the (provider, model) until `Retry-After` has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from apigen_pipeline.llm.config import RateLimit
from apigen_pipeline.llm.types import Usage

LimitKey = tuple[str, str]  # (provider, model)
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_SECONDS_PER_MINUTE = 60.0
_NEGLIGIBLE_WAIT_S = 1e-9


class TokenBucket:
    def __init__(self, per_minute: float, capacity: float, initial: float, now: float):
        self.rate_per_s = per_minute / _SECONDS_PER_MINUTE
        self.capacity = capacity
        self.level = initial
        self._updated = now

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self.level = min(self.capacity, self.level + (now - self._updated) * self.rate_per_s)
            self._updated = now

    def seconds_until(self, amount: float, now: float) -> float:
        self._refill(now)
        needed = min(amount, self.capacity)
        return 0.0 if self.level >= needed else (needed - self.level) / self.rate_per_s

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level -= amount

    def put_back(self, amount: float, now: float) -> None:
        self._refill(now)
        self.level = min(self.capacity, self.level + amount)


@dataclass
class _KeyState:
    requests: TokenBucket | None
    input_tokens: TokenBucket | None
    output_tokens: TokenBucket | None
    cool_down_until: float = 0.0

    @property
    def unlimited(self) -> bool:
        return self.requests is None and self.input_tokens is None and self.output_tokens is None


@dataclass(frozen=True)
class Reservation:
    key: LimitKey
    input_tokens: int
    output_tokens: int
    granted_at: float = field(compare=False)


class RateLimiter:
    def __init__(self, limit_for: Callable[[str, str], RateLimit], *, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep, token_burst_s: float = 1.0):
        self._limit_for = limit_for
        self._clock = clock
        self._sleep = sleep
        self._token_burst_s = token_burst_s
        self._states: dict[LimitKey, _KeyState] = {}
        # asyncio locks bind to the loop that first waits on them; a gateway may run several loops
        # (one per `complete_many`) over its lifetime, so locks are per loop while buckets persist.
        self._locks: dict[LimitKey, asyncio.Lock] = {}
        self._locks_loop: asyncio.AbstractEventLoop | None = None
        self.cool_downs = 0

    def _state(self, key: LimitKey) -> _KeyState:
        state = self._states.get(key)
        if state is None:
            limit = self._limit_for(*key)
            now = self._clock()
            state = _KeyState(
                requests=(TokenBucket(limit.requests_per_min, 1.0, 1.0, now)
                          if limit.requests_per_min else None),
                input_tokens=self._token_bucket(limit.input_tokens_per_min, now),
                output_tokens=self._token_bucket(limit.output_tokens_per_min, now),
            )
            self._states[key] = state
        return state

    def _token_bucket(self, per_minute: float | None, now: float) -> TokenBucket | None:
        if not per_minute:
            return None
        capacity = max(1.0, per_minute / _SECONDS_PER_MINUTE * self._token_burst_s)
        return TokenBucket(per_minute, capacity, capacity, now)

    def _lock(self, key: LimitKey) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if loop is not self._locks_loop:
            self._locks = {}
            self._locks_loop = loop
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def acquire(self, provider: str, model: str, input_tokens: int = 0,
                      output_tokens: int = 0) -> Reservation:
        """Wait until a send fits every limit and any cool-down is over, then reserve it."""
        key = (provider, model)
        state = self._state(key)
        if state.unlimited and state.cool_down_until <= self._clock():
            return Reservation(key, input_tokens, output_tokens, self._clock())
        # One waiter per key at a time (FIFO): the head of the queue takes what it needs first.
        async with self._lock(key):
            while True:
                now = self._clock()
                wait = max(
                    state.cool_down_until - now,
                    state.requests.seconds_until(1, now) if state.requests else 0.0,
                    state.input_tokens.seconds_until(input_tokens, now) if state.input_tokens else 0.0,
                    state.output_tokens.seconds_until(output_tokens, now) if state.output_tokens else 0.0,
                )
                # Float residue can leave waits too small to move the clock: treat them as done.
                if wait <= _NEGLIGIBLE_WAIT_S:
                    break
                await self._sleep(wait)
            if state.requests:
                state.requests.take(1, now)
            if state.input_tokens:
                state.input_tokens.take(input_tokens, now)
            if state.output_tokens:
                state.output_tokens.take(output_tokens, now)
            return Reservation(key, input_tokens, output_tokens, now)

    def reconcile(self, reservation: Reservation, usage: Usage) -> None:
        """Settle the token buckets with what the provider actually counted."""
        state = self._state(reservation.key)
        now = self._clock()
        for bucket, reserved, actual in ((state.input_tokens, reservation.input_tokens, usage.input_tokens),
                                         (state.output_tokens, reservation.output_tokens, usage.output_tokens)):
            if bucket is None:
                continue
            if actual > reserved:
                bucket.take(actual - reserved, now)
            else:
                bucket.put_back(reserved - actual, now)

    def release(self, reservation: Reservation) -> None:
        """The send failed before the provider counted tokens: return them (the request stays spent)."""
        self.reconcile(reservation, Usage())

    def cool_down(self, provider: str, model: str, seconds: float) -> None:
        """Block this (provider, model) for `seconds` from now (a 429's Retry-After)."""
        state = self._state((provider, model))
        until = self._clock() + max(0.0, seconds)
        if until > state.cool_down_until:
            state.cool_down_until = until
            self.cool_downs += 1

    def cooling_until(self, provider: str, model: str) -> float:
        return self._state((provider, model)).cool_down_until
