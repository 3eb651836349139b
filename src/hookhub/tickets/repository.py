"""Reads and writes of tickets; each method opens and closes its own session.

Numbers come from the one-row ``ticket_counter``, incremented in the ticket's own transaction:
gap-free, and concurrent creates on PostgreSQL wait for each other's row lock rather than
racing for the same number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hookhub.events import new_id
from hookhub.paging import Page
from hookhub.store.engine import Database, runs_to_end
from hookhub.store.ticket_tables import COUNTER_ID, Ticket, TicketCounter
from hookhub.tickets.models import Priority, TicketOut
from hookhub.tickets.states import TicketStatus, transition

#: A reference of at most this many digits is a ticket number; ids are 26-character ULIDs.
MAX_NUMBER_DIGITS = 18
#: The highest number the ``INTEGER`` column holds; a larger one names no ticket (and sent
#: to PostgreSQL as a parameter it would fail the query rather than match nothing).
MAX_NUMBER = 2**31 - 1


def reference(ref: str) -> ColumnElement[bool] | None:
    """The condition for ``ref``: a number (``42``) or an id (``01J…``); ``None`` when ``ref``
    is a number no ticket can have."""
    if ref.isascii() and ref.isdigit() and len(ref) <= MAX_NUMBER_DIGITS:
        number = int(ref)
        return Ticket.number == number if number <= MAX_NUMBER else None
    return Ticket.id == ref


@runs_to_end
class TicketRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, fields: dict[str, Any], *, now: datetime) -> TicketOut:
        """Store a new ``open`` ticket with the next number."""
        async with self._db.session() as session:
            number = await _next_number(session)
            row = Ticket(
                id=new_id(now),
                number=number,
                status=TicketStatus.OPEN,
                created_at=now,
                updated_at=now,
                **fields,
            )
            session.add(row)
        return ticket_out(row)

    async def get(self, ref: str) -> TicketOut | None:
        condition = reference(ref)
        if condition is None:
            return None
        async with self._db.session() as session:
            row = await session.scalar(select(Ticket).where(condition))
            return ticket_out(row) if row is not None else None

    async def list(
        self,
        *,
        status: TicketStatus | None,
        team: str | None,
        priority: int | None,
        limit: int,
        offset: int,
    ) -> Page[TicketOut]:
        """Newest (highest number) first."""
        where: list[ColumnElement[bool]] = []
        if status is not None:
            where.append(Ticket.status == status)
        if team is not None:
            where.append(Ticket.team == team)
        if priority is not None:
            where.append(Ticket.priority == priority)
        count = select(func.count()).select_from(Ticket).where(*where)
        query = select(Ticket).where(*where).order_by(Ticket.number.desc())
        async with self._db.session() as session:
            total = (await session.execute(count)).scalar_one()
            rows = await session.scalars(query.limit(limit).offset(offset))
            items = [ticket_out(row) for row in rows]
        return Page(items=items, total=total, limit=limit, offset=offset)

    async def update(
        self, ref: str, changes: dict[str, Any], *, now: datetime
    ) -> tuple[TicketOut, TicketStatus] | None:
        """Apply ``changes``; the ticket and its status before. ``None``: no such ticket.

        The row is locked (``FOR UPDATE`` on PostgreSQL) between reading the status and writing
        the new one, so two concurrent moves cannot both start from the same state. An illegal
        move raises :class:`~hookhub.tickets.states.IllegalTicketTransition` and changes nothing.
        """
        condition = reference(ref)
        if condition is None:
            return None
        async with self._db.session() as session:
            row = await session.scalar(select(Ticket).where(condition).with_for_update())
            if row is None:
                return None
            before = TicketStatus(row.status)
            target = changes.get("status")
            if target is not None and target != before:
                transition(before, TicketStatus(target))
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = now
            return ticket_out(row), before


async def _next_number(session: AsyncSession) -> int:
    taken = await session.execute(
        update(TicketCounter)
        .where(TicketCounter.id == COUNTER_ID)
        .values(last_number=TicketCounter.last_number + 1)
        .returning(TicketCounter.last_number)
    )
    number = taken.scalar_one_or_none()
    if number is not None:
        return int(number)
    # No counter row (tables made without the migration): start after the highest number.
    # Two creates racing here both insert the row; the loser's transaction fails on the key.
    highest = await session.scalar(select(func.coalesce(func.max(Ticket.number), 0)))
    number = int(highest or 0) + 1
    await session.execute(insert(TicketCounter).values(id=COUNTER_ID, last_number=number))
    return number


def ticket_out(row: Ticket) -> TicketOut:
    priority = Priority(row.priority)
    return TicketOut(
        id=row.id,
        number=row.number,
        title=row.title,
        description=row.description,
        team=row.team,
        priority=int(priority),
        priority_label=priority.label,
        status=TicketStatus(row.status),
        reporter_id=row.reporter_id,
        reporter_name=row.reporter_name,
        reporter_role=row.reporter_role,
        source_channel=row.source_channel,
        source=row.source,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
