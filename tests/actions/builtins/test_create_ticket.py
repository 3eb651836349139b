"""``create_ticket``: seed 002's action, on both databases, with routing and the event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hookhub.actions import DEFAULT_REGISTRY, ActionError
from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.services import Services
from tests.actions.support import ACTOR, CALL, audit_rows, run
from tests.conftest import ADMIN_TOKEN

#: What seed 002's automation renders from the Discord bot's webhook.
SEED_PARAMS = {
    "title": "Cannot access dashboard",
    "description": "Discord Ticket from @john_doe (ID: 987654321098765432)\n\n"
    "I'm getting a 403 error when trying to access the admin dashboard.",
    "team": "65f8a9b2c3d4e5f6a7b8c9d0",
    "priority": 2,
    "reporter_id": "987654321098765432",
    "reporter_name": "john_doe",
    "source": "discord",
}


async def test_seed_002_ticket_is_stored_numbered_and_announced(
    make_services: Any, database_url: str
) -> None:
    services: Services = await make_services(database_url=database_url)
    ticket = await run(services, "create_ticket", SEED_PARAMS)
    assert ticket["number"] == 1
    assert ticket["status"] == "open"
    assert (ticket["priority"], ticket["priority_label"]) == (2, "High")
    assert ticket["team"] == SEED_PARAMS["team"]
    assert ticket["title"] == "Cannot access dashboard"
    assert ticket["description"] == SEED_PARAMS["description"]
    assert (ticket["reporter_id"], ticket["reporter_name"]) == ("987654321098765432", "john_doe")
    assert (ticket["source"], ticket["created_by"]) == ("discord", ACTOR)
    assert ticket["created_at"].endswith("Z")

    second = await run(services, "create_ticket", {"title": "Another"})
    assert second["number"] == 2
    assert (second["priority_label"], second["team"], second["source"]) == (
        "Normal",
        "triage",
        "automation",
    )

    events = await services.events.list(type="ticket.created", limit=10, offset=0)
    assert [event.payload for event in reversed(events.items)] == [ticket, second]
    assert {event.source for event in events.items} == {"tickets"}
    assert [row.details["ok"] for row in await audit_rows(services)] == [True, True]


async def test_without_a_team_the_routing_rules_choose(make_services: Any) -> None:
    services: Services = await make_services(
        ticket_default_team="support",
        ticket_routing=[
            {"team": "billing", "channels": ["BILLING_CHANNEL_ID"]},
            {"team": "tech", "keywords": ["error 500", "login"]},
        ],
    )
    billing = await run(
        services,
        "create_ticket",
        {"title": "Refund", "source_channel": "BILLING_CHANNEL_ID", "team": ""},
    )
    tech = await run(services, "create_ticket", {"title": "Login not working"})
    other = await run(services, "create_ticket", {"title": "Hello"})
    given = await run(services, "create_ticket", {"title": "Login", "team": "mine"})
    assert [t["team"] for t in (billing, tech, other, given)] == [
        "billing",
        "tech",
        "support",
        "mine",
    ]


@pytest.mark.parametrize(
    ("priority", "expected"),
    [(0, "Low"), ("3", "Urgent"), ("high", "High"), ("Normal", "Normal"), ("", "Normal")],
)
async def test_priority_as_a_number_a_string_or_a_label(
    make_services: Any, priority: Any, expected: str
) -> None:
    services = await make_services()
    ticket = await run(services, "create_ticket", {"title": "t", "priority": priority})
    assert ticket["priority_label"] == expected


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"title": "t", "priority": 4}, "priority"),
        ({"title": "t", "priority": -1}, "priority"),
        ({"title": "t", "priority": True}, "priority"),
        ({"title": "t", "priority": "soon"}, "priority"),
        ({"title": "t", "team": "x" * 101}, "team"),
        ({"title": "t", "reporter_name": ["a"]}, "reporter_name"),
        ({"title": "t", "teamId": "seed name"}, "teamId"),
    ],
)
async def test_bad_parameters_name_the_field_and_store_nothing(
    make_services: Any, params: dict[str, Any], path: str
) -> None:
    services = await make_services()
    with pytest.raises(ActionError) as refused:
        await run(services, "create_ticket", params)
    assert path in [item["path"] for item in refused.value.errors or []]
    assert (await services.tickets.list(limit=10, offset=0)).total == 0


def test_ticket_created_reaches_a_websocket_subscriber(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings())
    services: Services = app.state.services
    with (
        TestClient(app) as client,
        client.websocket_connect(f"/ws?token={ADMIN_TOKEN}") as ws,
    ):
        assert ws.receive_json()["status"] == "connected"
        ws.send_json({"type": "subscribe", "channel": "ticket.created"})
        assert ws.receive_json()["type"] == "subscribed"
        ticket = client.portal.call(
            DEFAULT_REGISTRY.run, "create_ticket", SEED_PARAMS, services.actions, CALL
        )
        message = ws.receive_json()
    assert (message["type"], message["channel"]) == ("ticket.created", "ticket.created")
    assert message["payload"] == ticket
