"""Tables of tickets: triage tickets with their sequential numbers.

Loaded by :mod:`hookhub.store.models`, so ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hookhub.store.models import ID_CHARS, Base, UTCDateTime

#: The one row of ``ticket_counter``.
COUNTER_ID = 1


class Ticket(Base):
    """A triage ticket (seed 002). ``number`` is the human one ("Ticket #42"), gap-free."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_number", "status", "number"),
        Index("ix_tickets_team_number", "team", "number"),
    )

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    team: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reporter_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reporter_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reporter_role: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source_channel: Mapped[str | None] = mapped_column(String(200), nullable=True)
    source: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TicketCounter(Base):
    """The last ticket number given, in one row.

    Incrementing it is the first write of a ticket's transaction: on PostgreSQL the row lock
    makes concurrent creates take numbers one after another (a rolled-back create gives its
    number back), and SQLite has one writer anyway.
    """

    __tablename__ = "ticket_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(Integer)
