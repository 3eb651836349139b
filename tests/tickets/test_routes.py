"""``/tickets`` over HTTP: reading, changing, the admin token, and the bad input refused."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hookhub.services import Services

ErrorCheck = Callable[..., dict[str, Any]]
Headers = dict[str, str]


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def add(client: TestClient, title: str, **fields: Any) -> dict[str, Any]:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    create = functools.partial(services.tickets.create, {"title": title, **fields}, actor="bot")
    ticket: dict[str, Any] = client.portal.call(create)  # type: ignore[union-attr]
    return ticket


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_list_read_and_move(client: TestClient, admin_headers: Headers) -> None:
    first = add(client, "Login not working", team="tech", priority=2)
    add(client, "Refund", team="billing")

    listed = ok(client.get("/tickets", headers=admin_headers))
    assert [t["number"] for t in listed["items"]] == [2, 1]
    assert (listed["total"], listed["limit"], listed["offset"]) == (2, 50, 0)
    tech = ok(client.get("/tickets?team=tech&status=open&priority=2", headers=admin_headers))
    assert [t["id"] for t in tech["items"]] == [first["id"]]

    assert ok(client.get("/tickets/1", headers=admin_headers)) == first
    assert ok(client.get(f"/tickets/{first['id']}", headers=admin_headers)) == first

    moved = ok(client.patch("/tickets/1", headers=admin_headers, json={"status": "in_progress"}))
    assert moved["status"] == "in_progress"
    assert moved["updated_at"] >= first["updated_at"]
    events = ok(client.get("/events?type=ticket.status_changed", headers=admin_headers))
    [event] = events["items"]
    assert (event["payload"]["old_status"], event["payload"]["new_status"]) == (
        "open",
        "in_progress",
    )
    assert event["payload"]["changed_by"] == "admin"
    assert event["source"] == "tickets"


def test_other_fields_change(client: TestClient, admin_headers: Headers) -> None:
    add(client, "Old")
    changed = ok(
        client.patch(
            "/tickets/1",
            headers=admin_headers,
            json={"team": "ops", "priority": 0, "title": "New", "description": "d"},
        )
    )
    assert (changed["team"], changed["priority_label"], changed["title"]) == ("ops", "Low", "New")


def test_an_illegal_move_is_409(
    client: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    add(client, "t")
    ok(client.patch("/tickets/1", headers=admin_headers, json={"status": "closed"}))
    expect_error(
        client.patch("/tickets/1", headers=admin_headers, json={"status": "in_progress"}),
        409,
        "a closed ticket cannot become in_progress",
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/tickets", None),
        ("GET", "/tickets/1", None),
        ("PATCH", "/tickets/1", {"status": "closed"}),
        ("PATCH", "/tickets/1", {"not": "even valid"}),
    ],
)
def test_without_the_admin_token_is_401_and_changes_nothing(
    client: TestClient,
    admin_headers: Headers,
    expect_error: ErrorCheck,
    method: str,
    path: str,
    body: Any,
) -> None:
    add(client, "t")
    for headers in ({}, {"Authorization": "Bearer wrong-token"}):
        response = client.request(method, path, headers=headers, json=body)
        expect_error(response, 401)
    assert ok(client.get("/tickets/1", headers=admin_headers))["status"] == "open"


def test_unknown_tickets_are_404(
    client: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    for ref in ("7", "01J00000000000000000000000"):
        expect_error(client.get(f"/tickets/{ref}", headers=admin_headers), 404, "Ticket not found")
        expect_error(
            client.patch(f"/tickets/{ref}", headers=admin_headers, json={"title": "x"}), 404
        )


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"status": "done"}, "body.status"),
        ({"priority": 7}, "body.priority"),
        ({"title": ""}, "body.title"),
        ({"team": "x" * 101}, "body.team"),
        ({"number": 5}, "body.number"),
        ({"team": None}, "team"),
        ([], "body"),
    ],
)
def test_a_bad_change_is_422_naming_the_field(
    client: TestClient,
    admin_headers: Headers,
    expect_error: ErrorCheck,
    body: Any,
    path: str,
) -> None:
    add(client, "t")
    refused = expect_error(client.patch("/tickets/1", headers=admin_headers, json=body), 422)
    assert path in [item["path"] for item in refused["errors"]]


def test_malformed_json_and_wrong_content_type(
    client: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    add(client, "t")
    headers = {**admin_headers, "Content-Type": "application/json"}
    expect_error(
        client.patch("/tickets/1", headers=headers, content=b'{"status": '),
        400,
        "Malformed JSON body",
    )
    text = {**admin_headers, "Content-Type": "text/plain"}
    expect_error(client.patch("/tickets/1", headers=text, content=b"status=closed"), 422)


@pytest.mark.parametrize(
    "query",
    ["status=done", "priority=4", "priority=x", "limit=0", "limit=501", "offset=-1", "team="],
)
def test_bad_list_queries_are_422(
    client: TestClient, admin_headers: Headers, expect_error: ErrorCheck, query: str
) -> None:
    expect_error(client.get(f"/tickets?{query}", headers=admin_headers), 422)
