"""Publishing events: store first, then the bus, so an accepted event is never lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from hookhub.batching import GroupCommit
from hookhub.bus import EVENTS_TOPIC, Bus
from hookhub.clock import Clock
from hookhub.errors import BusError
from hookhub.events import Event
from hookhub.metrics import Metrics
from hookhub.outbound.models import ClaimedDelivery
from hookhub.store.queue import Handoff, NewEvent, StoredEvent
from hookhub.store.repositories import EventRepository

log = structlog.get_logger(__name__)


class PublishHandoff(Handoff, Protocol):
    def start(self, taken: list[ClaimedDelivery], *, event_id: str, complete: bool) -> None: ...

    def abort(self) -> None: ...


class HandoffSource(Protocol):
    """The local dispatcher, as the publisher sees it."""

    def handoff(self) -> PublishHandoff | None: ...


@dataclass(frozen=True)
class _Publishing:
    event: Event
    request_id: str | None
    handoff: PublishHandoff | None


LocalDelivery = Callable[[Event], Awaitable[None]]


class EventPublisher:
    """Stores events (concurrent publishes share a commit), then hands them to the bus.

    Deliveries of an event are offered to the local dispatcher, when one runs, as the event is
    stored; it starts sending them once the commit is done.
    """

    def __init__(self, events: EventRepository, bus: Bus, metrics: Metrics, clock: Clock) -> None:
        self._events = events
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        self._handoff_source: HandoffSource | None = None
        self._commits = GroupCommit(self._store, name="hookhub-event-writer")
        #: Called with an event the bus could not take, so this process's own WebSocket
        #: clients still get it while Redis is away (set by Services to the hub).
        self.local_fallback: LocalDelivery | None = None

    async def close(self) -> None:
        """Stop the writer; publishes still waiting for a commit are cancelled."""
        await self._commits.close()

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
        await self._commits.submit(_Publishing(event, request_id, handoff))
        await self.announce(event)
        return event

    async def _store(self, batch: list[_Publishing]) -> list[StoredEvent]:
        # Handoffs are settled here, by the writer, not by the callers: a caller may be
        # cancelled while it waits, and its reserved dispatcher slots must not leak.
        try:
            stored = await self._events.add_many(
                [NewEvent(item.event, item.request_id, item.handoff) for item in batch]
            )
        except BaseException:
            for item in batch:
                if item.handoff is not None:
                    item.handoff.abort()  # a retry of the item may take afresh
            raise
        for item, result in zip(batch, stored, strict=True):
            if item.handoff is not None:
                complete = result.queued == len(result.taken)
                item.handoff.start(result.taken, event_id=item.event.id, complete=complete)
        return stored

    async def announce(self, event: Event) -> None:
        """Count, log and hand to the bus an event the store already holds."""
        metrics = self._metrics
        metrics.labelled(metrics.events_published, event.source).inc()
        log.info("event.published", event_id=event.id, event_type=event.type, source=event.source)
        try:
            await self._bus.publish(EVENTS_TOPIC, event.to_json())
        except BusError:
            self._metrics.bus_publish_failures.inc()
            log.warning("event.bus_unreachable", event_id=event.id)
            if self.local_fallback is not None:
                await self.local_fallback(event)
