"""Crash safety: real dispatcher processes, SIGKILL mid-flight, a receiver failing a third.

Nothing is lost (every delivery ends in success), a repeat carries the delivery's own
webhook-id, and two dispatchers on PostgreSQL never send one delivery at the same time.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from hookhub.config import Settings
from hookhub.outbound.models import WebhookCreate
from hookhub.services import Services
from hookhub.store.models import Delivery, DeliveryAttempt
from tests.conftest import ADMIN_TOKEN, migrated
from tests.outbound.receiver import Answer, Received, Receiver

EVENTS = 60
DEADLINE_S = 60.0
#: Short leases and retries, so a killed dispatcher's work comes back within seconds.
CHILD_SETTINGS = {
    "HOOKHUB_OUTBOUND_ALLOW_PRIVATE": "true",
    "HOOKHUB_OUTBOUND_LEASE_S": "2",
    "HOOKHUB_OUTBOUND_CONNECT_TIMEOUT_S": "0.5",
    "HOOKHUB_OUTBOUND_TIMEOUT_S": "0.5",
    "HOOKHUB_OUTBOUND_POLL_INTERVAL_S": "0.1",
    "HOOKHUB_OUTBOUND_MAX_IN_FLIGHT": "8",
    "HOOKHUB_LOG_LEVEL": "warning",
}


def failing_every_third(delay_s: float) -> Any:
    count = 0
    lock = threading.Lock()

    def decide(_request: Received) -> Answer:
        nonlocal count
        with lock:
            count += 1
            failing = count % 3 == 0
        return Answer(500 if failing else 200, delay_s=delay_s)

    return decide


def start_dispatcher(database_url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKHUB_")}
    env.update(CHILD_SETTINGS, HOOKHUB_DATABASE_URL=database_url)
    return subprocess.Popen(
        [sys.executable, "-m", "hookhub", "dispatch"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


async def prepare(database_url: str, receiver: Receiver) -> tuple[Services, str]:
    await asyncio.to_thread(migrated, database_url)
    settings = Settings(
        admin_token=ADMIN_TOKEN, database_url=database_url, outbound_allow_private=True
    )
    services = Services.build(settings)
    await services.start(dispatch=False)
    created = await services.webhooks.create(
        WebhookCreate(
            name="crash", url=receiver.url, event_type="order.*", retry_schedule_s=[1] * 10
        )
    )
    for n in range(EVENTS):
        await services.publisher.publish(type="order.paid", payload={"n": n}, source="test")
    return services, created.id


async def statuses(services: Services) -> Counter[str]:
    async with services.db.session() as session:
        rows = await session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
        return Counter(dict(rows.all()))


async def wait_until(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def assert_nothing_lost(receiver: Receiver, delivery_ids: set[str]) -> None:
    by_event: dict[int, set[str]] = defaultdict(set)
    for request in receiver.requests:
        by_event[json.loads(request.body)["n"]].add(request.headers["webhook-id"])
    assert sorted(by_event) == list(range(EVENTS))  # every event reached the receiver
    # Every attempt for one event, first or repeat, carried that delivery's own webhook-id.
    assert all(len(ids) == 1 for ids in by_event.values())
    assert set().union(*by_event.values()) == delivery_ids


async def test_sigkill_mid_flight_loses_nothing(
    database_url: str, receiver: Receiver, processes: list[subprocess.Popen[bytes]]
) -> None:
    receiver.decide = failing_every_third(delay_s=0.05)
    services, _webhook_id = await prepare(database_url, receiver)
    try:
        first = start_dispatcher(database_url)
        processes.append(first)

        async def some_sent() -> bool:
            return len(receiver.requests) >= EVENTS // 3 and receiver.in_flight > 0

        await wait_until(some_sent, "the first dispatcher to be mid-flight")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        before_restart = await statuses(services)
        assert before_restart["pending"] > 0  # the kill really interrupted work

        processes.append(start_dispatcher(database_url))

        async def all_done() -> bool:
            return (await statuses(services))["success"] == EVENTS

        await wait_until(all_done, "every delivery to succeed after the restart")
        async with services.db.session() as session:
            delivery_ids = set(await session.scalars(select(Delivery.id)))
        assert len(delivery_ids) == EVENTS
        assert_nothing_lost(receiver, delivery_ids)
    finally:
        await services.stop()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_dispatchers_never_send_one_delivery_at_once(
    database_url: str, receiver: Receiver, processes: list[subprocess.Popen[bytes]]
) -> None:
    receiver.decide = failing_every_third(delay_s=0.02)
    services, _webhook_id = await prepare(database_url, receiver)
    try:
        processes.extend([start_dispatcher(database_url), start_dispatcher(database_url)])

        async def all_done() -> bool:
            return (await statuses(services))["success"] == EVENTS

        await wait_until(all_done, "both dispatchers to finish")
        assert receiver.overlaps == []  # no webhook-id was ever in flight twice at once
        async with services.db.session() as session:
            attempts = dict((await session.execute(select(Delivery.id, Delivery.attempts))).all())
            recorded = (
                await session.execute(select(func.count()).select_from(DeliveryAttempt))
            ).scalar_one()
        sent = Counter(r.headers["webhook-id"] for r in receiver.requests)
        # Each delivery was sent exactly as often as its own count of attempts says, and
        # never again once one attempt succeeded: no dispatcher repeated another's send.
        assert sent == Counter(attempts)
        assert len(receiver.requests) == recorded
        answered_ok: set[str] = set()
        for request, answer in zip(receiver.requests, receiver.answers, strict=True):
            message_id = request.headers["webhook-id"]
            assert message_id not in answered_ok, f"{message_id} sent again after a 2xx"
            if 200 <= answer.status < 300:
                answered_ok.add(message_id)
        assert_nothing_lost(receiver, set(attempts))
    finally:
        await services.stop()
