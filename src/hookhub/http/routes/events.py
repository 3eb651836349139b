"""``/events``: publish an event and read the stored ones (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Security
from pydantic import BaseModel, ConfigDict, Field

from hookhub.errors import NotFoundError
from hookhub.events import Channel, Event, EventType
from hookhub.http.deps import AdminRoute, RequestIdDep, ServicesDep, bearer_scheme
from hookhub.http.errors import ADMIN_ERROR_RESPONSES
from hookhub.paging import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Page

router = APIRouter(
    prefix="/events",
    tags=["events"],
    route_class=AdminRoute,
    dependencies=[Security(bearer_scheme)],
    responses=ADMIN_ERROR_RESPONSES,
)

#: The ``source`` of events published through this API.
API_SOURCE = "api"


class PublishEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: EventType
    payload: dict[str, Any] = Field(default_factory=dict)
    channel: Channel | None = None


@router.post("", status_code=201, response_model=Event, summary="Publish an event")
async def publish_event(
    body: PublishEvent, services: ServicesDep, request_id: RequestIdDep
) -> Event:
    """Stores the event, then hands it to the bus; answered once it is stored."""
    return await services.publisher.publish(
        type=body.type,
        payload=body.payload,
        channel=body.channel,
        source=API_SOURCE,
        request_id=request_id,
    )


@router.get("", response_model=Page[Event], summary="List stored events, newest first")
async def list_events(
    services: ServicesDep,
    type: Annotated[EventType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[Event]:
    return await services.events.list(type=type, limit=limit, offset=offset)


@router.get("/{event_id}", response_model=Event, summary="One stored event")
async def get_event(event_id: str, services: ServicesDep) -> Event:
    event = await services.events.get(event_id)
    if event is None:
        raise NotFoundError(f"no event with id {event_id!r}")
    return event
