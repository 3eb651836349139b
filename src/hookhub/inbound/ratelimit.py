"""Per-endpoint, per-client rate limits.

Counts live in memory for one process (:class:`~hookhub.inbound.window.SlidingWindows`), or in
Redis when ``HOOKHUB_REDIS_URL`` is set, through the ``limits`` library, so every process
behind a load balancer counts against the same budget. Both use the sliding-window counter
strategy: one round trip per request to Redis, and a caller cannot double its budget across a
window boundary as a fixed window would allow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import limits
import structlog
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import ConnectionPool

from hookhub.inbound.window import SlidingWindows

log = structlog.get_logger(__name__)

#: Appended to the deployment's Redis key prefix.
KEY_PREFIX_SUFFIX = "inbound-rate"
#: The least a refused caller is told to wait, in seconds (``Retry-After`` is whole seconds).
MIN_RETRY_AFTER_S = 1
#: A Redis that does not answer this fast counts as away (the request then passes).
CONNECT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0


@lru_cache(maxsize=1024)
def parse(rate: str) -> limits.RateLimitItem:
    """``"100/minute"`` → a ``RateLimitItem``; rates were validated when the endpoint was saved."""
    return limits.parse(rate)


def _redis_uri(url: str) -> str:
    # limits picks its async Redis client by the ``async+`` scheme prefix.
    return url if url.startswith("async+") else f"async+{url}"


class RateLimiter:
    """``check(endpoint_id, client, rate)``: count one request, and say whether it may pass."""

    def __init__(
        self,
        redis_url: str | None,
        *,
        key_prefix: str,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        # Our own pool, so close() can let go of its connections at shutdown.
        self._pool: ConnectionPool | None = None
        #: The counts when there is no Redis to share them through.
        self._memory = SlidingWindows()
        self._monotonic_s = monotonic_s
        self._shared: SlidingWindowCounterRateLimiter | None = None
        self.storage: Storage | None = None
        if redis_url is None:
            return
        self._pool = ConnectionPool.from_url(redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        options: dict[str, Any] = {"connection_pool": self._pool}
        self.storage = RedisStorage(
            _redis_uri(redis_url),
            implementation="redispy",
            key_prefix=f"{key_prefix}{KEY_PREFIX_SUFFIX}",
            **options,
        )
        self._shared = SlidingWindowCounterRateLimiter(self.storage)

    async def check(self, endpoint_id: str, client: str, rate: str) -> Decision:
        """Count this request; refused when the client is over the endpoint's rate.

        When the shared storage (Redis) is unreachable the request passes and the failure is
        logged: refusing every webhook while Redis restarts would lose deliveries that senders
        may not retry, which is worse than a few minutes without a limit.
        """
        item = parse(rate)
        if self._shared is None:
            key = (endpoint_id, client, rate)
            wait_s = self._memory.hit(key, item.amount, item.get_expiry(), self._monotonic_s())
            if wait_s is None:
                return Decision(True)
            return Decision(False, max(MIN_RETRY_AFTER_S, math.ceil(wait_s)))
        try:
            if await self._shared.hit(item, endpoint_id, client):
                return Decision(True)
            stats = await self._shared.get_window_stats(item, endpoint_id, client)
        except Exception as exc:  # the storage's own errors (redis, OSError): fail open
            log.warning("inbound.rate_limit_unavailable", error=type(exc).__name__)
            return Decision(True)
        wait_s = max(MIN_RETRY_AFTER_S, math.ceil(stats.reset_time - time.time()))
        return Decision(False, wait_s)

    async def reset(self) -> None:
        """Forget every count (tests)."""
        self._memory.clear()
        if self.storage is not None:
            await self.storage.reset()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
