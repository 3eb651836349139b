"""The signal webhook's service: owners' codes, and turning a ``/xc`` body into an event.

The seed's flow (seed 001): an owner gets a code; the bot shows them the connection string
with it and the webhook URL; their trading tool posts the string to ``/xc``; the signal reaches
the owner's dashboard. Here the signal becomes a ``signal.received`` event on the channel
``user:<owner>``, so every WebSocket connection registered as that user (``prijava``) gets it,
and outgoing webhooks and automations can act on it.
"""

from __future__ import annotations

import ipaddress

import structlog

from hookhub.audit import AuditAction
from hookhub.clock import Clock
from hookhub.config import Settings
from hookhub.errors import AuthError, NotFoundError, SignalParseError, StoreError
from hookhub.events import Event
from hookhub.realtime.protocol import user_channel
from hookhub.services.events import EventPublisher
from hookhub.signals.body import check_body
from hookhub.signals.codes import new_code
from hookhub.signals.limiter import SignalLimiter
from hookhub.signals.models import CodeOut, ConnectionInfo
from hookhub.signals.parser import INVALID_SIGNAL, format_connection_string
from hookhub.signals.repository import SignalCodeRepository
from hookhub.store.engine import Database
from hookhub.store.repositories import AuditRepository

log = structlog.get_logger(__name__)

EVENT_TYPE = "signal.received"
EVENT_SOURCE = "signal"
WEBHOOK_PATH = "/xc"
#: One answer for an unknown and a revoked code, so a caller cannot tell which it has.
INVALID_CODE = "Invalid code"
#: Tries at creating an owner's code; each lost race means another request created it, so a
#: second look finds it.
MAX_CREATE_ATTEMPTS = 3


def public_base_url(settings: Settings) -> str:
    """``HOOKHUB_PUBLIC_URL``, else ``http://{host}:{port}`` (an IPv6 host in brackets)."""
    if settings.public_url:
        return settings.public_url
    host = settings.host
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a name, not an address
    return f"http://{host}:{settings.port}"


class SignalService:
    def __init__(
        self,
        db: Database,
        publisher: EventPublisher,
        audit: AuditRepository,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._codes = SignalCodeRepository(db)
        self._publisher = publisher
        self._audit = audit
        self._settings = settings
        self._clock = clock
        self._exchanges = frozenset(settings.signals_exchanges)
        self.limiter = SignalLimiter(
            settings.signals_rate_per_minute,
            redis_url=settings.redis_url,
            key_prefix=settings.redis_key_prefix,
        )

    async def close(self) -> None:
        await self.limiter.close()

    async def code_for(
        self, owner: str, *, actor: str, request_id: str | None = None
    ) -> tuple[CodeOut, bool]:
        """The owner's code, made on first use; ``(code, created)``.

        Concurrent calls for one owner end with one code: the owner column is unique, so every
        insert but one is refused, and the losers read the winner's code.
        """
        for _ in range(MAX_CREATE_ATTEMPTS):
            existing = await self._codes.get(owner)
            if existing is not None:
                return CodeOut(**existing.model_dump()), False
            now = self._clock()
            created = await self._codes.add(owner, new_code(), now=now)
            if created is not None:
                await self._audit.add(
                    actor=actor,
                    action=AuditAction.SIGNAL_CODE_CREATED,
                    target=owner,
                    request_id=request_id,
                    now=now,
                )
                return CodeOut(**created.model_dump()), True
        # Only a code revoked and re-created between every look could get here.
        raise StoreError("could not create the signal code; try again")

    async def connection(self, owner: str) -> ConnectionInfo:
        """The connection string and webhook URL to give the owner (seed 001's bot message)."""
        record = await self._codes.get(owner)
        if record is None:
            raise NotFoundError("No signal code for this owner")
        return ConnectionInfo(
            owner=owner,
            code=record.code,
            connection_string=format_connection_string(
                record.code, exchange=self._settings.signals_exchanges[0]
            ),
            webhook_url=public_base_url(self._settings) + WEBHOOK_PATH,
        )

    async def revoke(self, owner: str, *, actor: str, request_id: str | None = None) -> None:
        """Delete the owner's code: from now on it gets 401, as a code never issued does."""
        if not await self._codes.delete(owner):
            raise NotFoundError("No signal code for this owner")
        await self._audit.add(
            actor=actor,
            action=AuditAction.SIGNAL_CODE_REVOKED,
            target=owner,
            request_id=request_id,
            now=self._clock(),
        )

    async def receive(
        self, body: bytes, content_type: str | None, *, request_id: str | None = None
    ) -> Event:
        """Turn a ``/xc`` body into a published ``signal.received`` event.

        Checks run in this order, each with its own error: the content type
        (``UnsupportedMediaTypeError``), a body that cannot be read (``SignalParseError``), the
        code (``AuthError``, the same for unknown and revoked codes), the owner's rate limit
        (``RateLimitedError``), then the other fields (``SignalParseError`` naming each). The
        code goes first when it is well-formed, so a caller without a valid one learns nothing
        about the rest. The code never reaches a log line.
        """
        parsed = check_body(body, content_type, exchanges=self._exchanges)
        if parsed.code is None:
            raise SignalParseError(INVALID_SIGNAL, errors=parsed.errors)
        record = await self._codes.find(parsed.code)
        if record is None:
            log.info("signal.refused", reason="invalid_code")
            raise AuthError(INVALID_CODE)
        owner = record.owner
        await self.limiter.hit(owner)
        if parsed.signal is None:
            log.info("signal.invalid", owner=owner, fields=[e["path"] for e in parsed.errors])
        signal = parsed.result()
        event = await self._publisher.publish(
            type=EVENT_TYPE,
            payload=signal.payload(owner),
            source=EVENT_SOURCE,
            channel=user_channel(owner),
            request_id=request_id,
        )
        log.info(
            "signal.received",
            owner=owner,
            event_id=event.id,
            strategy_id=signal.strategy_id,
            command=signal.command,
            exchange=signal.exchange,
            coinmarket=signal.coinmarket,
            demo=signal.demo,
        )
        return event
