"""The real-time service the HTTP and CLI shells call: authentication, tokens, broadcasts.

Builds the :class:`~hookhub.realtime.hub.Hub` from the settings, with its history in Redis when
``HOOKHUB_REDIS_URL`` is set (so recovery works on any node) and in memory otherwise.
"""

from __future__ import annotations

import hmac
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
from hookhub.errors import AuthError, ConflictError, InvalidInputError
from hookhub.metrics import Metrics
from hookhub.realtime import auth
from hookhub.realtime.auth import ADMIN_GRANT, Grant, InvalidToken
from hookhub.realtime.history import History, MemoryHistory, RedisHistory
from hookhub.realtime.hub import Hub, HubConfig, Monotonic, Presence
from hookhub.services.tokens import TokenService

log = structlog.get_logger(__name__)

#: The message of every refused connection token: it never says what was wrong.
TOKEN_REFUSED = "Missing or invalid token"  # noqa: S105 (a message)
SECRET_REFUSED = "Missing or invalid x-internal-secret"  # noqa: S105 (a message)
BROADCAST_SENT = "Broadcast sent"


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
        self, hub: Hub, tokens: TokenService, settings: Settings, metrics: Metrics, clock: Clock
    ) -> None:
        self.hub = hub
        self._tokens = tokens
        self._settings = settings
        self._clock = clock
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
        return cls(hub, tokens, settings, metrics, clock)

    async def start(self) -> None:
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()

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

    def presence(self, channel: str) -> Presence:
        return self.hub.presence(channel)

    def channels(self) -> list[Presence]:
        return self.hub.channels()
