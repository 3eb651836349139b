"""The per-owner rate limit of ``/xc``: a moving window from the ``limits`` library.

Counters live in memory for one process, or in Redis when ``HOOKHUB_REDIS_URL`` is set, so
every process counts against the same window. They are keyed by owner, never by code: a code
is a secret and must not become a Redis key. One owner has one code, so this is the per-code
limit.

When Redis does not answer, the signal is let through and a warning logged: the limit guards
against floods, and refusing every signal while Redis restarts would be the worse failure.
"""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool

from hookhub.errors import RateLimitedError

log = structlog.get_logger(__name__)

#: A Redis that takes longer than this is treated as away (the signal goes through).
REDIS_TIMEOUT_S = 2.0
RATE_LIMITED = "Too many signals; retry later"
MIN_RETRY_AFTER_S = 1


def _limits_uri(redis_url: str) -> str:
    # limits names its async Redis schemes async+redis://, async+rediss://, async+redis+unix://.
    if redis_url.startswith("unix://"):
        return "async+redis+" + redis_url
    return "async+" + redis_url


class SignalLimiter:
    """At most ``per_minute`` signals per owner in any 60 seconds; 0 means no limit."""

    def __init__(self, per_minute: int, *, redis_url: str | None, key_prefix: str) -> None:
        self._item = RateLimitItemPerMinute(per_minute) if per_minute > 0 else None
        self._pool: ConnectionPool | None = None
        storage: Storage
        if redis_url is None:
            storage = MemoryStorage()
        else:
            self._pool = ConnectionPool.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
            storage = RedisStorage(
                _limits_uri(redis_url),
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix=f"{key_prefix}signals",
                # limits annotates options as scalars, but hands a pool to redis-py as is.
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, owner: str) -> None:
        """Count one signal of ``owner``; :class:`RateLimitedError` when over the limit."""
        if self._item is None:
            return
        try:
            if await self._limiter.hit(self._item, owner):
                return
            stats = await self._limiter.get_window_stats(self._item, owner)
        except StorageError as exc:
            log.warning("signal.rate_limit_unavailable", error=type(exc.storage_error).__name__)
            return
        # limits reports the reset as a wall-clock time; the window is its own clock.
        wait_s = max(MIN_RETRY_AFTER_S, math.ceil(stats.reset_time - time.time()))
        raise RateLimitedError(RATE_LIMITED, retry_after_s=wait_s)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
