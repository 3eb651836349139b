"""The ticket service on both databases: create, read, list, change, and the events."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hookhub.errors import InvalidInputError, NotFoundError, StoreError
from hookhub.services import Services
from hookhub.tickets.models import TicketUpdate
from hookhub.tickets.states import IllegalTicketTransition, TicketStatus
from tests.outbound.conftest import collect_events


async def new(services: Services, title: str = "Login not working", **fields: Any) -> Any:
    return await services.tickets.create({"title": title, **fields}, actor="automation:a1")


async def events_of(services: Services, type: str) -> list[dict[str, Any]]:
    page = await services.events.list(type=type, limit=100, offset=0)
    return [event.payload for event in reversed(page.items)]


async def test_create_stores_an_open_ticket_and_publishes_it(
    make_services: Any, database_url: str
) -> None:
    services: Services = await make_services(database_url=database_url)
    seen = await collect_events(services)
    ticket = await new(services, priority=3, team="support")
    assert (ticket["number"], ticket["status"], ticket["priority_label"]) == (1, "open", "Urgent")
    assert ticket["created_by"] == "automation:a1"
    assert ticket["created_at"] == ticket["updated_at"]
    assert await events_of(services, "ticket.created") == [ticket]
    [message] = [orjson.loads(m) for m in seen]
    assert (message["type"], message["payload"]) == ("ticket.created", ticket)


async def test_invalid_fields_are_named(make_services: Any) -> None:
    services: Services = await make_services()
    with pytest.raises(InvalidInputError) as refused:
        await services.tickets.create({"title": "", "priority": 9, "x": 1}, actor="a")
    assert {e["path"] for e in refused.value.errors or []} == {"title", "priority", "x"}
    assert await events_of(services, "ticket.created") == []


async def test_read_by_number_or_id(make_services: Any, database_url: str) -> None:
    services: Services = await make_services(database_url=database_url)
    first = await new(services)
    await new(services, "Second")
    assert (await services.tickets.get("1")).id == first["id"]
    assert (await services.tickets.get(first["id"])).number == 1
    for missing in ("3", "01J00000000000000000000000", "0" * 40, "2147483648", "9" * 18):
        with pytest.raises(NotFoundError, match="Ticket not found"):
            await services.tickets.get(missing)


async def test_list_filters_and_pages_newest_first(make_services: Any, database_url: str) -> None:
    services: Services = await make_services(database_url=database_url)
    await new(services, "a", team="billing", priority=0)
    await new(services, "b", team="tech", priority=2)
    await new(services, "c", team="tech", priority=2)
    await services.tickets.update("3", TicketUpdate(status=TicketStatus.CLOSED), actor="admin")

    everything = await services.tickets.list(limit=2, offset=0)
    assert ([t.number for t in everything.items], everything.total) == ([3, 2], 3)
    rest = await services.tickets.list(limit=2, offset=2)
    assert [t.number for t in rest.items] == [1]
    tech = await services.tickets.list(team="tech", limit=10, offset=0)
    assert [t.number for t in tech.items] == [3, 2]
    open_high = await services.tickets.list(
        status=TicketStatus.OPEN, priority=2, limit=10, offset=0
    )
    assert [t.number for t in open_high.items] == [2]


async def test_a_status_move_publishes_old_and_new(make_services: Any, database_url: str) -> None:
    services: Services = await make_services(database_url=database_url)
    ticket = await new(services)
    moved = await services.tickets.update(
        "1", TicketUpdate(status=TicketStatus.IN_PROGRESS), actor="admin", request_id="r1"
    )
    assert moved.status is TicketStatus.IN_PROGRESS
    assert moved.updated_at >= moved.created_at
    [changed] = await events_of(services, "ticket.status_changed")
    assert (changed["old_status"], changed["new_status"], changed["changed_by"]) == (
        "open",
        "in_progress",
        "admin",
    )
    assert (changed["id"], changed["number"], changed["status"]) == (
        ticket["id"],
        1,
        "in_progress",
    )


async def test_the_same_status_again_changes_nothing(make_services: Any) -> None:
    services: Services = await make_services()
    await new(services)
    same = await services.tickets.update("1", TicketUpdate(status=TicketStatus.OPEN), actor="a")
    assert same.status is TicketStatus.OPEN
    assert await events_of(services, "ticket.status_changed") == []


async def test_an_illegal_move_is_refused_and_changes_nothing(
    make_services: Any, database_url: str
) -> None:
    services: Services = await make_services(database_url=database_url)
    await new(services)
    await services.tickets.update("1", TicketUpdate(status=TicketStatus.CLOSED), actor="a")
    with pytest.raises(IllegalTicketTransition, match="a closed ticket cannot become open"):
        await services.tickets.update(
            "1", TicketUpdate(status=TicketStatus.OPEN, title="changed"), actor="a"
        )
    after = await services.tickets.get("1")
    assert (after.status, after.title) == (TicketStatus.CLOSED, "Login not working")
    assert len(await events_of(services, "ticket.status_changed")) == 1


async def test_other_fields_change_without_an_event(make_services: Any) -> None:
    services: Services = await make_services()
    await new(services)
    changed = await services.tickets.update(
        "1",
        TicketUpdate(team="tech", priority="urgent", title="New title", description="More"),
        actor="a",
    )
    assert (changed.team, changed.priority, changed.priority_label) == ("tech", 3, "Urgent")
    assert (changed.title, changed.description) == ("New title", "More")
    assert await events_of(services, "ticket.status_changed") == []


async def test_null_fields_and_unknown_tickets(make_services: Any, database_url: str) -> None:
    services: Services = await make_services(database_url=database_url)
    await new(services)
    with pytest.raises(InvalidInputError) as refused:
        await services.tickets.update("1", TicketUpdate(team=None), actor="a")
    assert refused.value.errors == [{"path": "team", "message": "cannot be null"}]
    for missing in ("9", "9" * 18):
        with pytest.raises(NotFoundError):
            await services.tickets.update(missing, TicketUpdate(title="x"), actor="a")


async def test_a_lost_event_does_not_undo_the_ticket(
    make_services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    services: Services = await make_services()

    async def unreachable(**_fields: Any) -> None:
        raise StoreError("the database is unreachable")

    monkeypatch.setattr(services.tickets.publisher, "publish", unreachable)
    ticket = await new(services)
    assert (await services.tickets.get(str(ticket["number"]))).id == ticket["id"]
