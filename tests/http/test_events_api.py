"""``/events``: publish, read one, list (filter, pagination, newest first), on both databases."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from ulid import ULID

from hookhub.bus import EVENTS_TOPIC
from hookhub.bus.base import Subscription
from hookhub.events import Event

ErrorCheck = Callable[..., dict[str, Any]]
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def client(
    make_client: Callable[..., TestClient], database_url: str, clock: Callable[[], datetime]
) -> TestClient:
    # The stepping clock moves on every read; with the dispatcher off, only the API reads it.
    return make_client(database_url=database_url, clock=clock, dispatcher_enabled=False)


def publish(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/events", headers=headers, json=body)
    assert response.status_code == 201, response.text
    event: dict[str, Any] = response.json()
    return event


def test_publish_answers_the_stored_event(
    client: TestClient, admin_headers: dict[str, str], clock: Any
) -> None:
    response = client.post(
        "/events",
        headers=admin_headers,
        json={
            "type": "ticket.created",
            "payload": {"title": "Hi", "n": [1, 2]},
            "channel": "user:42",
        },
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    event = response.json()
    assert set(event) == {"id", "type", "payload", "source", "channel", "occurred_at"}
    assert len(event["id"]) == 26
    assert str(ULID.from_str(event["id"])) == event["id"]
    assert event["type"] == "ticket.created"
    assert event["payload"] == {"title": "Hi", "n": [1, 2]}
    assert event["source"] == "api"
    assert event["channel"] == "user:42"
    assert ISO_Z.match(event["occurred_at"])
    occurred = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
    assert occurred == clock.now  # the injected clock, not the wall clock
    # The id's time part is the event's time (ULIDs keep milliseconds).
    assert abs((ULID.from_str(event["id"]).datetime - occurred).total_seconds()) < 0.001


def test_publish_defaults(client: TestClient, admin_headers: dict[str, str]) -> None:
    event = publish(client, admin_headers, type="bare")
    assert event["payload"] == {}
    assert event["channel"] is None


def test_get_returns_the_published_event(client: TestClient, admin_headers: dict[str, str]) -> None:
    event = publish(client, admin_headers, type="order.paid", payload={"amount": 12.5, "ok": True})
    response = client.get(f"/events/{event['id']}", headers=admin_headers)
    assert response.status_code == 200
    assert response.json() == event


def test_get_unknown_is_404(
    client: TestClient, admin_headers: dict[str, str], expect_error: ErrorCheck
) -> None:
    response = client.get("/events/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=admin_headers)
    body = expect_error(response, 404)
    assert "01ARZ3NDEKTSV4RRFFQ69G5FAV" in body["message"]


def test_list_is_newest_first_filtered_and_paged(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    published = [
        publish(client, admin_headers, type="a.one" if n % 2 == 0 else "b.two", payload={"n": n})
        for n in range(7)
    ]
    newest_first = list(reversed(published))

    everything = client.get("/events", headers=admin_headers).json()
    assert everything == {"items": newest_first, "total": 7, "limit": 50, "offset": 0}

    only_a = client.get("/events", params={"type": "a.one"}, headers=admin_headers).json()
    assert only_a["total"] == 4
    assert only_a["items"] == [e for e in newest_first if e["type"] == "a.one"]

    pages = [
        client.get("/events", params={"limit": 3, "offset": offset}, headers=admin_headers).json()
        for offset in (0, 3, 6, 9)
    ]
    assert [page["total"] for page in pages] == [7, 7, 7, 7]
    assert [(page["limit"], page["offset"]) for page in pages] == [(3, 0), (3, 3), (3, 6), (3, 9)]
    assert [len(page["items"]) for page in pages] == [3, 3, 1, 0]
    assert [item for page in pages for item in page["items"]] == newest_first

    filtered_page = client.get(
        "/events", params={"type": "b.two", "limit": 2, "offset": 1}, headers=admin_headers
    ).json()
    assert filtered_page["total"] == 3
    assert filtered_page["items"] == [e for e in newest_first if e["type"] == "b.two"][1:3]

    none = client.get("/events", params={"type": "c.none"}, headers=admin_headers).json()
    assert none == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_a_bus_subscriber_receives_the_published_event(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    received: list[tuple[str, bytes]] = []

    async def handler(topic: str, message: bytes) -> None:
        received.append((topic, message))

    bus = client.app.state.services.bus  # type: ignore[attr-defined]
    subscription: Subscription = client.portal.call(bus.subscribe, EVENTS_TOPIC, handler)  # type: ignore[union-attr]
    event = publish(client, admin_headers, type="bus.check", payload={"x": 1}, channel="c1")
    client.portal.call(subscription.drain)  # type: ignore[union-attr]
    client.portal.call(subscription.close)  # type: ignore[union-attr]

    assert [topic for topic, _ in received] == [EVENTS_TOPIC]
    assert orjson.loads(received[0][1]) == event
    assert Event.from_json(received[0][1]).id == event["id"]


def test_a_subscriber_receives_the_event_through_redis(
    make_client: Callable[..., TestClient],
    database_url: str,
    redis_url: str,
    admin_headers: dict[str, str],
) -> None:
    client = make_client(database_url=database_url, redis_url=redis_url)
    bus = client.app.state.services.bus  # type: ignore[attr-defined]
    arrived: asyncio.Queue[bytes] | None = None

    async def subscribe() -> Subscription:
        nonlocal arrived
        arrived = asyncio.Queue()
        queue = arrived

        async def handler(_topic: str, message: bytes) -> None:
            queue.put_nowait(message)

        async with asyncio.timeout(5):
            await bus.connected.wait()
        subscription: Subscription = await bus.subscribe(EVENTS_TOPIC, handler)
        return subscription

    async def next_message() -> bytes:
        assert arrived is not None
        async with asyncio.timeout(5):
            return await arrived.get()

    subscription = client.portal.call(subscribe)  # type: ignore[union-attr]
    event = publish(client, admin_headers, type="redis.check", payload={"via": "redis"})
    message = client.portal.call(next_message)  # type: ignore[union-attr]
    client.portal.call(subscription.close)  # type: ignore[union-attr]
    assert orjson.loads(message) == event
