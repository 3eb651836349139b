"""Tickets as the rest of hookhub sees them.

Contract: ``TicketService(db, publisher, audit, settings, clock)``; :meth:`TicketService.create`
stores a ticket with the next sequential number and status ``open``, publishes
``ticket.created``, and returns the stored ticket as JSON. :meth:`TicketService.update`
publishes ``ticket.status_changed`` when the status moves.

Events are published after the ticket is committed. A ticket is never undone because its event
could not be stored: the caller would retry and make a second ticket. Such a failure is logged
(``ticket.event_lost``) instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog
from pydantic import ValidationError

from hookhub.errors import InvalidInputError, NotFoundError, StoreError
from hookhub.paging import Page
from hookhub.tickets.models import (
    DEFAULT_PRIORITY,
    MAX_ACTOR_CHARS,
    TicketCreate,
    TicketOut,
    TicketUpdate,
)
from hookhub.tickets.repository import TicketRepository
from hookhub.tickets.routing import RoutingInput, route_team
from hookhub.tickets.states import TicketStatus

if TYPE_CHECKING:
    from hookhub.clock import Clock
    from hookhub.config import Settings
    from hookhub.services.events import EventPublisher
    from hookhub.store.engine import Database
    from hookhub.store.repositories import AuditRepository

log = structlog.get_logger(__name__)

CREATED = "ticket.created"
STATUS_CHANGED = "ticket.status_changed"
EVENT_SOURCE = "tickets"
NOT_FOUND = "Ticket not found"


class TicketService:
    def __init__(
        self,
        db: Database,
        publisher: EventPublisher,
        audit: AuditRepository,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.db = db
        self.publisher = publisher
        self.audit = audit
        self.settings = settings
        self.clock = clock
        self._tickets = TicketRepository(db)

    async def create(
        self, fields: dict[str, Any], *, actor: str, request_id: str | None = None
    ) -> dict[str, Any]:
        """Store a ticket from ``fields`` (see :class:`TicketCreate`); the ticket as JSON.

        :class:`InvalidInputError` names each bad field. Without a team, the routing rules of
        the settings choose one.
        """
        try:
            new = TicketCreate.model_validate(fields)
        except ValidationError as exc:
            raise InvalidInputError("Invalid ticket", errors=_errors(exc)) from None
        priority = new.priority if new.priority is not None else DEFAULT_PRIORITY
        team = new.team or route_team(
            self.settings.ticket_routing,
            self.settings.ticket_default_team,
            RoutingInput(
                title=new.title,
                description=new.description,
                priority=priority,
                source_channel=new.source_channel,
                reporter_role=new.reporter_role,
            ),
        )
        values = new.model_dump(exclude={"team", "priority"})
        values.update(team=team, priority=int(priority), created_by=actor[:MAX_ACTOR_CHARS])
        ticket = await self._tickets.create(values, now=self.clock())
        body = ticket.model_dump(mode="json")
        log.info("ticket.created", ticket_id=ticket.id, number=ticket.number, team=team)
        await self._publish(CREATED, body, request_id=request_id)
        return body

    async def get(self, ref: str) -> TicketOut:
        """The ticket with this number (``42``) or id; :class:`NotFoundError` if none."""
        found = await self._tickets.get(ref)
        if found is None:
            raise NotFoundError(NOT_FOUND)
        return found

    async def list(
        self,
        *,
        status: TicketStatus | None = None,
        team: str | None = None,
        priority: int | None = None,
        limit: int,
        offset: int,
    ) -> Page[TicketOut]:
        return await self._tickets.list(
            status=status, team=team, priority=priority, limit=limit, offset=offset
        )

    async def update(
        self, ref: str, body: TicketUpdate, *, actor: str, request_id: str | None = None
    ) -> TicketOut:
        """Change the fields given. A status move must be allowed (else 409) and publishes
        ``ticket.status_changed`` with the ticket, ``old_status``, ``new_status`` and
        ``changed_by``; setting the status it already has changes nothing and publishes
        nothing."""
        changes = body.model_dump(exclude_unset=True)
        for name, value in changes.items():
            if value is None:
                raise InvalidInputError(
                    "Invalid request", errors=[{"path": name, "message": "cannot be null"}]
                )
        if "priority" in changes:
            changes["priority"] = int(changes["priority"])
        updated = await self._tickets.update(ref, changes, now=self.clock())
        if updated is None:
            raise NotFoundError(NOT_FOUND)
        ticket, before = updated
        if ticket.status != before:
            log.info(
                "ticket.status_changed",
                ticket_id=ticket.id,
                old_status=before,
                new_status=ticket.status,
                actor=actor,
            )
            payload = {
                **ticket.model_dump(mode="json"),
                "old_status": str(before),
                "new_status": str(ticket.status),
                "changed_by": actor,
            }
            await self._publish(STATUS_CHANGED, payload, request_id=request_id)
        return ticket

    async def _publish(self, type: str, payload: dict[str, Any], *, request_id: str | None) -> None:
        try:
            await self.publisher.publish(
                type=type, payload=payload, source=EVENT_SOURCE, request_id=request_id
            )
        except StoreError:
            log.error("ticket.event_lost", event_type=type, ticket_id=payload.get("id"))


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"path": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors(include_input=False, include_url=False)
    ]
