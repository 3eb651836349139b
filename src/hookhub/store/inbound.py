"""Repositories for incoming webhooks: endpoints, and the request history with its dedupe keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.errors import ConflictError
from hookhub.events import new_id
from hookhub.inbound.models import EndpointRecord, ManagedBy, RequestOut, Verdict
from hookhub.paging import Page
from hookhub.store.automation_tables import AutomationExecution
from hookhub.store.batch import Batch
from hookhub.store.bulk import Bulk, InsertReturning
from hookhub.store.engine import Database, runs_to_end
from hookhub.store.inbound_tables import InboundDedupeKey, InboundEndpoint, InboundRequest

SLUG_TAKEN = "an endpoint with this slug already exists"
DUPLICATE_REASON = "duplicate delivery id"
#: Core tables for the hot path: no ORM unit of work per request.
REQUESTS = cast(Table, InboundRequest.__table__)
DEDUPE_KEYS = cast(Table, InboundDedupeKey.__table__)
EXECUTIONS = cast(Table, AutomationExecution.__table__)
#: Built once, so SQLAlchemy finds their compiled form without rebuilding its cache key.
INSERT_REQUESTS = Bulk(insert(REQUESTS))
INSERT_EXECUTIONS = Bulk(insert(EXECUTIONS))


@runs_to_end
class EndpointRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, *, fields: dict[str, Any], managed_by: ManagedBy, now: datetime
    ) -> EndpointRecord:
        """Store an endpoint; :class:`ConflictError` when its slug is taken."""
        row = InboundEndpoint(
            id=new_id(now), managed_by=managed_by, created_at=now, updated_at=now, **fields
        )
        try:
            async with self._db.session() as session:
                session.add(row)
        except IntegrityError:
            raise ConflictError(SLUG_TAKEN) from None
        return endpoint_record(row)

    async def get(self, endpoint_id: str) -> EndpointRecord | None:
        async with self._db.session() as session:
            row = await session.get(InboundEndpoint, endpoint_id)
            return endpoint_record(row) if row is not None else None

    async def by_slug(self, slug: str) -> EndpointRecord | None:
        async with self._db.session() as session:
            row = await session.scalar(select(InboundEndpoint).where(InboundEndpoint.slug == slug))
            return endpoint_record(row) if row is not None else None

    async def list(
        self,
        *,
        is_active: bool | None = None,
        managed_by: ManagedBy | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page[EndpointRecord]:
        where: list[ColumnElement[bool]] = []
        if is_active is not None:
            where.append(InboundEndpoint.is_active.is_(is_active))
        if managed_by is not None:
            where.append(InboundEndpoint.managed_by == managed_by)
        count = select(func.count()).select_from(InboundEndpoint).where(*where)
        query = select(InboundEndpoint).where(*where).order_by(InboundEndpoint.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        async with self._db.session() as session:
            total = (await session.execute(count)).scalar_one()
            items = [endpoint_record(row) for row in await session.scalars(query)]
        return Page(items=items, total=total, limit=limit or total, offset=offset)

    async def update(
        self, endpoint_id: str, changes: dict[str, Any], *, now: datetime
    ) -> EndpointRecord | None:
        """Change the given columns; :class:`ConflictError` when a new slug is taken."""
        try:
            async with self._db.session() as session:
                row = await session.get(InboundEndpoint, endpoint_id)
                if row is None:
                    return None
                for name, value in changes.items():
                    setattr(row, name, value)
                row.updated_at = now
                await session.flush()
                return endpoint_record(row)
        except IntegrityError:
            raise ConflictError(SLUG_TAKEN) from None

    async def delete(self, endpoint_id: str) -> bool:
        async with self._db.session() as session:
            # Spelled out rather than left to ON DELETE CASCADE: SQLite enforces it only with
            # its foreign-key pragma on.
            for table in (InboundDedupeKey, InboundRequest):
                await session.execute(delete(table).where(table.endpoint_id == endpoint_id))
            result = await session.execute(
                delete(InboundEndpoint).where(InboundEndpoint.id == endpoint_id)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class NewRequest:
    """One request to record; with ``dedupe_window_s``, its ``delivery_id`` is claimed first.

    ``executions`` are ``automation_executions`` rows the request starts: stored with it when
    it is not a duplicate, and not at all when it is.
    """

    row: dict[str, Any]
    dedupe_window_s: float | None = None
    executions: Sequence[dict[str, Any]] = ()


@dataclass(frozen=True)
class Recorded:
    verdict: Verdict
    #: For a duplicate: the request that first brought the delivery id, and its execution.
    original_request_id: str | None = None
    original_execution_id: str | None = None


@runs_to_end
class RequestRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, items: Sequence[NewRequest]) -> list[Recorded]:
        """Store requests in one transaction; see :func:`record_requests`."""
        async with self._db.batch() as batch:
            return await record_requests(batch, items)

    async def release(self, endpoint_id: str, delivery_id: str, request_id: str) -> None:
        """Forget a claim this request made, so the sender's retry is not taken for a repeat."""
        async with self._db.transaction() as connection:
            await connection.execute(
                delete(InboundDedupeKey).where(
                    InboundDedupeKey.endpoint_id == endpoint_id,
                    InboundDedupeKey.delivery_id == delivery_id,
                    InboundDedupeKey.request_id == request_id,
                )
            )

    async def prune(self, *, now: datetime) -> int:
        """Delete expired dedupe keys; how many."""
        async with self._db.transaction() as connection:
            result = await connection.execute(
                delete(InboundDedupeKey).where(InboundDedupeKey.expires_at <= now)
            )
            return int(result.rowcount)

    async def list(
        self, endpoint_id: str, *, verdict: Verdict | None, limit: int, offset: int
    ) -> Page[RequestOut]:
        where = [InboundRequest.endpoint_id == endpoint_id]
        if verdict is not None:
            where.append(InboundRequest.verdict == verdict)
        count = select(func.count()).select_from(InboundRequest).where(*where)
        query = (
            select(InboundRequest)
            .where(*where)
            .order_by(InboundRequest.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._db.session() as session:
            total = (await session.execute(count)).scalar_one()
            items = [_request(row) for row in await session.scalars(query)]
        return Page(items=items, total=total, limit=limit, offset=offset)

    async def get(
        self, endpoint_id: str, request_id: str
    ) -> tuple[RequestOut, dict[str, Any] | None] | None:
        """The request and the trigger it gave the automations (accepted ones only)."""
        async with self._db.session() as session:
            row = await session.get(InboundRequest, request_id)
            if row is None or row.endpoint_id != endpoint_id:
                return None
            return _request(row), row.trigger


async def record_requests(
    batch: Batch, items: Sequence[NewRequest], *, optimistic: bool = False
) -> list[Recorded]:
    """Store requests in the caller's transaction, claiming their delivery ids where asked.

    A claim succeeds when the id is new on the endpoint or its earlier claim has expired;
    otherwise the request is stored as a duplicate, without its executions or its
    ``execution_id``. The pair is the table's primary key, so two concurrent claims of one
    id cannot both succeed, whichever process makes them. New ids (the usual case) are
    claimed in one statement for the whole batch, the requests stored in another, and
    their executions in a third: a request is never stored accepted without them. The ids
    already held (repeats) are read in one more statement, with the execution each holder
    started; only a claim that has expired or was let go goes through :func:`_claim`.

    ``optimistic``, on a batch that queues its writes (SQLite), takes every id to be new:
    the claims are queued with the requests and executions as ``exact`` writes, so the whole
    transaction is one call into the driver. An id already held (or twice in the batch)
    makes the count fall short: the transaction is undone and
    :class:`~hookhub.store.batch.ShortCount` raised, for the caller to write again without.
    """
    if not items:
        return []
    connection = batch.connection
    rows = [dict(item.row) for item in items]
    claiming = [
        (row, item.dedupe_window_s)
        for row, item in zip(rows, items, strict=True)
        if item.dedupe_window_s is not None and row.get("delivery_id")
    ]
    if optimistic and batch.queues:
        await batch.write(_CLAIM_IF_NEW, _claim_keys(claiming), exact=True)
        await batch.write(INSERT_REQUESTS, rows)
        await batch.write(INSERT_EXECUTIONS, [row for item in items for row in item.executions])
        return [Recorded(Verdict(row["verdict"])) for row in rows]
    won = await _claim_new(connection, claiming)
    held = await _holders(
        connection,
        [
            (row["endpoint_id"], row["delivery_id"])
            for row, _window_s in claiming
            if won.get((row["endpoint_id"], row["delivery_id"])) != row["id"]
        ],
    )
    results = []
    executions: list[dict[str, Any]] = []
    by_id = {row["id"]: row for row in rows}
    for row, item in zip(rows, items, strict=True):
        recorded = Recorded(Verdict(row["verdict"]))
        delivery_id: str | None = row.get("delivery_id")
        key = (row["endpoint_id"], delivery_id or "")
        if item.dedupe_window_s is not None and delivery_id and won.get(key) != row["id"]:
            holding = held.get(key)
            if holding is not None and holding.expires_at > row["received_at"]:
                holder: str | None = holding.request_id
                execution_id = holding.execution_id
            else:  # expired, or let go since: settled by a claim of its own
                holder = await _claim(connection, row, item.dedupe_window_s)
                execution_id = None
                if holder is not None:
                    execution_id = await connection.scalar(
                        select(InboundRequest.execution_id).where(InboundRequest.id == holder)
                    )
            if holder is not None:
                earlier = by_id.get(holder)  # claimed in this batch: not stored yet
                if earlier is not None:
                    execution_id = earlier["execution_id"]
                recorded = Recorded(Verdict.DUPLICATE, holder, execution_id)
                row.update(
                    verdict=Verdict.DUPLICATE,
                    trigger=None,
                    reason=DUPLICATE_REASON,
                    execution_id=None,
                )
        if recorded.verdict is not Verdict.DUPLICATE:
            executions.extend(item.executions)
        results.append(recorded)
    await batch.write(INSERT_REQUESTS, rows)
    await batch.write(INSERT_EXECUTIONS, executions)
    return results


@dataclass(frozen=True)
class _Holding:
    request_id: str
    expires_at: datetime
    #: The execution the holding request started (None while it is in the same batch).
    execution_id: str | None


_HOLDERS = (
    select(
        DEDUPE_KEYS.c.endpoint_id,
        DEDUPE_KEYS.c.delivery_id,
        DEDUPE_KEYS.c.request_id,
        DEDUPE_KEYS.c.expires_at,
        REQUESTS.c.execution_id,
    )
    .select_from(DEDUPE_KEYS.outerjoin(REQUESTS, REQUESTS.c.id == DEDUPE_KEYS.c.request_id))
    .where(
        tuple_(DEDUPE_KEYS.c.endpoint_id, DEDUPE_KEYS.c.delivery_id).in_(
            bindparam("keys", expanding=True)
        )
    )
)


async def _holders(
    connection: AsyncConnection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], _Holding]:
    """Who holds each of these delivery ids now, in one statement."""
    if not keys:
        return {}
    found = await connection.execute(_HOLDERS, {"keys": sorted(set(keys))})
    return {
        (row.endpoint_id, row.delivery_id): _Holding(
            row.request_id, row.expires_at, row.execution_id
        )
        for row in found
    }


#: Rounds of insert / take over / read a claim may need when other requests race for the id.
CLAIM_ROUNDS = 3


async def _claim(connection: AsyncConnection, row: dict[str, Any], window_s: float) -> str | None:
    """Claim the row's delivery id: ``None`` when claimed, else the request holding it."""
    now: datetime = row["received_at"]
    key = {
        "endpoint_id": row["endpoint_id"],
        "delivery_id": row["delivery_id"],
        "request_id": row["id"],
        "expires_at": now + timedelta(seconds=window_s),
    }
    same_key = (
        InboundDedupeKey.endpoint_id == key["endpoint_id"],
        InboundDedupeKey.delivery_id == key["delivery_id"],
    )
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    holder: str | None = None
    for _round in range(CLAIM_ROUNDS):
        inserted = await connection.execute(
            dialect.insert(InboundDedupeKey).values(**key).on_conflict_do_nothing()
        )
        if inserted.rowcount == 1:
            return None
        # An expired claim is taken over in one conditional statement, so of two requests
        # racing for it only one matches the condition.
        taken = await connection.execute(
            update(InboundDedupeKey)
            .where(*same_key, InboundDedupeKey.expires_at <= now)
            .values(request_id=key["request_id"], expires_at=key["expires_at"])
        )
        if taken.rowcount == 1:
            return None
        holder = await connection.scalar(select(InboundDedupeKey.request_id).where(*same_key))
        if holder is not None:
            return holder
        # Released between the statements: the id is free again, so try once more.
    raise ConflictError("the delivery id is being claimed concurrently; try again")


async def _claim_new(
    connection: AsyncConnection, claiming: list[tuple[dict[str, Any], float]]
) -> dict[tuple[str, str], str]:
    """Insert the claims no one holds, in one statement: ``(endpoint, delivery id) → request``.

    A key already held (or repeated within the batch) is skipped here and settled one by one.
    """
    if not claiming:
        return {}
    # One multi-row statement, compiled once per batch size (see InsertReturning).
    inserted = await _CLAIM_NEW.run(connection, _claim_keys(claiming))
    return {(endpoint, delivery): request for endpoint, delivery, request in inserted}


def _claim_keys(claiming: list[tuple[dict[str, Any], float]]) -> list[dict[str, Any]]:
    return [
        {
            "endpoint_id": row["endpoint_id"],
            "delivery_id": row["delivery_id"],
            "request_id": row["id"],
            "expires_at": row["received_at"] + timedelta(seconds=window_s),
        }
        for row, window_s in claiming
    ]


#: The claims of a batch whose ids are all taken to be new (SQLite; see ``optimistic``).
_CLAIM_IF_NEW = Bulk(sqlite.insert(DEDUPE_KEYS).on_conflict_do_nothing())
_CLAIM_NEW = InsertReturning(
    {
        dialect.dialect.name: dialect.insert(DEDUPE_KEYS)
        .on_conflict_do_nothing()
        .returning(DEDUPE_KEYS.c.endpoint_id, DEDUPE_KEYS.c.delivery_id, DEDUPE_KEYS.c.request_id)
        for dialect in (postgresql, sqlite)
    }
)


def endpoint_record(row: InboundEndpoint) -> EndpointRecord:
    return EndpointRecord.model_validate(row, from_attributes=True)


def _request(row: InboundRequest) -> RequestOut:
    return RequestOut.model_validate(row, from_attributes=True)
