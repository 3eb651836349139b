"""The delivery queue: deliveries enqueued with their event, claimed, and their attempts recorded.

This is the dispatcher's hot path, so it speaks SQLAlchemy Core (no ORM identity map, no
per-row flush): a delivery costs a few rows in a few batched statements.

Deliveries are claimed with one ``UPDATE ... RETURNING`` of the rows a ``SELECT ... FOR UPDATE
SKIP LOCKED`` chose: on PostgreSQL several dispatchers claim disjoint sets; on SQLite the single
writer makes the same statement atomic. A claim is a lease: a dispatcher that dies mid-send
loses its lease when it runs out, and the delivery is claimed again (at-least-once). On
PostgreSQL the update also returns each delivery's event (``UPDATE ... FROM events``), and finds
the chosen rows by primary key (``id = ANY(ARRAY(...))``); SQLite's ``RETURNING`` may not name
another table, so there the events are read after the update.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Update, any_, bindparam, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.events import Event, new_id
from hookhub.outbound.delivery import AttemptResult, DeliveryStatus, Verdict, transition
from hookhub.outbound.matching import candidate_patterns
from hookhub.outbound.models import ClaimedDelivery, WebhookRecord
from hookhub.store import at_once
from hookhub.store.batch import Batch, ShortCount
from hookhub.store.bulk import DIRECT_DIALECT, Bulk
from hookhub.store.engine import Database, runs_to_end
from hookhub.store.fetch import Fetch
from hookhub.store.models import Base, Delivery, DeliveryAttempt, EventRecord, Webhook
from hookhub.store.outbound import webhook_record

_TABLES = Base.metadata.tables
_DELIVERIES = _TABLES[Delivery.__tablename__]
_ATTEMPTS = _TABLES[DeliveryAttempt.__tablename__]
_EVENTS = _TABLES[EventRecord.__tablename__]
INSERT_EVENTS = Bulk(insert(_EVENTS))
INSERT_DELIVERIES = Bulk(insert(_DELIVERIES))
INSERT_ATTEMPTS = Bulk(insert(_ATTEMPTS))
_WEBHOOKS = _TABLES[Webhook.__tablename__]


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


class Handoff(Protocol):
    """A local dispatcher offering to send new deliveries itself, skipping the claim.

    ``take`` is asked once per matching webhook while the event is being stored; a delivery
    it takes is stored already leased (``lease_until``, ``token``), as if claimed, so no other
    dispatcher sends it, and a crash before it is sent only delays it until the lease ends.
    """

    lease_until: datetime
    token: str

    def take(self, webhook: WebhookRecord) -> bool: ...


@dataclass(frozen=True)
class StoredEvent:
    #: Deliveries stored for the event, taken or not.
    queued: int
    #: The deliveries the handoff took, leased to it.
    taken: list[ClaimedDelivery]


@dataclass(frozen=True)
class NewEvent:
    """An event to store, with the request that caused it and a handoff that may take it."""

    event: Event
    request_id: str | None = None
    handoff: Handoff | None = None


async def store_event(
    batch: Batch,
    event: Event,
    *,
    request_id: str | None = None,
    handoff: Handoff | None = None,
) -> StoredEvent:
    """Store ``event`` and a pending delivery per matching active webhook.

    Runs inside the caller's transaction, so the event and its deliveries are stored together.
    """
    [stored] = await store_events(batch, [NewEvent(event, request_id, handoff)])
    return stored


async def store_events(batch: Batch, items: Sequence[NewEvent]) -> list[StoredEvent]:
    """Store events and their deliveries in the caller's transaction: three statements in all."""
    await batch.write(INSERT_EVENTS, [_event_values(item.event, item.request_id) for item in items])
    patterns, wanted = _patterns(items)
    webhooks = [
        webhook_record(row) for row in await _MATCHING_WEBHOOKS.all(batch.connection, wanted)
    ]
    rows, results = _deliveries_of(items, patterns, webhooks)
    await batch.write(INSERT_DELIVERIES, rows)
    return results


async def store_events_at_once(db: Database, items: Sequence[NewEvent]) -> list[StoredEvent]:
    """:func:`store_events` in a transaction of its own, on PostgreSQL: a read, then one write.

    See :mod:`hookhub.store.at_once`. The webhooks are read before the statement, as in
    :func:`store_events` (no lock on them either way).
    """
    patterns, wanted = _patterns(items)
    async with db.autocommit() as driver:
        webhooks = [webhook_record(row) for row in await at_once.matching_webhooks(driver, wanted)]
        rows, results = _deliveries_of(items, patterns, webhooks)
        events = [_event_values(item.event, item.request_id) for item in items]
        await at_once.store_events(driver, events, rows)
    return results


def _patterns(items: Sequence[NewEvent]) -> tuple[dict[str, set[str]], list[str]]:
    """Per event type, the webhook patterns that match it; and all of them, sorted."""
    patterns = {kind: set(candidate_patterns(kind)) for kind in {i.event.type for i in items}}
    return patterns, sorted(set().union(*patterns.values()))


def _deliveries_of(
    items: Sequence[NewEvent], patterns: dict[str, set[str]], webhooks: Sequence[WebhookRecord]
) -> tuple[list[dict[str, Any]], list[StoredEvent]]:
    """The delivery rows of the events, those their handoffs take already leased."""
    rows: list[dict[str, Any]] = []
    results: list[StoredEvent] = []
    for item in items:
        event, handoff = item.event, item.handoff
        matching = [w for w in webhooks if w.event_type in patterns[event.type]]
        taken: list[ClaimedDelivery] = []
        for webhook in matching:
            values = _pending_values(webhook.id, event)
            if handoff is not None and handoff.take(webhook):
                values.update(lease_until=handoff.lease_until, lease_token=handoff.token)
                taken.append(_claimed(values["id"], handoff.token, 0, event, webhook))
            rows.append(values)
        results.append(StoredEvent(len(matching), taken))
    return rows, results


def _claimed(
    delivery_id: str, token: str, attempts: int, event: Event, webhook: WebhookRecord
) -> ClaimedDelivery:
    # Built without validation: every field comes from a validated event or typed columns.
    return ClaimedDelivery.model_construct(
        id=delivery_id,
        lease_token=token,
        attempts=attempts,
        event_id=event.id,
        event_type=event.type,
        occurred_at=event.occurred_at,
        payload=event.payload,
        webhook=webhook,
    )


@runs_to_end
class DeliveryQueue:
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
        params: dict[str, Any] = {
            "now": now,
            "limit": limit,
            "lease_until": lease_until,
            "token": token,
        }
        with_events = self._db.dialect == RETURNING_EVENTS_DIALECT
        claim = _CLAIMS[(with_events, bool(exclude_webhooks))]
        if exclude_webhooks:
            params["excluded"] = list(exclude_webhooks)
        async with self._db.transaction() as connection:
            if with_events:
                rows = sorted(
                    (await connection.execute(claim, params)).all(),
                    key=lambda row: row.next_attempt_at,
                )
            else:
                ids = (await connection.scalars(claim, params)).all()
                rows = list((await connection.execute(_CLAIMED, {"ids": ids})).all()) if ids else []
            if not rows:
                return []
            webhook_ids = list({row.webhook_id for row in rows})
            webhooks = {
                row.id: webhook_record(row)
                for row in await connection.execute(_WEBHOOKS_BY_ID, {"ids": webhook_ids})
            }
        # Built without validation: every field comes straight from typed columns.
        return [
            ClaimedDelivery.model_construct(
                id=row.id,
                lease_token=token,
                attempts=row.attempts,
                event_id=row.event_id,
                event_type=row.type,
                occurred_at=row.occurred_at,
                payload=row.payload,
                webhook=webhooks[row.webhook_id],
            )
            for row in rows
        ]

    async def release(self, claims: Sequence[ClaimedDelivery]) -> None:
        """Give back leases taken but not used, so any dispatcher may claim them again.

        Only a lease still held with the claim's token is given back: one that ran out and
        was claimed by another dispatcher since stays with that dispatcher.
        """
        if not claims:
            return
        d = _DELIVERIES.c
        held = [(claim.id, claim.lease_token) for claim in claims]
        async with self._db.transaction() as connection:
            await connection.execute(
                update(_DELIVERIES)
                .where(
                    tuple_(d.id, d.lease_token).in_(held),
                    d.status == DeliveryStatus.PENDING,
                )
                .values(lease_until=None, lease_token=None)
            )

    async def add_single(
        self, webhook: WebhookRecord, event: Event, *, lease_until: datetime
    ) -> ClaimedDelivery:
        """Store ``event`` with one delivery, to ``webhook`` only, already leased to the caller.

        For test sends made on the spot: the lease keeps every dispatcher off it meanwhile.
        """
        delivery = _pending_values(webhook.id, event)
        delivery.update(lease_until=lease_until, lease_token=new_id(event.occurred_at))
        async with self._db.batch() as batch:
            await batch.write(INSERT_EVENTS, [_event_values(event, None)])
            await batch.write(INSERT_DELIVERIES, [delivery])
        return ClaimedDelivery(
            id=delivery["id"],
            lease_token=delivery["lease_token"],
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
        Every attempt of a delivery that still exists is kept (it happened). A delivery's
        state and its webhook's failure window change only under the claim's own lease
        token; a claim whose lease ran out and was taken by another records its attempt and
        nothing else. Returns, per record, whether the state was changed.

        On SQLite the batch is first written taking every claim to hold its lease (one call
        into the driver); only when one does not is it written again, reading the holders.
        """
        if not records:
            return []
        try:
            if self._db.dialect == DIRECT_DIALECT:
                return await self._record_held(records)
            if self._db.dialect == AT_ONCE_DIALECT and _fits_at_once(records):
                return await self._record_at_once(records)
        except ShortCount:
            pass  # a lease ran out, or a delivery is gone: read who holds what first
        async with self._db.batch() as batch:
            # Locked for the transaction (PostgreSQL; SQLite has one writer anyway), so the
            # token check and the update cannot interleave with another dispatcher's.
            held = {
                row.id: (row.status, row.lease_token)
                for row in await _HELD.all(
                    batch.connection, list({record.claimed.id for record in records})
                )
            }
            attempts = [_attempt_values(r) for r in records if r.claimed.id in held]
            await batch.write(INSERT_ATTEMPTS, attempts)
            current: list[bool] = []
            changes: list[dict[str, Any]] = []
            for record in records:
                status, token = held.get(record.claimed.id, (None, None))
                mine = status is not None and token == record.claimed.lease_token
                current.append(mine)
                if mine:
                    changes.append(_state_values(record, DeliveryStatus(status)))
                    # The same delivery cannot be current twice in one batch.
                    held[record.claimed.id] = (status, None)
            if changes:
                await batch.write(_WRITE_STATES, changes)
                await _update_failure_windows(
                    batch.connection, [r for r, mine in zip(records, current, strict=True) if mine]
                )
        return current

    async def _record_held(self, records: Sequence[AttemptRecord]) -> list[bool]:
        """Record attempts whose claims all still hold their leases, or raise ``ShortCount``.

        On SQLite the whole batch is then one call into the driver: each state is written
        only where the claim's token still holds the delivery (a token is only ever set on a
        pending delivery, and cleared when it leaves that state), and the statement must
        change every row, or the transaction is undone.
        """
        async with self._db.batch() as batch:
            changes = [
                {
                    **_state_values(record, DeliveryStatus.PENDING),
                    "b_token": record.claimed.lease_token,
                }
                for record in records
            ]
            await batch.write(_WRITE_HELD_STATES, changes, exact=True)
            await batch.write(INSERT_ATTEMPTS, [_attempt_values(record) for record in records])
            await _update_failure_windows(batch.connection, records)
        return [True] * len(records)

    async def _record_at_once(self, records: Sequence[AttemptRecord]) -> list[bool]:
        """Record attempts in one statement (PostgreSQL): see :mod:`hookhub.store.at_once`.

        For batches in which no webhook's failure window changes: those take a write to the
        webhook as well, in the same transaction, and go the general way.
        """
        rows = [
            {
                **_state_values(record, DeliveryStatus.PENDING),
                "b_token": record.claimed.lease_token,
                **_attempt_values(record),
            }
            for record in records
        ]
        async with self._db.autocommit() as driver:
            changed = await at_once.record_attempts(driver, rows)
        return [record.claimed.id in changed for record in records]

    async def disable_webhook(
        self, webhook_id: str, *, reason: str, now: datetime, notice: Event
    ) -> bool:
        """Disable an active webhook and store ``notice`` with its deliveries, together.

        One transaction, so a crash cannot disable the webhook and lose the notice. False
        (and nothing stored) when the webhook was already inactive or is gone.
        """
        w = _WEBHOOKS.c
        async with self._db.batch() as batch:
            result = await batch.connection.execute(
                update(_WEBHOOKS)
                .where(w.id == webhook_id, w.is_active.is_(True))
                .values(is_active=False, disabled_reason=reason, updated_at=now)
            )
            if not result.rowcount:
                return False
            await store_event(batch, notice)
            return True


#: The dialect whose claim returns the deliveries' events in the same statement.
RETURNING_EVENTS_DIALECT = "postgresql"
#: The dialect whose hot writes are one statement each (:mod:`hookhub.store.at_once`).
AT_ONCE_DIALECT = "postgresql"


def _fits_at_once(records: Sequence[AttemptRecord]) -> bool:
    """Whether one statement can record the batch: each delivery once, no window changing."""
    ids = {record.claimed.id for record in records}
    return len(ids) == len(records) and not any(_window_change(r) for r in records)


def _claim_statement(*, excluding: bool, with_events: bool) -> Update:
    d, w = _DELIVERIES.c, _WEBHOOKS.c
    due = (
        select(d.id)
        .join(_WEBHOOKS, w.id == d.webhook_id)
        .where(
            d.status == DeliveryStatus.PENDING,
            d.next_attempt_at <= bindparam("now"),
            (d.lease_until.is_(None)) | (d.lease_until <= bindparam("now")),
            w.is_active.is_(True),
        )
        .order_by(d.next_attempt_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True, of=_DELIVERIES)
    )
    if excluding:
        due = due.where(d.webhook_id.not_in(bindparam("excluded", expanding=True)))
    # A materialized CTE, not an IN (subquery): PostgreSQL may run a LIMIT ... FOR UPDATE
    # subquery more than once inside an UPDATE and claim more rows than the limit.
    chosen = due.cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
    leased = update(_DELIVERIES).values(
        lease_until=bindparam("lease_until"), lease_token=bindparam("token")
    )
    if not with_events:
        return leased.where(d.id.in_(select(chosen.c.id))).returning(d.id)
    # An array of the chosen ids, not IN (SELECT ...): for IN, PostgreSQL hashes the chosen
    # ids and scans every delivery for them (its pick at 10,000 deliveries, analysed or not:
    # 3.3 ms for a claim of 64); for the array it looks each one up by its primary key.
    return leased.where(
        d.id == any_(func.array(select(chosen.c.id).scalar_subquery())),
        _EVENTS.c.id == d.event_id,
    ).returning(*_CLAIMED_COLUMNS)


# The statements of the hot path are built once; each call only binds its values.
#: What a claim gives per delivery: the delivery and its event.
_CLAIMED_COLUMNS = (
    _DELIVERIES.c.id,
    _DELIVERIES.c.attempts,
    _DELIVERIES.c.webhook_id,
    _DELIVERIES.c.next_attempt_at,
    _EVENTS.c.id.label("event_id"),
    _EVENTS.c.type,
    _EVENTS.c.occurred_at,
    _EVENTS.c.payload,
)
#: Per (returning the events too, excluding webhooks).
_CLAIMS = {
    (with_events, excluding): _claim_statement(excluding=excluding, with_events=with_events)
    for with_events in (False, True)
    for excluding in (False, True)
}
_CLAIMED = (
    select(*_CLAIMED_COLUMNS)
    .join(_EVENTS, _EVENTS.c.id == _DELIVERIES.c.event_id)
    .where(_DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_DELIVERIES.c.next_attempt_at)
)
_WEBHOOKS_BY_ID = select(_WEBHOOKS).where(_WEBHOOKS.c.id.in_(bindparam("ids", expanding=True)))
_MATCHING_WEBHOOKS = Fetch(
    select(_WEBHOOKS).where(
        _WEBHOOKS.c.is_active.is_(True),
        _WEBHOOKS.c.event_type.in_(bindparam("patterns", expanding=True)),
    ),
    listed="patterns",
)
_HELD = Fetch(
    select(_DELIVERIES.c.id, _DELIVERIES.c.status, _DELIVERIES.c.lease_token)
    .where(_DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
    .with_for_update(),
    listed="ids",
)

# One statement for every delivery whose state a batch changes (an executemany).
_STATE_UPDATE = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        attempts=_DELIVERIES.c.attempts + 1,
        next_attempt_at=bindparam("b_next_attempt_at"),
        lease_until=None,
        lease_token=None,
        last_status_code=bindparam("b_status_code"),
        last_error=bindparam("b_error"),
        completed_at=bindparam("b_completed_at"),
    )
)


_WRITE_STATES = Bulk(_STATE_UPDATE)
#: The same, only where the claim's lease token still holds the pending delivery.
_WRITE_HELD_STATES = Bulk(
    _STATE_UPDATE.where(
        _DELIVERIES.c.status == DeliveryStatus.PENDING.value,
        _DELIVERIES.c.lease_token == bindparam("b_token"),
    )
)


def _state_values(record: AttemptRecord, status: DeliveryStatus) -> dict[str, Any]:
    verdict = record.verdict
    new_status = transition(status, verdict.status)
    return {
        "b_id": record.claimed.id,
        "b_status": new_status.value,
        "b_next_attempt_at": verdict.next_attempt_at,
        "b_status_code": record.result.status_code,
        "b_error": record.result.error,
        "b_completed_at": None if new_status is DeliveryStatus.PENDING else record.now,
    }


def _window_change(record: AttemptRecord) -> Literal["open", "close"] | None:
    """How the attempt changes its webhook's failure window: "open", "close", or None."""
    succeeded = record.verdict.status is DeliveryStatus.SUCCESS
    was_failing = record.claimed.webhook.failing_since is not None
    if succeeded and was_failing:
        return "close"
    if not succeeded and not was_failing:
        return "open"
    return None


async def _update_failure_windows(
    connection: AsyncConnection, records: Sequence[AttemptRecord]
) -> None:
    """Open or close webhooks' failure windows; the row is touched only when one flips."""
    w = _WEBHOOKS.c
    for record in records:
        change = _window_change(record)
        if change == "close":
            await connection.execute(
                update(_WEBHOOKS)
                .where(w.id == record.claimed.webhook.id)
                .values(failing_since=None)
            )
        elif change == "open":
            await connection.execute(
                update(_WEBHOOKS)
                .where(w.id == record.claimed.webhook.id, w.failing_since.is_(None))
                .values(failing_since=record.attempted_at)
            )


def _attempt_values(record: AttemptRecord) -> dict[str, Any]:
    return {
        "id": new_id(record.attempted_at),
        "delivery_id": record.claimed.id,
        "attempted_at": record.attempted_at,
        "status_code": record.result.status_code,
        "latency_ms": record.latency_ms,
        "response_excerpt": record.response_excerpt,
        "error": record.result.error,
    }


def _pending_values(webhook_id: str, event: Event) -> dict[str, Any]:
    return {
        "id": new_id(event.occurred_at),
        "webhook_id": webhook_id,
        "event_id": event.id,
        "event_type": event.type,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": event.occurred_at,
        "lease_until": None,
        "lease_token": None,
        "created_at": event.occurred_at,
    }


def _event_values(event: Event, request_id: str | None) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "source": event.source,
        "channel": event.channel,
        "payload": event.payload,
        "occurred_at": event.occurred_at,
        "request_id": request_id,
    }
