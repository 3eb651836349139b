"""Publishing events: store first, then the bus, so an accepted event is never lost."""

from __future__ import annotations

from typing import Any, Protocol

import structlog

from hookhub.bus import EVENTS_TOPIC, Bus
from hookhub.clock import Clock
from hookhub.errors import BusError
from hookhub.events import Event
from hookhub.metrics import Metrics
from hookhub.outbound.models import ClaimedDelivery
from hookhub.store.queue import Handoff
from hookhub.store.repositories import EventRepository

log = structlog.get_logger(__name__)


class PublishHandoff(Handoff, Protocol):
    def start(self, taken: list[ClaimedDelivery], *, event_id: str, complete: bool) -> None: ...

    def abort(self) -> None: ...


class HandoffSource(Protocol):
    """The local dispatcher, as the publisher sees it."""

    def handoff(self) -> PublishHandoff | None: ...


class EventPublisher:
    def __init__(self, events: EventRepository, bus: Bus, metrics: Metrics, clock: Clock) -> None:
        self._events = events
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        self._handoff_source: HandoffSource | None = None

    def attach(self, source: HandoffSource | None) -> None:
        """Offer new deliveries to ``source`` (a running local dispatcher), or stop offering."""
        self._handoff_source = source

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
        handoff = self._handoff_source.handoff() if self._handoff_source else None
        if handoff is None:
            await self._events.add(event, request_id=request_id)
        else:
            try:
                stored = await self._events.add(event, request_id=request_id, handoff=handoff)
            except BaseException:
                handoff.abort()
                raise
            complete = stored.queued == len(stored.taken)
            handoff.start(stored.taken, event_id=event.id, complete=complete)
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
