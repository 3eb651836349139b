"""Tables of automations: automations and their executions with their steps.

Loaded by :mod:`hookhub.store.models`, so ``Base.metadata`` always holds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from hookhub.store.models import ID_CHARS, Base, JsonDocument, UTCDateTime


class Automation(Base):
    """A trigger (an endpoint or an event pattern), an optional filter and ordered actions."""

    __tablename__ = "automations"
    __table_args__ = (
        # What every trigger looks up: the active automations for one endpoint or pattern.
        Index("ix_automations_trigger", "trigger_kind", "trigger_value", "status"),
    )

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    trigger_kind: Mapped[str] = mapped_column(String(16))
    trigger_value: Mapped[str] = mapped_column(String(128))
    filter: Mapped[dict[str, Any] | None] = mapped_column(JsonDocument, nullable=True)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    managed_by: Mapped[str] = mapped_column(String(16))
    #: The name of a config-defined automation, unique, so nodes starting together cannot
    #: both create it.
    config_name: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AutomationExecution(Base):
    """One run of an automation: its trigger, the actions it runs, and each step's outcome.

    ``plan`` is the automation's actions as they were when the run started, so an edit does not
    change a run half-way. ``owner`` and ``lease_until`` say which process runs it; a running
    execution whose lease ran out belongs to a process that died and is recovered.
    """

    __tablename__ = "automation_executions"
    __table_args__ = (
        Index("ix_automation_executions_listing", "automation_id", "status", "id"),
        Index("ix_automation_executions_automation_id_id", "automation_id", "id"),
        Index("ix_automation_executions_lease", "status", "lease_until"),
        # One execution per automation per event, however many processes receive the event.
        Index("ix_automation_executions_trigger_key", "automation_id", "trigger_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(ID_CHARS), primary_key=True)
    automation_id: Mapped[str] = mapped_column(
        String(ID_CHARS), ForeignKey("automations.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    trigger_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    depth: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    failed_step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    duration_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
