"""Repositories: every read and write of the store goes through here.

Each method opens its own session and closes it before returning, and returns plain pydantic
models, so no session or ORM row escapes into services or routes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar, cast

from sqlalchemy import ColumnElement, Table, func, insert, select, update

from hookhub.audit import AuditRecord, AuditWriter
from hookhub.events import Event, new_id
from hookhub.paging import Page
from hookhub.store.batch import Batch
from hookhub.store.bulk import Bulk
from hookhub.store.engine import Database, runs_to_end
from hookhub.store.models import ApiToken, AuditEntry, EventRecord
from hookhub.store.queue import (
    AT_ONCE_DIALECT,
    NewEvent,
    StoredEvent,
    store_events,
    store_events_at_once,
)
from hookhub.tokens import ApiTokenInfo

#: A token's ``last_used_at`` is refreshed at most this often, to spare a write per request.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=5)

AUDIT_LOG = cast(Table, AuditEntry.__table__)
#: Built once, so SQLAlchemy finds its compiled form without rebuilding its cache key.
INSERT_AUDIT_LOG = Bulk(insert(AUDIT_LOG))
RowT = TypeVar("RowT", EventRecord, AuditEntry)
ItemT = TypeVar("ItemT")


@runs_to_end
class EventRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, event: Event, *, request_id: str | None = None) -> StoredEvent:
        """Store the event and a pending delivery per matching webhook, in one transaction."""
        [stored] = await self._add_many([NewEvent(event, request_id)])
        return stored

    async def add_many(self, items: Sequence[NewEvent]) -> list[StoredEvent]:
        """Store events and their deliveries, all in one transaction.

        An item's ``handoff`` (the local dispatcher) may take its deliveries to send them
        without a claim.
        """
        return await self._add_many(items)

    async def _add_many(self, items: Sequence[NewEvent]) -> list[StoredEvent]:
        # Unwrapped: its callers run it to its end.
        if self._db.dialect == AT_ONCE_DIALECT:
            return await store_events_at_once(self._db, items)
        async with self._db.batch() as batch:
            return await store_events(batch, items)

    async def get(self, event_id: str) -> Event | None:
        async with self._db.session() as session:
            row = await session.get(EventRecord, event_id)
            return _event(row) if row is not None else None

    async def list(self, *, type: str | None, limit: int, offset: int) -> Page[Event]:
        where = [EventRecord.type == type] if type is not None else []
        return await _page(self._db, EventRecord, where, _event, limit=limit, offset=offset)


@runs_to_end
class TokenRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, *, name: str, token_hash: str, prefix: str, now: datetime) -> ApiTokenInfo:
        row = ApiToken(
            id=new_id(now), name=name, token_hash=token_hash, prefix=prefix, created_at=now
        )
        async with self._db.session() as session:
            session.add(row)
        return _token(row)

    async def find_active(self, token_hash: str, *, now: datetime) -> ApiTokenInfo | None:
        """The unrevoked token with this hash, its ``last_used_at`` refreshed when stale."""
        async with self._db.session() as session:
            row = await session.scalar(
                select(ApiToken).where(
                    ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None)
                )
            )
            if row is None:
                return None
            if row.last_used_at is None or now - row.last_used_at >= TOKEN_TOUCH_INTERVAL:
                row.last_used_at = now
            return _token(row)

    async def list(self, *, include_revoked: bool) -> list[ApiTokenInfo]:
        query = select(ApiToken).order_by(ApiToken.id)
        if not include_revoked:
            query = query.where(ApiToken.revoked_at.is_(None))
        async with self._db.session() as session:
            return [_token(row) for row in await session.scalars(query)]

    async def revoke(self, token_id: str, *, now: datetime) -> ApiTokenInfo | None:
        """Revoke the token; ``None`` when there is no such token.

        Revoking twice keeps the first revocation time.
        """
        async with self._db.session() as session:
            await session.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            row = await session.get(ApiToken, token_id, populate_existing=True)
            return _token(row) if row is not None else None


@runs_to_end
class AuditRepository(AuditWriter):
    """The audit log in the store; :meth:`add` (of :class:`AuditWriter`) stores one entry in a
    transaction of its own."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _store(self, record: AuditRecord) -> AuditRecord:
        # ``add`` is inherited, so ``runs_to_end`` does not wrap it: the transaction runs to
        # its end here.
        await self._db.run_to_end(self._add_many([record]))
        return record

    async def add_many(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        """Store the entries in one transaction; they are returned as given."""
        return await self._add_many(records)

    async def _add_many(self, records: Sequence[AuditRecord]) -> list[AuditRecord]:
        # Unwrapped: its callers run it to its end.
        async with self._db.batch() as batch:
            await add_audit_entries(batch, records)
        return list(records)

    async def list(self, *, action: str | None, limit: int, offset: int) -> Page[AuditRecord]:
        where = [AuditEntry.action == action] if action is not None else []
        return await _page(self._db, AuditEntry, where, _audit, limit=limit, offset=offset)


async def add_audit_entries(batch: Batch, records: Sequence[AuditRecord]) -> None:
    """Store audit entries in the caller's transaction (beside the writes they account for)."""
    rows = [
        {
            "id": record.id,
            "occurred_at": record.occurred_at,
            "actor": record.actor,
            "action": record.action,
            "target": record.target,
            "request_id": record.request_id,
            "details": record.details,
        }
        for record in records
    ]
    await batch.write(INSERT_AUDIT_LOG, rows)


async def _page(
    db: Database,
    model: type[RowT],
    where: list[ColumnElement[bool]],
    convert: Callable[[RowT], ItemT],
    *,
    limit: int,
    offset: int,
) -> Page[ItemT]:
    """One page of ``model`` rows, newest id first, with the total that matches ``where``."""
    count = select(func.count()).select_from(model).where(*where)
    query = select(model).where(*where).order_by(model.id.desc()).limit(limit).offset(offset)
    async with db.session() as session:
        total = (await session.execute(count)).scalar_one()
        items = [convert(row) for row in await session.scalars(query)]
    return Page(items=items, total=total, limit=limit, offset=offset)


def _event(row: EventRecord) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        payload=row.payload,
        source=row.source,
        channel=row.channel,
        occurred_at=row.occurred_at,
    )


def _token(row: ApiToken) -> ApiTokenInfo:
    return ApiTokenInfo.model_validate(row, from_attributes=True)


def _audit(row: AuditEntry) -> AuditRecord:
    return AuditRecord.model_validate(row, from_attributes=True)
