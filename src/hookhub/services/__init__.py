"""Services: the parts that do the work, shared by the HTTP and CLI shells.

:class:`Services` builds them from settings, starts them in order and stops them in reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx2
import structlog

from hookhub.actions import ActionContext
from hookhub.actions.plugins import load_configured as load_action_plugins
from hookhub.automations.wiring import AutomationServices
from hookhub.bus import Bus, make_bus
from hookhub.clock import Clock, utc_now
from hookhub.config import Settings
from hookhub.inbound.service import InboundService
from hookhub.metrics import Metrics
from hookhub.outbound.dispatcher import Dispatcher, make_client, make_sender
from hookhub.outbound.sender import DeliverySender
from hookhub.outbound.service import WebhookService
from hookhub.outbound.ssrf import UrlGuard
from hookhub.realtime.service import RealtimeService
from hookhub.services.audit import AuditLog
from hookhub.services.events import EventPublisher
from hookhub.services.tokens import TokenService
from hookhub.signals.service import SignalService
from hookhub.store.engine import Database
from hookhub.store.migrate import require_current
from hookhub.store.outbound import DeliveryRepository, WebhookRepository
from hookhub.store.queue import DeliveryQueue
from hookhub.store.repositories import AuditRepository, EventRepository, TokenRepository
from hookhub.store.writes import HotWrites
from hookhub.tickets.service import TicketService

log = structlog.get_logger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: Bus
    metrics: Metrics
    clock: Clock
    events: EventRepository
    audit: AuditRepository
    #: What actions write to the audit log through: group-committed.
    audit_log: AuditLog
    publisher: EventPublisher
    tokens: TokenService
    deliveries: DeliveryRepository
    queue: DeliveryQueue
    dispatcher: Dispatcher
    webhooks: WebhookService
    http_client: httpx2.AsyncClient
    sender: DeliverySender
    tickets: TicketService
    actions: ActionContext
    automations: AutomationServices
    realtime: RealtimeService
    signals: SignalService
    inbound: InboundService
    #: The writer incoming webhooks and automation runs share (hookhub.store.writes).
    writes: HotWrites
    started: bool = field(default=False)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock = utc_now) -> Services:
        """Build every part; a bad action plugin is a ``ConfigError`` here, before anything runs."""
        load_action_plugins(settings)
        db = Database(settings.database_url)
        bus = make_bus(settings.redis_url, key_prefix=settings.redis_key_prefix)
        metrics = Metrics()
        events = EventRepository(db)
        audit = AuditRepository(db)
        audit_log = AuditLog(audit)
        admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
        publisher = EventPublisher(events, bus, metrics, clock)
        deliveries = DeliveryRepository(db)
        queue = DeliveryQueue(db)
        http_client = make_client(settings)
        sender = make_sender(settings)
        dispatcher = Dispatcher(queue, publisher, sender, settings, metrics, clock)
        webhooks = WebhookService(
            WebhookRepository(db), deliveries, queue, audit, dispatcher, settings, clock
        )
        tokens = TokenService(TokenRepository(db), audit, clock, admin_token)
        realtime = RealtimeService.build(
            settings, bus=bus, tokens=tokens, metrics=metrics, clock=clock
        )
        tickets = TicketService(db, publisher, audit, settings, clock)
        actions = ActionContext(
            settings=settings,
            clock=clock,
            publisher=publisher,
            realtime=realtime,
            http_client=http_client,
            url_guard=UrlGuard.from_cidrs(
                allow_private=settings.outbound_allow_private,
                cidrs=settings.outbound_allowed_cidrs,
            ),
            audit=audit_log,
            tickets=tickets,
        )
        # One writer for the webhooks' requests and the runs' writes (hookhub.store.writes).
        writes = HotWrites(db)
        automations = AutomationServices.build(
            settings=settings,
            db=db,
            publisher=publisher,
            audit=audit,
            http_client=http_client,
            metrics=metrics,
            clock=clock,
            actions=actions,
            writes=writes,
        )
        publisher.local_fallback = realtime.hub.deliver_event
        signals = SignalService(db, publisher, audit, settings, clock)
        inbound = InboundService(db, settings, clock, metrics, writes)
        return cls(
            settings=settings,
            db=db,
            bus=bus,
            metrics=metrics,
            clock=clock,
            events=events,
            audit=audit,
            audit_log=audit_log,
            publisher=publisher,
            tokens=tokens,
            deliveries=deliveries,
            queue=queue,
            dispatcher=dispatcher,
            webhooks=webhooks,
            http_client=http_client,
            sender=sender,
            tickets=tickets,
            actions=actions,
            automations=automations,
            realtime=realtime,
            signals=signals,
            inbound=inbound,
            writes=writes,
        )

    async def start(self, *, dispatch: bool | None = None) -> None:
        """Check the schema, then start the bus, then the parts that use it.

        Raises ``SchemaOutdatedError`` or ``StoreError`` before anything is started.
        """
        await require_current(self.db)
        await self.db.start_checkpoints()
        await self.bus.start()
        if self.settings.dispatcher_enabled if dispatch is None else dispatch:
            await self.dispatcher.start(self.bus)
        await self.automations.start(self.bus)
        await self.inbound.start()
        await self.realtime.start()
        self.started = True
        log.info("services.started", database=self.db.dialect, bus=type(self.bus).__name__)

    async def stop(self) -> None:
        await self.realtime.stop()
        await self.signals.close()
        await self.inbound.stop()
        await self.automations.stop()
        await self.writes.close()
        await self.dispatcher.stop()
        await self.audit_log.close()
        await self.publisher.close()
        await self.http_client.aclose()
        await self.sender.aclose()
        await self.bus.close()
        await self.db.close()
        self.started = False
        log.info("services.stopped")
