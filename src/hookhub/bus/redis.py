"""The Redis bus: Redis pub/sub, so a publish on any hookhub process reaches all of them.

One pub/sub connection per process carries every subscription. When Redis goes away the reader
reconnects with capped, jittered backoff and subscribes again to everything it had, so callers
never resubscribe themselves. Messages published while Redis is away are lost (the bus is
at-most-once; see :mod:`hookhub.bus.base`).

States of the pub/sub connection, all driven by the reader task::

    connecting ──(every subscription confirmed by Redis)──> established ──(error, silence)──┐
        ^                                                                                    │
        └──────────────────────────── backoff sleep <───────────────────────────────────────┘

:attr:`RedisBus.connected` is set exactly while a connection is established, and
:attr:`RedisBus.reconnects` counts the times one was established again after the first.

Reconnecting is this module's job alone. redis-py 8 would otherwise retry reads on the pub/sub
connection itself (10 times by default) and resubscribe behind our back, which races with the
reader here, hides outages from ``connected``/``reconnects``, and sometimes gives up anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hookhub.backoff import backoff_delay_s
from hookhub.bus.base import DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES, Handler, Subscription, is_pattern
from hookhub.errors import BusError

log = structlog.get_logger(__name__)

DEFAULT_KEY_PREFIX = "hookhub:"
SOCKET_CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0
#: After this long without a byte from Redis the reader pings; after twice this long it gives
#: the connection up. TCP alone can take many minutes to notice a silently lost peer.
HEALTH_CHECK_INTERVAL_S = 10.0
#: Always subscribed, so the pub/sub connection exists to read from even with no users.
CONTROL_TOPIC = "_bus"
PING_MESSAGE = b"hookhub-bus-ping"

_TRANSPORT_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
#: Characters special in Redis globs (PSUBSCRIBE), escaped in the key prefix.
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


@contextlib.asynccontextmanager
async def _mapped_errors(doing: str) -> AsyncIterator[None]:
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        raise BusError(f"redis unreachable while {doing}") from exc
    except redis_errors.RedisError as exc:
        raise BusError(f"redis failed while {doing}") from exc


@dataclass(eq=False)
class _Session:
    """One pub/sub connection, and what Redis was asked and has confirmed on it."""

    pubsub: PubSub
    #: Patterns a (P)SUBSCRIBE was sent for on this connection and not since unsubscribed.
    requested: set[str] = field(default_factory=set)
    #: (P)SUBSCRIBE commands sent whose confirmation the reader has not read yet.
    unconfirmed: Counter[str] = field(default_factory=Counter)
    #: One future per pattern for the callers of ``subscribe`` waiting on its confirmation.
    waiters: dict[str, asyncio.Future[None]] = field(default_factory=dict)
    established: bool = False


class RedisBus:
    """The :class:`~hookhub.bus.base.Bus` over Redis pub/sub.

    ``key_prefix`` is put before every topic, so several hookhub deployments (or test runs)
    can share one Redis. ``client_name`` is set on both connections (``CLIENT LIST``).
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        client_name: str | None = None,
        max_queued: int = DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES,
        health_check_interval_s: float = HEALTH_CHECK_INTERVAL_S,
    ) -> None:
        if health_check_interval_s <= 0:
            raise ValueError(f"health_check_interval_s must be > 0, got {health_check_interval_s}")
        self._url = url
        self._prefix = key_prefix
        # A prefix holding glob characters must match only itself inside a PSUBSCRIBE pattern.
        self._glob_prefix = _GLOB_SPECIAL.sub(r"\\\1", key_prefix)
        self._client_name = client_name
        self._max_queued = max_queued
        self._health_check_interval_s = health_check_interval_s
        self._client: Redis | None = None
        self._pubsub_client: Redis | None = None
        self._reader: asyncio.Task[None] | None = None
        self._session: _Session | None = None
        self._by_pattern: dict[str, list[Subscription]] = {}
        self._ever_connected = False
        self.connected = asyncio.Event()
        self.reconnects = 0

    async def start(self) -> None:
        """Start the reader and return at once; ``connected`` is set once Redis answers."""
        if self._client is not None:
            raise RuntimeError("the redis bus is already started")
        self._client = Redis.from_url(
            self._url,
            socket_connect_timeout=SOCKET_CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            health_check_interval=HEALTH_CHECK_INTERVAL_S,
            client_name=self._client_name,
            # redis-py 8 retries 10 times with backoff by default; a publish while Redis is
            # away should fail fast instead (the caller counts it and goes on). One immediate
            # retry, on ConnectionError only, covers a pooled connection that Redis closed
            # (restart, CLIENT KILL) and that fails on first use. Not on TimeoutError: a
            # PUBLISH that timed out may have been delivered, and repeating it would deliver
            # it twice.
            retry=Retry(NoBackoff(), 1, supported_errors=(redis_errors.ConnectionError,)),
        )
        self._pubsub_client = Redis.from_url(
            self._url,
            socket_connect_timeout=SOCKET_CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            client_name=self._client_name,
            # No retries at all (see the module docstring), and no health_check_interval:
            # redis-py's pub/sub health check only sends a PING; its PONG is swallowed and
            # get_message returns None whether it came or not, so a silently dead connection
            # is never noticed. The reader pings by itself and gives up on silence.
            retry=Retry(NoBackoff(), 0, supported_errors=()),
        )
        self._reader = asyncio.create_task(self._read_forever(), name="hookhub-redis-bus")

    async def close(self) -> None:
        """Stop the reader, close every subscription and both connections. Idempotent."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        # The reader ended its session on the way out, so closing the subscriptions below
        # sends no UNSUBSCRIBE: the connection is gone already.
        for subscribers in list(self._by_pattern.values()):
            for subscription in list(subscribers):
                await subscription.close()
        clients = (self._pubsub_client, self._client)
        self._pubsub_client = self._client = None
        for client in clients:
            if client is not None:
                await client.aclose()

    async def publish(self, topic: str, message: bytes) -> None:
        async with _mapped_errors("publishing"):
            await self._require(self._client).publish(self._prefix + topic, message)

    async def subscribe(self, pattern: str, handler: Handler) -> Subscription:
        """Subscribe ``handler``; returns once Redis has confirmed the subscription.

        When the bus is not connected it returns at once, and the subscription becomes active
        when the connection is (re-)established: ``connected`` is only set after Redis has
        confirmed every subscription. So after ``await bus.connected.wait()`` and
        ``await bus.subscribe(...)`` a publish from any process reaches the handler (unless the
        connection is lost meanwhile: the bus is at-most-once).
        """
        subscription = Subscription(
            pattern, handler, on_close=self._forget, max_queued=self._max_queued
        )
        self._by_pattern.setdefault(pattern, []).append(subscription)
        session = self._session
        if session is not None and session.established:
            try:
                await self._confirm_subscribed(session, pattern)
            except BaseException:
                # Cancelled (or failed) while waiting: the caller never gets this subscription,
                # so nobody else could close it.
                await subscription.close()
                raise
        return subscription

    async def ping(self) -> None:
        async with _mapped_errors("pinging"):
            await self._require(self._client).ping()

    def _require(self, client: Redis | None) -> Redis:
        if client is None:
            raise BusError("the redis bus is not started")
        return client

    def _key(self, pattern: str) -> str:
        return (self._glob_prefix if is_pattern(pattern) else self._prefix) + pattern

    def _pattern_of(self, key: bytes | str, *, glob: bool) -> str | None:
        prefix = self._glob_prefix if glob else self._prefix
        text = _text(key)
        return text.removeprefix(prefix) if text.startswith(prefix) else None

    async def _forget(self, subscription: Subscription) -> None:
        pattern = subscription.pattern
        subscribers = self._by_pattern.get(pattern, [])
        if subscription not in subscribers:
            return
        subscribers.remove(subscription)
        if subscribers:
            return
        del self._by_pattern[pattern]
        session = self._session
        if (
            session is not None
            and session.established
            and pattern != CONTROL_TOPIC
            and pattern in session.requested
        ):
            # Best effort: a connection lost meanwhile takes the subscription with it, and the
            # next one is only subscribed to what is still wanted.
            await self._send(session, "unsubscribe", [pattern])

    async def _confirm_subscribed(self, session: _Session, pattern: str) -> None:
        if pattern not in session.requested and not await self._send(
            session, "subscribe", [pattern]
        ):
            return  # the connection is going away; the next one subscribes to everything
        if not session.unconfirmed[pattern]:
            return
        waiter = session.waiters.get(pattern)
        if waiter is None:
            waiter = asyncio.get_running_loop().create_future()
            session.waiters[pattern] = waiter
        # Shielded: a cancelled caller must not cancel the future other callers wait on too.
        await asyncio.shield(waiter)

    async def _send(
        self, session: _Session, verb: Literal["subscribe", "unsubscribe"], patterns: Iterable[str]
    ) -> bool:
        """Send (P)SUBSCRIBE or (P)UNSUBSCRIBE on ``session``; False when it is not usable.

        The reader sends while it sets a connection up, callers once it is established. A
        caller's command is one write on the socket while the reader waits in get_message,
        which asyncio streams allow; its reply, like every reply, is read by the reader.
        """
        wanted = list(patterns)
        for glob in (False, True):
            group = [p for p in wanted if is_pattern(p) == glob]
            if not group:
                continue
            # Checked right before each command with no await in between: once its connection
            # is closed, redis-py's PubSub would quietly take a new one from the pool for the
            # next command, and nothing would ever read or close that one.
            connection = session.pubsub.connection
            if self._session is not session or connection is None or not connection.is_connected:
                return False
            pubsub = session.pubsub
            if verb == "subscribe":
                session.requested.update(group)
                session.unconfirmed.update(group)
                send = pubsub.psubscribe if glob else pubsub.subscribe
            else:
                session.requested.difference_update(group)
                send = pubsub.punsubscribe if glob else pubsub.unsubscribe
            try:
                await send(*(self._key(p) for p in group))
            except Exception:
                # A concurrent disconnect can surface as anything from inside redis-py (even an
                # AttributeError on the writer it just dropped). If the connection is gone,
                # the reader sees it too and reconnects; anything else is a real error.
                if self._session is session and connection.is_connected:
                    raise
                return False
        return True

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            session = _Session(self._require(self._pubsub_client).pubsub())
            self._session = session
            try:
                await self._serve(session)
            except Exception as exc:
                # Any failure ends this connection, an error reply (say, NOPERM) as much as a
                # lost socket: the reader must never die, or the process silently goes deaf.
                if session.established:
                    failures = 0
                delay_s = backoff_delay_s(failures)
                failures += 1
                log.warning(
                    "bus.redis.disconnected",
                    error=type(exc).__name__,
                    detail=str(exc),
                    retry_in_s=round(delay_s, 3),
                )
            finally:
                await self._end_session(session)
            await asyncio.sleep(delay_s)

    async def _serve(self, session: _Session) -> NoReturn:
        pubsub = session.pubsub
        await pubsub.connect()  # type: ignore[no-untyped-call]
        loop = asyncio.get_running_loop()
        interval_s = self._health_check_interval_s
        last_heard = loop.time()
        pinged = False
        while True:
            if not session.established:
                await self._settle(session)
            silent_s = loop.time() - last_heard
            if silent_s >= 2 * interval_s:
                raise redis_errors.TimeoutError(f"no reply from redis for {silent_s:.1f} s")
            if silent_s >= interval_s and not pinged:
                await pubsub.ping(PING_MESSAGE)
                pinged = True
            connection = pubsub.connection
            if connection is None or not connection.is_connected:
                # Closed under us (a failed write from a caller's task): give it up here, or
                # get_message would reconnect it quietly and redis-py would resubscribe behind
                # this session's back, without what that failed write was sending.
                raise redis_errors.ConnectionError("pub/sub connection closed")
            wait_s = (2 * interval_s if pinged else interval_s) - silent_s
            message = await pubsub.get_message(timeout=max(wait_s, 0.001))
            if message is None:  # nothing within wait_s
                continue
            last_heard = loop.time()
            pinged = False
            self._handle(session, message)

    async def _settle(self, session: _Session) -> None:
        """Bring a new connection's subscriptions in line; establish it once all are confirmed."""
        while True:
            wanted = {CONTROL_TOPIC, *self._by_pattern}
            missing = wanted - session.requested
            stale = session.requested - wanted
            if not missing and not stale:
                break
            # Sorted, so the commands (and the tests reading them) are deterministic.
            if (missing and not await self._send(session, "subscribe", sorted(missing))) or (
                stale and not await self._send(session, "unsubscribe", sorted(stale))
            ):
                raise redis_errors.ConnectionError("pub/sub connection lost while subscribing")
        if any(session.unconfirmed[pattern] for pattern in wanted):
            return
        # No await since the check above: a subscribe() cannot slip in between and be missed.
        session.established = True
        self.connected.set()
        if self._ever_connected:
            self.reconnects += 1
            log.info("bus.redis.reconnected", reconnects=self.reconnects)
        else:
            log.info("bus.redis.connected")
        self._ever_connected = True

    def _handle(self, session: _Session, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind in ("message", "pmessage"):
            self._dispatch(message)
        elif kind in ("subscribe", "psubscribe"):
            pattern = self._pattern_of(message["channel"], glob=kind == "psubscribe")
            if pattern is None or not session.unconfirmed[pattern]:
                return
            session.unconfirmed[pattern] -= 1
            # Redis answers in order, so when every SUBSCRIBE sent for it is confirmed the
            # pattern is subscribed (an UNSUBSCRIBE after it would have dropped its waiters).
            if not session.unconfirmed[pattern]:
                waiter = session.waiters.pop(pattern, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
        # Unsubscribe confirmations and pongs only show that the connection is alive.

    def _dispatch(self, message: dict[str, Any]) -> None:
        # A message reaches the subscriptions registered under the exact key Redis matched
        # (channel or pattern), so a topic matching two subscriptions is delivered once to each.
        if message["type"] == "pmessage":
            pattern = self._pattern_of(message["pattern"], glob=True)
        else:
            pattern = self._pattern_of(message["channel"], glob=False)
        if pattern is None:
            return
        topic = _text(message["channel"]).removeprefix(self._prefix)
        data = message["data"]
        for subscription in self._by_pattern.get(pattern, ()):
            subscription.offer(topic, data)

    async def _end_session(self, session: _Session) -> None:
        if self._session is session:
            self._session = None
        self.connected.clear()
        # Callers waiting for a confirmation return; the next connection subscribes them.
        for waiter in session.waiters.values():
            if not waiter.done():
                waiter.set_result(None)
        session.waiters.clear()
        with contextlib.suppress(*_TRANSPORT_ERRORS):
            # redis-py before 8 leaves aclose untyped; from 8 on it is typed.
            await session.pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
