"""The per-owner /xc rate limit: in memory, shared through Redis, and open while Redis is away."""

from __future__ import annotations

import secrets

import pytest

from hookhub.errors import RateLimitedError
from hookhub.signals.limiter import SignalLimiter


async def test_zero_means_no_limit() -> None:
    limiter = SignalLimiter(0, redis_url=None, key_prefix="t:")
    for _ in range(1000):
        await limiter.hit("u-1")
    await limiter.close()


async def test_the_limit_is_per_owner_in_memory() -> None:
    limiter = SignalLimiter(2, redis_url=None, key_prefix="t:")
    await limiter.hit("u-1")
    await limiter.hit("u-1")
    with pytest.raises(RateLimitedError) as raised:
        await limiter.hit("u-1")
    assert 1 <= raised.value.retry_after_s <= 60
    assert raised.value.status_code == 429
    await limiter.hit("u-2")
    await limiter.close()


@pytest.mark.redis
async def test_processes_share_the_window_through_redis(redis_url: str) -> None:
    prefix = f"hookhub-test-{secrets.token_hex(4)}:"
    first = SignalLimiter(3, redis_url=redis_url, key_prefix=prefix)
    second = SignalLimiter(3, redis_url=redis_url, key_prefix=prefix)
    try:
        await first.hit("u-1")
        await second.hit("u-1")
        await first.hit("u-1")
        with pytest.raises(RateLimitedError):
            await second.hit("u-1")
        await second.hit("u-2")
    finally:
        await first.close()
        await second.close()


async def test_a_redis_that_is_away_lets_signals_through() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    limiter = SignalLimiter(1, redis_url="redis://127.0.0.1:1/0", key_prefix="t:")
    try:
        for _ in range(3):
            await limiter.hit("u-1")
    finally:
        await limiter.close()
