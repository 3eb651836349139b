"""Publishing events: store first, then the bus, so an accepted event is never lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from hookhub.bus import EVENTS_TOPIC, Bus
from hookhub.clock import Clock
from hookhub.errors import BusError
from hookhub.events import Event
from hookhub.metrics import Metrics
from hookhub.store.repositories import EventRepository

log = structlog.get_logger(__name__)


LocalDelivery = Callable[[Event], Awaitable[None]]


class EventPublisher:
    def __init__(self, events: EventRepository, bus: Bus, metrics: Metrics, clock: Clock) -> None:
        self._events = events
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        #: Called with an event the bus could not take, so this process's own WebSocket
        #: clients still get it while Redis is away (set by Services to the hub).
        self.local_fallback: LocalDelivery | None = None

    async def publish(
        self,
        *,
        type: str,
        payload: dict[str, Any],
        source: str,
        channel: str | None = None,
        request_id: str | None = None,
    ) -> Event:
        """Store a new event, then hand it to the bus.

        Once the store has it, the event counts as published: a bus that is away is logged and
        counted, not raised, because stored work (outgoing deliveries) is driven from the store
        and the bus's own pushes are at-most-once. A store failure raises ``StoreError``.
        """
        event = Event.create(
            type=type, payload=payload, source=source, channel=channel, now=self._clock()
        )
        await self._events.add(event, request_id=request_id)
        await self.announce(event)
        return event

    async def announce(self, event: Event) -> None:
        """Count, log and hand to the bus an event the store already holds."""
        self._metrics.events_published.labels(source=event.source).inc()
        log.info("event.published", event_id=event.id, event_type=event.type, source=event.source)
        try:
            await self._bus.publish(EVENTS_TOPIC, event.to_json())
        except BusError:
            self._metrics.bus_publish_failures.inc()
            log.warning("event.bus_unreachable", event_id=event.id)
            if self.local_fallback is not None:
                await self.local_fallback(event)
