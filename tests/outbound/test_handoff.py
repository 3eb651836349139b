"""Deliveries of events published beside a running dispatcher go to it directly, leased."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta
from typing import Any

from hookhub.events import Event, new_id
from hookhub.outbound.models import WebhookRecord
from hookhub.store.outbound import WebhookRepository
from hookhub.store.queue import NewEvent
from tests.outbound.conftest import FakeClock
from tests.outbound.receiver import Answer, Receiver
from tests.outbound.test_dispatch import add_webhook, eventually

LEASE_S = 30.0


async def success_count(services: Any, webhook_id: str) -> int:
    page = await services.webhooks.deliveries(webhook_id, status="success", limit=1, offset=0)
    return int(page.total)


def counting_claims(services: Any) -> list[int]:
    calls = [0]
    claim_due = services.queue.claim_due

    async def counted(**kwargs: Any) -> Any:
        calls[0] += 1
        return await claim_due(**kwargs)

    services.queue.claim_due = counted
    return calls


async def test_events_published_beside_a_running_dispatcher_skip_the_claim(
    make_services: Any, receiver: Receiver
) -> None:
    # A poll far longer than the test: only the handoff can move these deliveries.
    services = await make_services(outbound_poll_interval_s=600)
    webhook_id, _ = await add_webhook(services, receiver.url)
    claims = counting_claims(services)
    await services.dispatcher.start(services.bus)
    await eventually(lambda: claims[0] == 1)  # the start-up claim, which finds nothing
    for n in range(5):
        await services.publisher.publish(type="user.created", payload={"n": n}, source="test")
    for _ in range(1000):
        if await success_count(services, webhook_id) == 5:
            break
        await asyncio.sleep(0.01)
    assert await success_count(services, webhook_id) == 5
    assert claims[0] == 1


class CrashingHandoff:
    """Takes every delivery and is never started, as if its process died after the commit."""

    def __init__(self, now: datetime) -> None:
        self.lease_until = now + timedelta(seconds=LEASE_S)
        self.token = new_id(now)

    def take(self, webhook: WebhookRecord) -> bool:
        return True


async def test_a_handed_off_delivery_is_sent_by_another_once_its_lease_ends(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services()
    webhook_id, _ = await add_webhook(services, receiver.url)
    event = Event.create(type="user.created", payload={"n": 1}, source="test", now=clock.now)
    [stored] = await services.events.add_many([NewEvent(event, None, CrashingHandoff(clock.now))])
    assert stored.queued == 1
    [taken] = stored.taken
    assert await services.dispatcher.run_once() == 0  # leased: nobody else may send it
    clock.advance(LEASE_S + 1)
    assert await services.dispatcher.run_once() == 1
    await services.dispatcher.drain()
    [request] = receiver.requests
    assert request.headers["webhook-id"] == taken.id
    assert await success_count(services, webhook_id) == 1


async def test_a_webhook_at_its_cap_leaves_new_deliveries_to_the_claim(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services(outbound_poll_interval_s=600)
    webhook_id, _ = await add_webhook(services, receiver.url, max_concurrency=1)
    held = threading.Event()
    receiver.decide = lambda _request: Answer(gate=held)
    await services.dispatcher.start(services.bus)
    for n in range(3):
        await services.publisher.publish(type="user.created", payload={"n": n}, source="test")
    await eventually(lambda: receiver.in_flight == 1)
    pending = await services.webhooks.deliveries(webhook_id, status="pending", limit=5, offset=0)
    assert pending.total == 3
    held.set()
    for _ in range(1000):
        if await success_count(services, webhook_id) == 3:
            break
        await asyncio.sleep(0.01)
    assert await success_count(services, webhook_id) == 3
    assert receiver.max_in_flight == 1


async def test_an_aborted_handoff_gives_its_room_back(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services(outbound_max_in_flight=1, outbound_poll_interval_s=600)
    webhook_id, _ = await add_webhook(services, receiver.url, max_concurrency=2)
    webhook = await WebhookRepository(services.db).get(webhook_id)
    assert webhook is not None
    await services.dispatcher.start(services.bus)
    handoff = services.dispatcher.handoff()
    assert handoff is not None
    assert handoff.take(webhook)  # the one slot
    assert handoff.take(webhook)  # places in the standby: as many as the webhook's cap
    assert handoff.take(webhook)
    assert not handoff.take(webhook)  # the cap bounds what waits, beside what runs
    handoff.abort()  # storing the event failed
    again = services.dispatcher.handoff()
    assert again is not None
    for _ in range(3):
        assert again.take(webhook)
    again.abort()


async def test_a_busy_dispatcher_keeps_new_deliveries_in_its_standby_not_for_a_claim(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services(outbound_max_in_flight=1, outbound_poll_interval_s=600)
    webhook_id, _ = await add_webhook(services, receiver.url)
    held = threading.Event()
    receiver.decide = lambda _request: Answer(gate=held)
    claims = counting_claims(services)
    await services.dispatcher.start(services.bus)
    await eventually(lambda: claims[0] == 1)  # the start-up claim, which finds nothing
    for n in range(4):
        await services.publisher.publish(type="user.created", payload={"n": n}, source="test")
    await eventually(lambda: receiver.in_flight == 1)
    held.set()
    for _ in range(1000):
        if await success_count(services, webhook_id) == 4:
            break
        await asyncio.sleep(0.01)
    assert await success_count(services, webhook_id) == 4
    assert receiver.max_in_flight == 1  # the standby waited for the one slot
    assert claims[0] == 1  # and nothing had to be claimed


async def test_a_standby_delivery_whose_lease_ran_short_is_left_to_the_claim(
    make_services: Any, receiver: Receiver, clock: FakeClock
) -> None:
    services = await make_services(
        outbound_max_in_flight=1, outbound_poll_interval_s=600, outbound_lease_s=60
    )
    webhook_id, _ = await add_webhook(services, receiver.url)
    held = threading.Event()
    receiver.decide = lambda _request: Answer(gate=held)
    await services.dispatcher.start(services.bus)
    for n in range(2):
        await services.publisher.publish(type="user.created", payload={"n": n}, source="test")
    await eventually(lambda: receiver.in_flight == 1)
    # Less of the second one's lease is left than a send may take (15 s) and the margin.
    clock.advance(45)
    held.set()
    await eventually(lambda: receiver.in_flight == 0)
    await services.dispatcher.drain()
    assert await success_count(services, webhook_id) == 1
    assert await services.dispatcher.run_once() == 0  # still leased: nobody may send it
    clock.advance(16)
    assert await services.dispatcher.run_once() == 1
    await services.dispatcher.drain()
    assert await success_count(services, webhook_id) == 2
    assert len(receiver.requests) == 2  # each sent once


async def test_stopping_hands_the_standby_back_at_once(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services(outbound_max_in_flight=1, outbound_poll_interval_s=600)
    webhook_id, _ = await add_webhook(services, receiver.url)
    held = threading.Event()
    receiver.decide = lambda _request: Answer(gate=held)
    await services.dispatcher.start(services.bus)
    for n in range(3):
        await services.publisher.publish(type="user.created", payload={"n": n}, source="test")
    await eventually(lambda: receiver.in_flight == 1)
    await services.dispatcher.stop(grace_s=0.1)  # the one in flight is cancelled
    held.set()
    # Without moving the clock past any lease, a new claim finds all three.
    receiver.decide = lambda _request: Answer()
    started = 0
    for _ in range(3):  # one slot: one claim each
        started += await services.dispatcher.run_once()
        await services.dispatcher.drain()
    assert started == 3
    assert await success_count(services, webhook_id) == 3


async def test_a_stopped_dispatcher_takes_nothing(make_services: Any, receiver: Receiver) -> None:
    services = await make_services()
    await add_webhook(services, receiver.url)
    assert services.dispatcher.handoff() is None  # never started
    await services.dispatcher.start(services.bus)
    assert services.dispatcher.handoff() is not None
    await services.dispatcher.stop()
    assert services.dispatcher.handoff() is None


async def test_a_claim_leases_the_next_round_ahead_into_the_standby(
    make_services: Any, receiver: Receiver
) -> None:
    services = await make_services(outbound_max_in_flight=1, outbound_poll_interval_s=600)
    webhook_id, _ = await add_webhook(services, receiver.url, max_concurrency=1)
    for n in range(2):  # stored before the dispatcher runs: only a claim can find them
        await services.publisher.publish(type="user.created", payload={"n": n}, source="test")
    claimed: list[int] = []
    claim_due = services.queue.claim_due

    async def recorded(**kwargs: Any) -> Any:
        found = await claim_due(**kwargs)
        claimed.append(len(found))
        return found

    services.queue.claim_due = recorded
    held = threading.Event()
    receiver.decide = lambda _request: Answer(gate=held)
    await services.dispatcher.start(services.bus)
    await eventually(lambda: receiver.in_flight == 1)
    # One slot, yet the first claim leased both: the second waits in the standby.
    assert claimed[0] == 2
    held.set()
    for _ in range(1000):
        if await success_count(services, webhook_id) == 2:
            break
        await asyncio.sleep(0.01)
    assert await success_count(services, webhook_id) == 2
    assert receiver.max_in_flight == 1
    assert len(receiver.requests) == 2  # each sent once
