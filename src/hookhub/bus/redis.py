"""The Redis bus: Redis pub/sub, so a publish on any hookhub process reaches all of them.

One pub/sub connection per process carries every subscription. When Redis goes away the reader
reconnects with capped, jittered backoff and subscribes again to everything it had, so callers
never resubscribe themselves. Messages published while Redis is away are lost (the bus is
at-most-once; see :mod:`hookhub.bus.base`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from hookhub.backoff import backoff_delay_s
from hookhub.bus.base import Handler, Subscription, is_pattern
from hookhub.errors import BusError

log = structlog.get_logger(__name__)

DEFAULT_KEY_PREFIX = "hookhub:"
SOCKET_CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
#: The pub/sub connection is pinged when idle this long, so a silent network loss is noticed.
HEALTH_CHECK_INTERVAL_S = 10
READ_TIMEOUT_S = 1.0
#: Always subscribed, so the reader has a live subscription to wait on even with no users.
CONTROL_TOPIC = "_bus"

_TRANSPORT_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


@contextlib.asynccontextmanager
async def _mapped_errors(doing: str) -> AsyncIterator[None]:
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        raise BusError(f"redis unreachable while {doing}") from exc


class RedisBus:
    def __init__(self, url: str, *, key_prefix: str = DEFAULT_KEY_PREFIX) -> None:
        self._url = url
        self._prefix = key_prefix
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._subscriptions: list[Subscription] = []
        self._refs: Counter[str] = Counter()
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def start(self) -> None:
        self._client = Redis.from_url(
            self._url,
            socket_connect_timeout=SOCKET_CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=HEALTH_CHECK_INTERVAL_S,
        )
        self._reader = asyncio.create_task(self._read_forever(), name="hookhub-redis-bus")

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        for subscription in list(self._subscriptions):
            await subscription.close()
        await self._drop_pubsub()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def publish(self, topic: str, message: bytes) -> None:
        async with _mapped_errors("publishing"):
            await self._require_client().publish(self._prefix + topic, message)

    async def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        subscription = Subscription(pattern, handler, on_close=self._forget)
        self._subscriptions.append(subscription)
        self._refs[pattern] += 1
        if self._refs[pattern] == 1 and self._pubsub is not None and self.connected.is_set():
            # Best effort now; if Redis is away the reader subscribes on reconnect.
            with contextlib.suppress(*_TRANSPORT_ERRORS):
                await self._redis_subscribe(self._pubsub, [pattern])
        return subscription

    async def ping(self) -> None:
        async with _mapped_errors("pinging"):
            await self._require_client().ping()

    def _require_client(self) -> Redis:
        if self._client is None:
            raise BusError("the redis bus is not started")
        return self._client

    async def _forget(self, subscription: Subscription) -> None:
        self._subscriptions.remove(subscription)
        self._refs[subscription.pattern] -= 1
        if self._refs[subscription.pattern] > 0:
            return
        del self._refs[subscription.pattern]
        if self._pubsub is not None and self.connected.is_set():
            key = self._prefix + subscription.pattern
            with contextlib.suppress(*_TRANSPORT_ERRORS):
                if is_pattern(subscription.pattern):
                    await self._pubsub.punsubscribe(key)
                else:
                    await self._pubsub.unsubscribe(key)

    async def _redis_subscribe(self, pubsub: PubSub, patterns: list[str]) -> None:
        channels = [self._prefix + p for p in patterns if not is_pattern(p)]
        globs = [self._prefix + p for p in patterns if is_pattern(p)]
        if channels:
            await pubsub.subscribe(*channels)
        if globs:
            await pubsub.psubscribe(*globs)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self.connected.clear()
        if pubsub is not None:
            with contextlib.suppress(*_TRANSPORT_ERRORS):
                await pubsub.aclose()

    async def _read_forever(self) -> None:
        attempt = 0
        while True:
            try:
                pubsub = self._require_client().pubsub()
                self._pubsub = pubsub
                await self._redis_subscribe(pubsub, [CONTROL_TOPIC, *self._refs])
                self.connected.set()
                if attempt:
                    self.reconnects += 1
                    log.info("bus.redis.reconnected", attempts=attempt)
                attempt = 0
                while True:
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=READ_TIMEOUT_S
                    )
                    if message is not None:
                        self._dispatch(message)
            except _TRANSPORT_ERRORS as exc:
                await self._drop_pubsub()
                delay_s = backoff_delay_s(attempt)
                attempt += 1
                log.warning("bus.redis.disconnected", error=type(exc).__name__, retry_in_s=delay_s)
                await asyncio.sleep(delay_s)

    def _dispatch(self, message: dict[str, Any]) -> None:
        # A message reaches the subscriptions registered under the exact key Redis matched
        # (channel or pattern), so a topic matching two subscriptions is delivered once to each.
        kind = message["type"]
        matched = message["pattern"] if kind == "pmessage" else message["channel"]
        if kind not in ("message", "pmessage"):
            return
        key = _text(matched).removeprefix(self._prefix)
        topic = _text(message["channel"]).removeprefix(self._prefix)
        data = message["data"]
        for subscription in self._subscriptions:
            if subscription.pattern == key:
                subscription.offer(topic, data)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
