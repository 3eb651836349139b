"""``/tickets``: list, read and change triage tickets (admin).

A ticket is named in the path by its number (``/tickets/42``, as people quote it) or by its
id (``/tickets/01J…``): up to 18 digits is a number, anything else an id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Security

from hookhub.http.deps import (
    AdminRoute,
    Limit,
    Offset,
    PrincipalDep,
    RequestIdDep,
    ServicesDep,
    bearer_scheme,
)
from hookhub.http.errors import ADMIN_ERROR_RESPONSES, ErrorBody
from hookhub.paging import DEFAULT_PAGE_LIMIT, Page
from hookhub.tickets.models import MAX_TEAM_CHARS, Priority, TicketOut, TicketUpdate
from hookhub.tickets.states import TicketStatus

router = APIRouter(
    prefix="/tickets",
    tags=["tickets"],
    route_class=AdminRoute,
    dependencies=[Security(bearer_scheme)],
    responses={**ADMIN_ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "Not found"}},
)

TicketRef = Annotated[
    str, Path(min_length=1, max_length=64, description="The ticket's number or id")
]


@router.get("", response_model=Page[TicketOut], summary="List tickets, newest first")
async def list_tickets(
    services: ServicesDep,
    status: TicketStatus | None = None,
    team: Annotated[str | None, Query(min_length=1, max_length=MAX_TEAM_CHARS)] = None,
    priority: Annotated[int | None, Query(ge=min(Priority), le=max(Priority))] = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
    offset: Offset = 0,
) -> Page[TicketOut]:
    return await services.tickets.list(
        status=status, team=team, priority=priority, limit=limit, offset=offset
    )


@router.get("/{ref}", response_model=TicketOut, summary="One ticket, by number or id")
async def get_ticket(ref: TicketRef, services: ServicesDep) -> TicketOut:
    return await services.tickets.get(ref)


@router.patch(
    "/{ref}",
    response_model=TicketOut,
    summary="Change a ticket's status, team, priority, title or description",
    responses={409: {"model": ErrorBody, "description": "Status move not allowed"}},
)
async def update_ticket(
    ref: TicketRef,
    body: TicketUpdate,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> TicketOut:
    """Status moves: open → in_progress | resolved | closed; in_progress → open | resolved |
    closed; resolved → open | closed; closed is final (409). A move publishes
    ``ticket.status_changed``."""
    return await services.tickets.update(ref, body, actor=principal.name, request_id=request_id)


ROUTERS: list[APIRouter] = [router]
