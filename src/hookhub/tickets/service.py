"""Tickets as the rest of hookhub sees them.

Contract: ``TicketService(db, publisher, audit, settings, clock)``; :meth:`TicketService.create`
stores a ticket with the next sequential number and status ``open``, publishes
``ticket.created``, and returns the stored ticket as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hookhub.clock import Clock
    from hookhub.config import Settings
    from hookhub.services.events import EventPublisher
    from hookhub.store.engine import Database
    from hookhub.store.repositories import AuditRepository


@dataclass
class TicketService:
    db: Database
    publisher: EventPublisher
    audit: AuditRepository
    settings: Settings
    clock: Clock

    async def create(self, fields: dict[str, Any], *, actor: str) -> dict[str, Any]:
        raise NotImplementedError("tickets are not built yet")
