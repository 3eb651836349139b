"""Repositories for outgoing webhooks: subscriptions, and the delivery log with its stats.

The queue itself (enqueueing, claiming, recording attempts) is :mod:`hookhub.store.queue`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update

from hookhub.errors import ConflictError
from hookhub.events import new_id
from hookhub.outbound.delivery import DeliveryStatus, transition
from hookhub.outbound.models import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    WebhookRecord,
    WebhookStats,
)
from hookhub.paging import Page
from hookhub.percentiles import percentile
from hookhub.signing import WHSEC_PREFIX
from hookhub.store.engine import Database, runs_to_end
from hookhub.store.models import Delivery, DeliveryAttempt, EventRecord, Webhook

#: Characters of a secret shown in listings, after ``whsec_`` when it has one: enough to tell
#: two apart, never enough to matter (a given secret may be as short as 8 characters).
SECRET_SHOWN_CHARS = 4
#: Latency percentiles are computed over at most this many recent attempts.
STATS_LATENCY_SAMPLE = 1000


@runs_to_end
class WebhookRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, *, fields: dict[str, Any], secret: str, now: datetime) -> WebhookRecord:
        row = Webhook(id=new_id(now), secret=secret, created_at=now, updated_at=now, **fields)
        async with self._db.session() as session:
            session.add(row)
        return webhook_record(row)

    async def get(self, webhook_id: str) -> WebhookRecord | None:
        async with self._db.session() as session:
            row = await session.get(Webhook, webhook_id)
            return webhook_record(row) if row is not None else None

    async def list(
        self, *, event_type: str | None, is_active: bool | None, limit: int, offset: int
    ) -> Page[WebhookRecord]:
        where = []
        if event_type is not None:
            where.append(Webhook.event_type == event_type)
        if is_active is not None:
            where.append(Webhook.is_active.is_(is_active))
        count = select(func.count()).select_from(Webhook).where(*where)
        query = select(Webhook).where(*where).order_by(Webhook.id).limit(limit).offset(offset)
        async with self._db.session() as session:
            total = (await session.execute(count)).scalar_one()
            items = [webhook_record(row) for row in await session.scalars(query)]
        return Page(items=items, total=total, limit=limit, offset=offset)

    async def update(
        self, webhook_id: str, changes: dict[str, Any], *, now: datetime
    ) -> WebhookRecord | None:
        async with self._db.session() as session:
            row = await session.get(Webhook, webhook_id)
            if row is None:
                return None
            for name, value in changes.items():
                setattr(row, name, value)
            if changes.get("is_active") is True:
                # Re-enabling starts a fresh failure window and forgets why it was disabled.
                row.disabled_reason = None
                row.failing_since = None
            row.updated_at = now
            return webhook_record(row)

    async def delete(self, webhook_id: str) -> bool:
        async with self._db.session() as session:
            await session.execute(delete(Delivery).where(Delivery.webhook_id == webhook_id))
            result = await session.execute(delete(Webhook).where(Webhook.id == webhook_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def rotate(
        self, webhook_id: str, *, secret: str, previous_valid_until: datetime, now: datetime
    ) -> WebhookRecord | None:
        async with self._db.session() as session:
            row = await session.get(Webhook, webhook_id)
            if row is None:
                return None
            row.previous_secret = row.secret
            row.previous_secret_expires_at = previous_valid_until
            row.secret = secret
            row.updated_at = now
            return webhook_record(row)

    async def counts(self) -> tuple[int, int]:
        """``(all webhooks, active webhooks)``."""
        async with self._db.session() as session:
            total = (await session.execute(select(func.count()).select_from(Webhook))).scalar_one()
            active = (
                await session.execute(
                    select(func.count()).select_from(Webhook).where(Webhook.is_active.is_(True))
                )
            ).scalar_one()
        return total, active


@runs_to_end
class DeliveryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_for_webhook(
        self, webhook_id: str, *, status: DeliveryStatus | None, limit: int, offset: int
    ) -> Page[DeliveryOut]:
        where = [Delivery.webhook_id == webhook_id]
        if status is not None:
            where.append(Delivery.status == status)
        count = select(func.count()).select_from(Delivery).where(*where)
        query = select(Delivery).where(*where).order_by(Delivery.id.desc()).limit(limit)
        async with self._db.session() as session:
            total = (await session.execute(count)).scalar_one()
            rows = await session.scalars(query.offset(offset))
            items = [_delivery(row) for row in rows]
        return Page(items=items, total=total, limit=limit, offset=offset)

    async def detail(self, webhook_id: str, delivery_id: str) -> DeliveryDetail | None:
        async with self._db.session() as session:
            found = await session.execute(
                select(Delivery, EventRecord)
                .join(EventRecord, EventRecord.id == Delivery.event_id)
                .where(Delivery.id == delivery_id, Delivery.webhook_id == webhook_id)
            )
            pair = found.first()
            if pair is None:
                return None
            delivery, event = pair
            attempts = await session.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == delivery_id)
                .order_by(DeliveryAttempt.id)
            )
            return DeliveryDetail(
                **_delivery(delivery).model_dump(),
                payload=event.payload,
                attempt_log=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
            )

    async def requeue(
        self, webhook_id: str, delivery_id: str, *, now: datetime
    ) -> DeliveryOut | None:
        """Make a delivery pending and due now (resend). Its id, and so ``webhook-id``, stays."""
        async with self._db.session() as session:
            row = await session.get(Delivery, delivery_id)
            if row is None or row.webhook_id != webhook_id:
                return None
            if row.lease_until is not None and row.lease_until > now:
                # Queuing it now would let a second dispatcher send it beside the first.
                raise ConflictError("the delivery is being sent right now; try again shortly")
            row.status = transition(DeliveryStatus(row.status), DeliveryStatus.PENDING)
            row.next_attempt_at = now
            row.lease_until = None
            row.lease_token = None
            row.completed_at = None
            return _delivery(row)

    async def count_failed(self, webhook_id: str, *, since: datetime, until: datetime) -> int:
        async with self._db.session() as session:
            count = (
                select(func.count())
                .select_from(Delivery)
                .where(*_failed_between(webhook_id, since, until))
            )
            return int((await session.execute(count)).scalar_one())

    async def recover(
        self,
        webhook_id: str,
        *,
        since: datetime,
        until: datetime,
        now: datetime,
        limit: int | None = None,
    ) -> int:
        """Re-queue failed deliveries created in ``[since, until]`` (at most ``limit``, oldest
        first, when given); the count re-queued."""
        chosen = select(Delivery.id).where(*_failed_between(webhook_id, since, until))
        if limit is not None:
            chosen = chosen.order_by(Delivery.id).limit(limit)
        async with self._db.session() as session:
            result = await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(chosen.scalar_subquery()))
                .values(
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=now,
                    lease_until=None,
                    lease_token=None,
                    completed_at=None,
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def stats(self, webhook_id: str | None) -> WebhookStats:
        scope = [Delivery.webhook_id == webhook_id] if webhook_id is not None else []
        async with self._db.session() as session:
            by_status = dict(
                (
                    await session.execute(
                        select(Delivery.status, func.count())
                        .where(*scope)
                        .group_by(Delivery.status)
                    )
                ).all()
            )
            latencies = [
                value
                for value in await session.scalars(
                    select(DeliveryAttempt.latency_ms)
                    .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                    .where(*scope, DeliveryAttempt.latency_ms.is_not(None))
                    .order_by(DeliveryAttempt.id.desc())
                    .limit(STATS_LATENCY_SAMPLE)
                )
                if value is not None
            ]
            ok = and_(DeliveryAttempt.status_code >= 200, DeliveryAttempt.status_code < 300)
            last_success = await session.scalar(
                select(func.max(DeliveryAttempt.attempted_at))
                .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                .where(*scope, ok)
            )
            last_failure = await session.scalar(
                select(func.max(DeliveryAttempt.attempted_at))
                .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                .where(*scope, or_(DeliveryAttempt.status_code.is_(None), ~ok))
            )
        success = by_status.get(DeliveryStatus.SUCCESS, 0)
        failed = by_status.get(DeliveryStatus.FAILED, 0)
        finished = success + failed
        return WebhookStats(
            total=sum(by_status.values()),
            pending=by_status.get(DeliveryStatus.PENDING, 0),
            success=success,
            failed=failed,
            success_rate=success / finished if finished else None,
            latency_p50_ms=percentile(latencies, 50),
            latency_p95_ms=percentile(latencies, 95),
            last_success_at=last_success,
            last_failure_at=last_failure,
        )


def _failed_between(webhook_id: str, since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    return [
        Delivery.webhook_id == webhook_id,
        Delivery.status == DeliveryStatus.FAILED,
        Delivery.created_at >= since,
        Delivery.created_at <= until,
    ]


def _secret_prefix(secret: str) -> str:
    marker = WHSEC_PREFIX if secret.startswith(WHSEC_PREFIX) else ""
    return f"{marker}{secret[len(marker) : len(marker) + SECRET_SHOWN_CHARS]}…"


def webhook_record(row: Any) -> WebhookRecord:
    """A webhook row (ORM object or Core row: the attribute names are the same) as a record."""
    return WebhookRecord(
        id=row.id,
        name=row.name,
        url=row.url,
        event_type=row.event_type,
        description=row.description,
        is_active=row.is_active,
        secret_prefix=_secret_prefix(row.secret),
        retry_schedule_s=row.retry_schedule_s,
        rate_limit_per_s=row.rate_limit_per_s,
        max_concurrency=row.max_concurrency,
        disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        secret=row.secret,
        previous_secret=row.previous_secret,
    )


def _delivery(row: Delivery) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_retry_at=row.next_attempt_at if row.status == DeliveryStatus.PENDING else None,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        completed_at=row.completed_at,
    )
