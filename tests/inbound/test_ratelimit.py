"""Rate limits per endpoint and client: in memory, and shared through the real Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable

import pytest

from hookhub.inbound.ratelimit import RateLimiter

MakeLimiter = Callable[[], RateLimiter]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    """Limiters on one storage; on Redis they share a unique key prefix, as processes would."""
    made: list[RateLimiter] = []
    if request.param == "memory":
        memory = RateLimiter(None, key_prefix="unused:")

        def build() -> RateLimiter:
            return memory

    else:
        url: str = request.getfixturevalue("redis_url")
        prefix = f"hookhub-test-{secrets.token_hex(6)}:"

        def build() -> RateLimiter:
            limiter = RateLimiter(url, key_prefix=prefix)
            made.append(limiter)
            return limiter

    yield build
    for index, limiter in enumerate(made):
        if index == 0:
            await limiter.reset()
        await limiter.close()


async def test_a_client_over_the_rate_is_refused_with_a_wait(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    decisions = [await limiter.check("ep1", "198.51.100.1", "3/minute") for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    # Within two windows: a full window's hits still weigh on the next one as it slides out.
    assert all(1 <= d.retry_after_s <= 120 for d in decisions[3:])


async def test_clients_and_endpoints_have_their_own_budgets(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter()
    assert (await limiter.check("ep1", "198.51.100.1", "1/minute")).allowed
    assert not (await limiter.check("ep1", "198.51.100.1", "1/minute")).allowed
    assert (await limiter.check("ep1", "198.51.100.2", "1/minute")).allowed
    assert (await limiter.check("ep2", "198.51.100.1", "1/minute")).allowed


async def test_processes_share_the_count(make_limiter: MakeLimiter) -> None:
    """Two limiters (two processes' worth) on one storage spend one budget."""
    first, second = make_limiter(), make_limiter()
    assert (await first.check("ep1", "198.51.100.1", "2/minute")).allowed
    assert (await second.check("ep1", "198.51.100.1", "2/minute")).allowed
    assert not (await first.check("ep1", "198.51.100.1", "2/minute")).allowed
    assert not (await second.check("ep1", "198.51.100.1", "2/minute")).allowed


async def test_unreachable_redis_lets_requests_through() -> None:
    limiter = RateLimiter("redis://127.0.0.1:1/0", key_prefix="nowhere:")
    try:
        assert (await limiter.check("ep1", "198.51.100.1", "1/minute")).allowed
        assert (await limiter.check("ep1", "198.51.100.1", "1/minute")).allowed
    finally:
        await limiter.close()
