"""SQLAlchemy models: the tables of the store. Changing one means writing a migration."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    TypeDecorator,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

# Stable constraint names, so migrations can refer to them on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_CHARS = 26  # a ULID as text


class _SQLiteDateTime(sqlite.DATETIME):
    """SQLite's ``DATETIME``, the same text written for less: every incoming webhook stores
    several datetimes, and SQLAlchemy's processor fills a format from a dict of fields (about
    3 µs a value). ``isoformat`` gives the same ``YYYY-MM-DD HH:MM:SS.ffffff``."""

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str | None]:
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            # The value is aware UTC (UTCDateTime): the offset after the 26th character goes.
            return value.isoformat(" ", "microseconds")[:SQLITE_DATETIME_CHARS]

        return process


#: ``YYYY-MM-DD HH:MM:SS.ffffff``: how SQLAlchemy stores a datetime in SQLite.
SQLITE_DATETIME_CHARS = 26
_SQLITE_DATETIME = _SQLiteDateTime()  # type: ignore[no-untyped-call]  # SQLAlchemy's, untyped


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite stores naive values, so add UTC back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLITE_DATETIME)
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; hookhub keeps UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ApiToken(Base):
    """An admin API token. Only its SHA-256 is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEntry(Base):
    """A security-relevant act: who did what to which row, and when."""

    __tablename__ = "audit_log"

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument, default=dict)


class EventRecord(Base):
    """A published event, stored before anything else sees it."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_type_id", "type", "id"),)

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    type: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(255), nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Webhook(Base):
    """An outgoing webhook subscription (seed 004's shape, plus rotation and limits)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2048))
    event_type: Mapped[str] = mapped_column(String(128), index=True)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[str] = mapped_column(String(255))
    previous_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )
    retry_schedule_s: Mapped[list[int] | None] = mapped_column(JsonDocument, nullable=True)
    rate_limit_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_concurrency: Mapped[int] = mapped_column(Integer, default=4)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Delivery(Base):
    """One event owed to one webhook. Its id is the ``webhook-id`` header on every attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(
        String(ID_CHARS), ForeignKey("webhooks.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(String(ID_CHARS), ForeignKey("events.id"))
    event_type: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Which claim holds the lease: only that claim may record the outcome.
    lease_token: Mapped[str | None] = mapped_column(String(ID_CHARS), nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DeliveryAttempt(Base):
    """One HTTP request made for a delivery, kept for the delivery log."""

    __tablename__ = "webhook_delivery_attempts"

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(
        String(ID_CHARS), ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    response_excerpt: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)


# Each part keeps its tables in its own module on this Base. Importing them here means anything
# that sees Base.metadata (migrations, their test) sees every table.
from hookhub.store import (  # noqa: E402, F401
    automation_tables,
    inbound_tables,
    signal_tables,
    ticket_tables,
)
