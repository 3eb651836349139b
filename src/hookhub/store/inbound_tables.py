"""Tables of incoming webhooks: endpoints, their request history, dedupe keys.

Loaded by :mod:`hookhub.store.models`, so ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hookhub.store.models import ID_CHARS, Base, JsonDocument, UTCDateTime


class InboundEndpoint(Base):
    """An incoming endpoint, ``/hooks/{slug}``, with how its requests are checked."""

    __tablename__ = "inbound_endpoints"

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    methods: Mapped[list[str]] = mapped_column(JsonDocument)
    content_types: Mapped[list[str]] = mapped_column(JsonDocument)
    scheme: Mapped[str | None] = mapped_column(String(64), nullable=True)
    secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    bearer_token: Mapped[str | None] = mapped_column(String(255), nullable=True)
    replay_protection: Mapped[bool] = mapped_column(Boolean)
    tolerance_s: Mapped[float] = mapped_column(Float)
    json_schema: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)
    rate_limit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dedupe_enabled: Mapped[bool] = mapped_column(Boolean)
    dedupe_window_s: Mapped[float] = mapped_column(Float)
    dedupe_id_path: Mapped[str | None] = mapped_column(String(200), nullable=True)
    max_body_bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_active: Mapped[bool] = mapped_column(Boolean)
    #: ``api`` or ``config``: config-defined endpoints change only in the config file.
    managed_by: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboundRequest(Base):
    """One request to an endpoint, accepted or not: the request history."""

    __tablename__ = "inbound_requests"
    __table_args__ = (
        Index("ix_inbound_requests_endpoint_id_id", "endpoint_id", "id"),
        Index("ix_inbound_requests_endpoint_id_verdict_id", "endpoint_id", "verdict", "id"),
    )

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(
        String(ID_CHARS), ForeignKey("inbound_endpoints.id", ondelete="CASCADE")
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    method: Mapped[str] = mapped_column(String(16))
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status_code: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    headers: Mapped[dict[str, str]] = mapped_column(JsonDocument)
    query: Mapped[dict[str, str]] = mapped_column(JsonDocument)
    #: The body as text, capped at ``HOOKHUB_INBOUND_HISTORY_BODY_BYTES``.
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    body_bytes: Mapped[int] = mapped_column(Integer)
    body_truncated: Mapped[bool] = mapped_column(Boolean)
    delivery_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    execution_id: Mapped[str | None] = mapped_column(String(ID_CHARS), nullable=True)
    #: What the automations were given, whole (accepted requests only): replay runs it again.
    trigger: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)


class InboundDedupeKey(Base):
    """A delivery id seen on an endpoint, until ``expires_at``.

    The primary key is the pair, so of two concurrent requests with one id only one can insert
    it, on every process and both backends.
    """

    __tablename__ = "inbound_dedupe_keys"

    endpoint_id: Mapped[str] = mapped_column(
        String(ID_CHARS),
        ForeignKey("inbound_endpoints.id", ondelete="CASCADE"),
        primary_key=True,
    )
    delivery_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: The request that first brought it; a duplicate's answer names that one's execution.
    request_id: Mapped[str] = mapped_column(String(ID_CHARS))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
