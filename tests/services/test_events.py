"""Publishing: concurrent publishes share commits, and one bad event sinks no other."""

from __future__ import annotations

import asyncio
from typing import Any

from hookhub.events import Event
from hookhub.services.events import EventPublisher
from hookhub.store.queue import NewEvent, StoredEvent
from tests.outbound.conftest import FakeClock
from tests.outbound.receiver import Receiver
from tests.outbound.test_dispatch import add_webhook


def counting_writes(services: Any) -> list[int]:
    sizes: list[int] = []
    add_many = services.events.add_many

    async def counted(items: list[NewEvent]) -> list[StoredEvent]:
        sizes.append(len(items))
        return await add_many(items)

    services.events.add_many = counted
    return sizes


async def test_concurrent_publishes_share_commits_and_all_are_stored(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    sizes = counting_writes(services)
    published = await asyncio.gather(
        *(
            services.publisher.publish(type="user.created", payload={"n": n}, source="test")
            for n in range(40)
        )
    )
    assert sum(sizes) == 40
    assert len(sizes) < 40  # they queued up while earlier ones were written
    for event in published:
        assert await services.events.get(event.id) == event
    pending = await services.webhooks.deliveries(webhook_id, status="pending", limit=1, offset=0)
    assert pending.total == 40  # one delivery per event, none lost in the batching


async def test_one_bad_event_does_not_sink_its_batch(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services()
    await add_webhook(services, receiver.url)
    stored = Event.create(type="user.created", payload={}, source="test", now=clock.now)
    await services.events.add(stored)
    publisher: EventPublisher = services.publisher
    fresh = [
        Event.create(type="user.created", payload={"n": n}, source="test", now=clock.now)
        for n in range(3)
    ]
    # The same id again cannot be stored; the events beside it in the batch still are.
    results = await asyncio.gather(
        *(publisher._commits.submit(_publishing(e)) for e in [fresh[0], stored, *fresh[1:]]),
        return_exceptions=True,
    )
    assert isinstance(results[1], Exception)
    assert [isinstance(r, StoredEvent) for r in results] == [True, False, True, True]
    for event in fresh:
        assert await services.events.get(event.id) == event


def _publishing(event: Event) -> Any:
    from hookhub.services.events import _Publishing

    return _Publishing(event, None, None)
