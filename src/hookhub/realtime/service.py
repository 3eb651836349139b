"""The real-time service the HTTP and CLI shells call: authentication, tokens, broadcasts.

Builds the :class:`~hookhub.realtime.hub.Hub` from the settings, with its history in Redis when
``HOOKHUB_REDIS_URL`` is set (so recovery works on any node) and in memory otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hookhub.bus import Bus
from hookhub.clock import Clock
from hookhub.config import Settings
from hookhub.errors import AuthError, BusError, ConflictError, InvalidInputError
from hookhub.metrics import Metrics
from hookhub.realtime import auth
from hookhub.realtime.auth import ADMIN_GRANT, Grant, InvalidToken
from hookhub.realtime.history import History, MemoryHistory, RedisHistory
from hookhub.realtime.hub import Hub, HubConfig, Monotonic
from hookhub.realtime.presence import (
    DEFAULT_PRESENCE_TTL_S,
    DEFAULT_REFRESH_S,
    Presence,
    RedisPresence,
    merge,
)
from hookhub.services.tokens import TokenService

log = structlog.get_logger(__name__)

#: The message of every refused connection token: it never says what was wrong.
TOKEN_REFUSED = "Missing or invalid token"  # noqa: S105 (a message)
SECRET_REFUSED = "Missing or invalid x-internal-secret"  # noqa: S105 (a message)
BROADCAST_SENT = "Broadcast sent"
#: How often this node's presence changes are written to Redis.
PRESENCE_SYNC_S = 1.0


class HubCollector(Collector):
    """The hub's figures on ``/metrics``, read when scraped (nothing is counted twice)."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        yield GaugeMetricFamily(
            "hookhub_realtime_connections",
            "WebSocket connections open on this process",
            value=len(hub.connections),
        )
        yield GaugeMetricFamily(
            "hookhub_realtime_channels",
            "Channels with at least one subscriber on this process",
            value=hub.channel_count,
        )
        yield CounterMetricFamily(
            "hookhub_realtime_messages_delivered",
            "Messages written to WebSocket connections (one per receiver)",
            value=hub.delivered,
        )
        yield CounterMetricFamily(
            "hookhub_realtime_slow_consumers",
            "Connections closed with 4008 because they fell behind",
            value=hub.slow_consumers,
        )


def hub_config(settings: Settings) -> HubConfig:
    return HubConfig(
        broadcast_channel=settings.realtime_broadcast_channel,
        max_queue_bytes=settings.realtime_max_queue_bytes,
        max_message_bytes=settings.realtime_max_message_bytes,
        ping_interval_s=settings.realtime_ping_interval_s,
        idle_timeout_s=settings.realtime_idle_timeout_s,
        max_subscriptions=settings.realtime_max_subscriptions,
        rate_per_s=settings.realtime_rate_per_s,
        rate_burst=settings.realtime_rate_burst,
    )


def make_history(settings: Settings) -> History:
    if settings.redis_url:
        return RedisHistory(
            settings.redis_url,
            size=settings.realtime_history_size,
            ttl_s=settings.realtime_history_ttl_s,
            key_prefix=f"{settings.redis_key_prefix}rt:",
        )
    return MemoryHistory(
        size=settings.realtime_history_size,
        ttl_s=settings.realtime_history_ttl_s,
        monotonic=time.monotonic,
    )


def mint_token(
    settings: Settings,
    *,
    user: str | None,
    channels: list[str],
    now: datetime,
    ttl_s: float | None = None,
) -> tuple[str, datetime]:
    """A connection token and its expiry, for the admin API and ``hookhub token ws``.

    :class:`ConflictError` when no token secret is configured, :class:`InvalidInputError`
    naming a bad user or channel pattern.
    """
    secret = settings.token_secret
    if secret is None:
        raise ConflictError("HOOKHUB_TOKEN_SECRET is not set: connection tokens cannot be made")
    try:
        return auth.mint(
            secret.get_secret_value(),
            user=user,
            channels=channels,
            now=now,
            ttl_s=ttl_s or settings.realtime_token_ttl_s,
        )
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


class RealtimeService:
    def __init__(
        self,
        hub: Hub,
        tokens: TokenService,
        settings: Settings,
        metrics: Metrics,
        clock: Clock,
        presence: RedisPresence | None = None,
    ) -> None:
        self.hub = hub
        self._tokens = tokens
        self._settings = settings
        self._clock = clock
        self._presence = presence
        self._syncer: asyncio.Task[None] | None = None
        metrics.registry.register(HubCollector(hub))

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        bus: Bus,
        tokens: TokenService,
        metrics: Metrics,
        clock: Clock,
        monotonic: Monotonic | None = None,
    ) -> RealtimeService:
        hub = Hub(
            bus=bus,
            history=make_history(settings),
            monotonic=monotonic or time.monotonic,
            config=hub_config(settings),
        )
        presence = None
        if settings.redis_url:
            presence = RedisPresence(
                settings.redis_url,
                node_id=hub.node_id,
                key_prefix=f"{settings.redis_key_prefix}rt:",
                ttl_s=DEFAULT_PRESENCE_TTL_S,
            )
        return cls(hub, tokens, settings, metrics, clock, presence)

    async def start(self) -> None:
        await self.hub.start()
        if self._presence is not None:
            self._syncer = asyncio.create_task(self._sync_forever(), name="hookhub-presence")

    async def stop(self) -> None:
        syncer, self._syncer = self._syncer, None
        if syncer is not None:
            syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncer
        channels = self.hub.channel_names
        await self.hub.stop()
        if self._presence is not None:
            await self._presence.forget_node(channels)
            await self._presence.close()

    def _now(self) -> float:
        return self._clock().timestamp()

    async def sync_presence(self, *, everything: bool = False) -> None:
        """Write this node's changed channels (or all of them) to the shared presence."""
        store = self._presence
        if store is None:
            return
        hub = self.hub
        dirty = hub.take_dirty()
        if everything:
            dirty.update(hub.channel_names)
        current = [hub.presence(channel) for channel in dirty]
        try:
            await store.write(
                [p for p in current if p.connections],
                [p.channel for p in current if not p.connections],
                self._now(),
            )
        except BusError:
            hub.mark_dirty(dirty)  # written on a later round, once Redis is back
            raise

    async def _sync_forever(self) -> None:
        rounds_per_refresh = max(1, int(DEFAULT_REFRESH_S / PRESENCE_SYNC_S))
        reachable = True
        for round_number in itertools.count():
            try:
                await self.sync_presence(everything=round_number % rounds_per_refresh == 0)
            except BusError:
                if reachable:  # once per outage, not once a second
                    log.warning("presence.redis_unreachable")
                reachable = False
            except Exception:
                log.exception("presence.sync_failed")
            else:
                if not reachable:
                    log.info("presence.redis_back")
                reachable = True
            await asyncio.sleep(PRESENCE_SYNC_S)

    async def authenticate(self, token: str | None) -> Grant:
        """What a connection token grants; :class:`AuthError` for a bad or missing one.

        A JWT signed with ``HOOKHUB_TOKEN_SECRET`` grants its user and channels; the admin token
        and API tokens (seed 004) grant everything.
        """
        if not token:
            raise AuthError(TOKEN_REFUSED)
        if auth.looks_like_jwt(token):
            secret = self._settings.token_secret
            if secret is None:
                raise AuthError(TOKEN_REFUSED)
            try:
                return auth.verify(secret.get_secret_value(), token, now=self._clock())
            except InvalidToken as exc:
                log.info("ws.token_refused", reason=str(exc))
                raise AuthError(TOKEN_REFUSED) from None
        await self._tokens.authenticate(token)
        return ADMIN_GRANT

    def mint(
        self, *, user: str | None, channels: list[str], ttl_s: float | None = None
    ) -> tuple[str, datetime]:
        return mint_token(
            self._settings, user=user, channels=channels, now=self._clock(), ttl_s=ttl_s
        )

    def check_internal_secret(self, presented: str | None) -> None:
        """Accept the broadcast caller, or raise :class:`AuthError` (or 409 when unset)."""
        secret = self._settings.internal_secret
        if secret is None:
            raise ConflictError("HOOKHUB_INTERNAL_SECRET is not set: the broadcast API is off")
        if presented is None or not hmac.compare_digest(
            presented.encode(), secret.get_secret_value().encode()
        ):
            raise AuthError(SECRET_REFUSED)

    async def broadcast(self, message: dict[str, Any], *, channel: str | None = None) -> str:
        """Send ``message`` as it is to ``channel`` (the broadcast channel by default)."""
        target = channel or self._settings.realtime_broadcast_channel
        message_id = await self.hub.publish(target, message)
        log.info("ws.broadcast", channel=target, message_id=message_id, type=message.get("type"))
        return message_id

    async def presence(self, channel: str) -> Presence:
        """Who is connected to ``channel``, on every node (Redis) or on this one."""
        local = self.hub.presence(channel)
        if self._presence is None:
            return local
        # This node's part is read live; the others' from their last snapshot.
        others = await self._presence.read(channel, self._now(), skip_node=self.hub.node_id)
        return merge(channel, [local, others])

    async def channels(self) -> list[Presence]:
        """Every channel with subscribers, on every node (Redis) or on this one."""
        local = {p.channel: p for p in self.hub.channels()}
        if self._presence is None:
            return list(local.values())
        others = await self._presence.channels(self._now(), skip_node=self.hub.node_id)
        merged = {p.channel: p for p in others}
        for channel, mine in local.items():
            merged[channel] = merge(channel, [mine, merged[channel]]) if channel in merged else mine
        return [merged[channel] for channel in sorted(merged)]
