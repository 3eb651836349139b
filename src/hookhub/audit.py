"""The audit log's record: a security-relevant act, who did it, to what, and when."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from hookhub.events import UtcDatetime, new_id


class AuditAction(StrEnum):
    """Every act the audit log records; later capabilities add theirs here."""

    TOKEN_CREATED = "token.created"  # noqa: S105 (an action name, not a password)
    TOKEN_REVOKED = "token.revoked"  # noqa: S105
    SECRET_ROTATED = "secret.rotated"  # noqa: S105
    ACTION_RUN = "action.run"
    SIGNAL_CODE_CREATED = "signal_code.created"
    SIGNAL_CODE_REVOKED = "signal_code.revoked"


class AuditRecord(BaseModel):
    id: str
    occurred_at: UtcDatetime
    actor: str
    action: str
    target: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = {}


class AuditWriter(ABC):
    """Where actions write their audit entries: :meth:`add` makes the entry, :meth:`_store`
    (the subclass's) stores it (:class:`AuditLog`, or an automation run's writer)."""

    async def add(
        self,
        *,
        actor: str,
        action: str,
        now: datetime,
        target: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Make a new entry, its id allocated from ``now`` (an aware UTC datetime), and store it."""
        # Built without validation: every field is typed here, and this runs on every action run.
        record = AuditRecord.model_construct(
            id=new_id(now),
            occurred_at=now,
            actor=actor,
            action=action,
            target=target,
            request_id=request_id,
            details=details or {},
        )
        return await self._store(record)

    @abstractmethod
    async def _store(self, record: AuditRecord) -> AuditRecord: ...
