import asyncio

import pytest

from apigen_pipeline.llm.config import RateLimit
from apigen_pipeline.llm.limits import RateLimiter, TokenBucket
from apigen_pipeline.llm.types import Usage


class FakeClock:
    """Virtual time: sleeping advances the clock instantly, so a minute of pacing takes milliseconds."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def limiter_with(limit: RateLimit, clock: FakeClock) -> RateLimiter:
    return RateLimiter(lambda provider, model: limit, clock=clock, sleep=clock.sleep)


async def send_times(limiter: RateLimiter, clock: FakeClock, workers: int, until: float,
                     input_tokens: int = 0, usage: Usage | None = None) -> list[float]:
    times: list[float] = []

    async def worker() -> None:
        while clock.now < until:
            reservation = await limiter.acquire("openai", "gpt-4o", input_tokens, 0)
            if clock.now >= until:
                break
            times.append(clock.now)
            if usage is not None:
                limiter.reconcile(reservation, usage)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return times


def test_600_per_minute_over_one_minute_is_within_5_percent_and_never_above():
    clock = FakeClock()
    limiter = limiter_with(RateLimit(requests_per_min=600), clock)
    start = clock.now
    times = asyncio.run(send_times(limiter, clock, workers=32, until=start + 60.0))
    assert 570 <= len(times) <= 600
    # Every one-minute window, not just the first: slide over each send time.
    for index, begin in enumerate(times):
        in_window = sum(1 for t in times[index:] if t < begin + 60.0)
        assert in_window <= 600


def test_no_limit_means_no_waiting():
    clock = FakeClock()
    limiter = limiter_with(RateLimit(), clock)

    async def many() -> None:
        for _ in range(1000):
            await limiter.acquire("openai", "gpt-4o", 10_000, 10_000)

    asyncio.run(many())
    assert clock.now == 1000.0


def test_cool_down_blocks_the_model_until_retry_after():
    clock = FakeClock()
    limiter = limiter_with(RateLimit(), clock)
    limiter.cool_down("openai", "gpt-4o", 7.5)

    async def one() -> float:
        await limiter.acquire("openai", "gpt-4o")
        return clock.now

    assert asyncio.run(one()) == pytest.approx(1007.5)
    # Other models are not held back by this model's 429.
    limiter.cool_down("openai", "gpt-4o", 5)
    asyncio.run(limiter.acquire("openai", "gpt-4o-mini"))
    assert clock.now == pytest.approx(1007.5)


def test_input_token_limit_paces_by_reserved_tokens():
    clock = FakeClock()
    limiter = limiter_with(RateLimit(input_tokens_per_min=60_000), clock)  # 1,000 tokens/s
    start = clock.now
    times = asyncio.run(send_times(limiter, clock, workers=4, until=start + 60.0, input_tokens=500))
    # One second's worth of burst, then 1,000 tokens/s: about 2 requests per second.
    assert 118 <= len(times) <= 122


def test_reconcile_charges_tokens_above_the_estimate():
    clock = FakeClock()
    limiter = limiter_with(RateLimit(input_tokens_per_min=60_000), clock)
    start = clock.now
    # Each request reserves 500 but really uses 1,000: the reconciliation halves the pace.
    times = asyncio.run(send_times(limiter, clock, workers=1, until=start + 60.0, input_tokens=500,
                                   usage=Usage(input_tokens=1000)))
    assert 58 <= len(times) <= 62


def test_oversized_request_waits_for_a_full_bucket_and_leaves_debt():
    bucket = TokenBucket(per_minute=60, capacity=1.0, initial=1.0, now=0.0)  # 1 token/s
    assert bucket.seconds_until(10, now=0.0) == 0.0  # a full bucket lets any request through
    bucket.take(10, now=0.0)
    assert bucket.seconds_until(1, now=0.0) == pytest.approx(10.0)  # 9 of debt + 1 needed
