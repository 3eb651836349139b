"""PostgreSQL's one-statement event writes store and hand off what the general path does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from hookhub.events import Event
from hookhub.outbound.models import WebhookRecord
from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade
from hookhub.store.models import Delivery, EventRecord, Webhook
from hookhub.store.outbound import WebhookRepository
from hookhub.store.queue import NewEvent, StoredEvent, store_events, store_events_at_once

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


class TakeAll:
    """A handoff that takes every delivery offered, as an idle local dispatcher would."""

    def __init__(self, token: str) -> None:
        self.lease_until = NOW + timedelta(seconds=60)
        self.token = token
        self.offered: list[WebhookRecord] = []

    def take(self, webhook: WebhookRecord) -> bool:
        self.offered.append(webhook)
        return True


async def stored_rows(db: Database, event_id: str) -> tuple[Any, list[Any]]:
    async with db.transaction() as connection:
        event = (
            await connection.execute(
                select(
                    EventRecord.type,
                    EventRecord.source,
                    EventRecord.channel,
                    EventRecord.payload,
                    EventRecord.occurred_at,
                    EventRecord.request_id,
                ).where(EventRecord.id == event_id)
            )
        ).one()
        deliveries = (
            await connection.execute(
                select(
                    Delivery.webhook_id,
                    Delivery.event_type,
                    Delivery.status,
                    Delivery.attempts,
                    Delivery.next_attempt_at,
                    Delivery.lease_until,
                    Delivery.completed_at,
                )
                .where(Delivery.event_id == event_id)
                .order_by(Delivery.webhook_id)
            )
        ).all()
    return tuple(event), [tuple(row) for row in deliveries]


async def test_one_statement_stores_and_hands_off_what_a_transaction_does(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    await upgrade(db)
    try:
        webhooks = WebhookRepository(db)
        fields = {"url": "http://127.0.0.1:9/hook", "max_concurrency": 8}
        tuned = await webhooks.create(
            fields={
                **fields,
                "name": "tuned",
                "event_type": "ticket.*",
                "retry_schedule_s": [1, 60],
                "rate_limit_per_s": 2.5,
            },
            secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            now=NOW,
        )
        await webhooks.rotate(
            tuned.id, secret="s2", previous_valid_until=NOW + timedelta(hours=24), now=NOW
        )
        async with db.transaction() as connection:
            await connection.execute(
                update(Webhook).where(Webhook.id == tuned.id).values(failing_since=NOW)
            )
        await webhooks.create(
            fields={**fields, "name": "all", "event_type": "*"}, secret="s", now=NOW
        )
        await webhooks.create(
            fields={**fields, "name": "other", "event_type": "order.*"}, secret="s", now=NOW
        )
        await webhooks.create(
            fields={**fields, "name": "off", "event_type": "*", "is_active": False},
            secret="s",
            now=NOW,
        )

        def event(n: int) -> Event:
            payload = {"n": n, "tags": ["a", "é"], "nested": {"x": None}}
            return Event.create(type="ticket.created", payload=payload, source="t", now=NOW)

        general, at_once = TakeAll("general"), TakeAll("at-once")
        first, second = event(1), event(2)
        async with db.batch() as batch:
            [by_transaction] = await store_events(batch, [NewEvent(first, "req-1", general)])
        [by_statement] = await store_events_at_once(db, [NewEvent(second, "req-1", at_once)])

        # The same webhooks offered, read with every field alike (JSON, times, rotation).
        assert sorted(at_once.offered, key=lambda w: w.id) == sorted(
            general.offered, key=lambda w: w.id
        )
        assert {w.name for w in at_once.offered} == {"tuned", "all"}
        tuned_read = next(w for w in at_once.offered if w.name == "tuned")
        assert tuned_read.retry_schedule_s == [1, 60]
        assert tuned_read.failing_since == NOW
        assert tuned_read.previous_secret == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

        def handed(stored: StoredEvent) -> list[tuple[str, int, str]]:
            return sorted((d.webhook.id, d.attempts, d.lease_token) for d in stored.taken)

        assert by_statement.queued == by_transaction.queued == 2
        assert [(w, a) for w, a, _ in handed(by_statement)] == [
            (w, a) for w, a, _ in handed(by_transaction)
        ]
        assert {token for *_, token in handed(by_statement)} == {"at-once"}
        assert [d.payload for d in by_statement.taken] == [second.payload] * 2

        # The rows stored: the same but for the payload's own number.
        first_event, first_deliveries = await stored_rows(db, first.id)
        second_event, second_deliveries = await stored_rows(db, second.id)
        assert second_event[3] == second.payload
        assert second_event[:3] + second_event[4:] == first_event[:3] + first_event[4:]
        assert second_deliveries == first_deliveries
        assert [row[2] for row in second_deliveries] == ["pending", "pending"]
    finally:
        await db.close()


async def test_events_no_webhook_wants_are_stored_alone(postgres_url: str) -> None:
    db = Database(postgres_url)
    await upgrade(db)
    try:
        items = [
            NewEvent(Event.create(type="t", payload={"n": n}, source="t", now=NOW))
            for n in range(3)
        ]
        stored = await store_events_at_once(db, items)
        assert [(s.queued, s.taken) for s in stored] == [(0, [])] * 3
        async with db.transaction() as connection:
            ids = (await connection.scalars(select(EventRecord.id).order_by(EventRecord.id))).all()
        assert ids == sorted(item.event.id for item in items)
    finally:
        await db.close()
