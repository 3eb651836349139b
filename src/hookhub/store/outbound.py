"""Repositories for outgoing webhooks: subscriptions, deliveries and their attempts.

Deliveries are claimed with one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)
RETURNING``: on PostgreSQL several dispatchers claim disjoint sets; on SQLite the single writer
makes the same statement atomic. A claim is a lease: a dispatcher that dies mid-send loses its
lease when it runs out, and the delivery is claimed again (at-least-once).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hookhub.errors import ConflictError
from hookhub.events import Event, new_id
from hookhub.outbound.delivery import AttemptResult, DeliveryStatus, Verdict, transition
from hookhub.outbound.matching import candidate_patterns
from hookhub.outbound.models import (
    AttemptOut,
    ClaimedDelivery,
    DeliveryDetail,
    DeliveryOut,
    WebhookRecord,
    WebhookStats,
)
from hookhub.paging import Page
from hookhub.signing import WHSEC_PREFIX
from hookhub.store.engine import Database
from hookhub.store.models import Delivery, DeliveryAttempt, EventRecord, Webhook

#: Characters of a secret shown in listings, after ``whsec_`` when it has one: enough to tell
#: two apart, never enough to matter (a given secret may be as short as 8 characters).
SECRET_SHOWN_CHARS = 4
#: Latency percentiles are computed over at most this many recent attempts.
STATS_LATENCY_SAMPLE = 1000


async def enqueue_deliveries(session: AsyncSession, event: Event) -> int:
    """Add a pending delivery for every active webhook whose pattern matches the event.

    Runs inside the caller's transaction, so the event and its deliveries are stored together.
    """
    webhook_ids = await session.scalars(
        select(Webhook.id).where(
            Webhook.is_active.is_(True), Webhook.event_type.in_(candidate_patterns(event.type))
        )
    )
    count = 0
    for webhook_id in webhook_ids:
        session.add(_pending(webhook_id, event))
        count += 1
    return count


def _pending(webhook_id: str, event: Event, delivery_id: str | None = None) -> Delivery:
    return Delivery(
        id=delivery_id or new_id(event.occurred_at),
        webhook_id=webhook_id,
        event_id=event.id,
        event_type=event.type,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=event.occurred_at,
        created_at=event.occurred_at,
    )


def _event_row(event: Event, request_id: str | None = None) -> EventRecord:
    return EventRecord(
        id=event.id,
        type=event.type,
        source=event.source,
        channel=event.channel,
        payload=event.payload,
        occurred_at=event.occurred_at,
        request_id=request_id,
    )


class WebhookRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, *, fields: dict[str, Any], secret: str, now: datetime) -> WebhookRecord:
        row = Webhook(id=new_id(now), secret=secret, created_at=now, updated_at=now, **fields)
        async with self._db.session() as session:
            session.add(row)
        return _webhook(row)

    async def get(self, webhook_id: str) -> WebhookRecord | None:
        async with self._db.session() as session:
            row = await session.get(Webhook, webhook_id)
            return _webhook(row) if row is not None else None

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
            items = [_webhook(row) for row in await session.scalars(query)]
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
            return _webhook(row)

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
            return _webhook(row)

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


class DeliveryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim_due(
        self,
        *,
        now: datetime,
        lease_until: datetime,
        limit: int,
        exclude_webhooks: Sequence[str] = (),
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries of active webhooks, oldest due first.

        Each claim gets its own lease token; only the holder of the current token may record
        an outcome, so a dispatcher whose lease ran out cannot overwrite the next one's.
        """
        token = new_id(now)
        due = (
            select(Delivery.id)
            .join(Webhook, Webhook.id == Delivery.webhook_id)
            .where(
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.next_attempt_at <= now,
                or_(Delivery.lease_until.is_(None), Delivery.lease_until <= now),
                Webhook.is_active.is_(True),
            )
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Delivery)
        )
        if exclude_webhooks:
            due = due.where(Delivery.webhook_id.not_in(list(exclude_webhooks)))
        # A materialized CTE, not an IN (subquery): PostgreSQL may run a LIMIT ... FOR UPDATE
        # subquery more than once inside an UPDATE and claim more rows than the limit.
        chosen = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
        async with self._db.session() as session:
            claimed_ids = list(
                await session.scalars(
                    update(Delivery)
                    .where(Delivery.id.in_(select(chosen.c.id)))
                    .values(lease_until=lease_until, lease_token=token)
                    .returning(Delivery.id)
                    .execution_options(synchronize_session=False)
                )
            )
            if not claimed_ids:
                return []
            rows = await session.execute(
                select(Delivery, Webhook, EventRecord)
                .join(Webhook, Webhook.id == Delivery.webhook_id)
                .join(EventRecord, EventRecord.id == Delivery.event_id)
                .where(Delivery.id.in_(claimed_ids))
                .order_by(Delivery.next_attempt_at)
            )
            return [
                ClaimedDelivery(
                    id=delivery.id,
                    lease_token=token,
                    attempts=delivery.attempts,
                    event_id=event.id,
                    event_type=event.type,
                    occurred_at=event.occurred_at,
                    payload=event.payload,
                    webhook=_webhook(webhook),
                )
                for delivery, webhook, event in rows.all()
            ]

    async def release(self, delivery_ids: Sequence[str]) -> None:
        """Give back leases taken but not used, so any dispatcher may claim them again."""
        if not delivery_ids:
            return
        async with self._db.session() as session:
            await session.execute(
                update(Delivery)
                .where(
                    Delivery.id.in_(list(delivery_ids)), Delivery.status == DeliveryStatus.PENDING
                )
                .values(lease_until=None, lease_token=None)
            )

    async def add_single(
        self, webhook: WebhookRecord, event: Event, *, lease_until: datetime
    ) -> ClaimedDelivery:
        """Store ``event`` with one delivery, to ``webhook`` only, already leased to the caller.

        For test sends made on the spot: the lease keeps every dispatcher off it meanwhile.
        """
        delivery = _pending(webhook.id, event)
        delivery.lease_until = lease_until
        delivery.lease_token = new_id(event.occurred_at)
        async with self._db.session() as session:
            session.add(_event_row(event))
            await session.flush()  # the event row first: the delivery refers to it
            session.add(delivery)
        return ClaimedDelivery(
            id=delivery.id,
            lease_token=delivery.lease_token,
            attempts=0,
            event_id=event.id,
            event_type=event.type,
            occurred_at=event.occurred_at,
            payload=event.payload,
            webhook=webhook,
        )

    async def record_attempt(self, record: AttemptRecord) -> bool:
        """Store one attempt; see :meth:`record_attempts`."""
        [current] = await self.record_attempts([record])
        return current

    async def record_attempts(self, records: Sequence[AttemptRecord]) -> list[bool]:
        """Store attempts and, for each claim still holding its lease, the new state.

        One transaction for the lot: under load the dispatcher hands over many at once.
        Every attempt is kept (it happened). A delivery's state and its webhook's failure
        window change only under the claim's own lease token; a claim whose lease ran out and
        was taken by another records its attempt and nothing else. Returns, per record,
        whether the state was changed.
        """
        async with self._db.session() as session:
            return [await _record(session, record) for record in records]

    async def disable_webhook(
        self, webhook_id: str, *, reason: str, now: datetime, notice: Event
    ) -> bool:
        """Disable an active webhook and store ``notice`` with its deliveries, together.

        One transaction, so a crash cannot disable the webhook and lose the notice. False
        (and nothing stored) when the webhook was already inactive or is gone.
        """
        async with self._db.session() as session:
            result = await session.execute(
                update(Webhook)
                .where(Webhook.id == webhook_id, Webhook.is_active.is_(True))
                .values(is_active=False, disabled_reason=reason, updated_at=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            session.add(_event_row(notice))
            await session.flush()  # the event row first: deliveries refer to it
            await enqueue_deliveries(session, notice)
            return True

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
            latency_p50_ms=_percentile(latencies, 50),
            latency_p95_ms=_percentile(latencies, 95),
            last_success_at=last_success,
            last_failure_at=last_failure,
        )


@dataclass(frozen=True)
class AttemptRecord:
    """One finished attempt, as the dispatcher hands it to the store."""

    claimed: ClaimedDelivery
    result: AttemptResult
    verdict: Verdict
    attempted_at: datetime
    latency_ms: float | None
    response_excerpt: str | None
    now: datetime


async def _record(session: AsyncSession, record: AttemptRecord) -> bool:
    claimed, result, verdict = record.claimed, record.result, record.verdict
    # Locked for the transaction (PostgreSQL; SQLite has one writer anyway), so the token
    # check and the update cannot interleave with another dispatcher's.
    delivery = await session.get(Delivery, claimed.id, with_for_update=True)
    if delivery is None:  # the webhook was deleted while we were sending
        return False
    session.add(
        DeliveryAttempt(
            id=new_id(record.attempted_at),
            delivery_id=claimed.id,
            attempted_at=record.attempted_at,
            status_code=result.status_code,
            latency_ms=record.latency_ms,
            response_excerpt=record.response_excerpt,
            error=result.error,
        )
    )
    if delivery.lease_token != claimed.lease_token:
        return False
    delivery.status = transition(DeliveryStatus(delivery.status), verdict.status)
    delivery.attempts += 1
    delivery.next_attempt_at = verdict.next_attempt_at
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    if verdict.status is not DeliveryStatus.PENDING:
        delivery.completed_at = record.now
    succeeded = verdict.status is DeliveryStatus.SUCCESS
    # The webhook row is touched only when its failure window opens or closes.
    if succeeded == (claimed.webhook.failing_since is not None):
        webhook = await session.get(Webhook, claimed.webhook.id, with_for_update=True)
        if webhook is not None:
            if succeeded:
                webhook.failing_since = None
            elif webhook.failing_since is None:
                webhook.failing_since = record.attempted_at
    return True


def _failed_between(webhook_id: str, since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    return [
        Delivery.webhook_id == webhook_id,
        Delivery.status == DeliveryStatus.FAILED,
        Delivery.created_at >= since,
        Delivery.created_at <= until,
    ]


def _percentile(values: list[float], percent: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _secret_prefix(secret: str) -> str:
    marker = WHSEC_PREFIX if secret.startswith(WHSEC_PREFIX) else ""
    return f"{marker}{secret[len(marker) : len(marker) + SECRET_SHOWN_CHARS]}…"


def _webhook(row: Webhook) -> WebhookRecord:
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
