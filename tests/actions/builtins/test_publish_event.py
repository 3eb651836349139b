"""``publish_event`` stores an event that reaches WebSocket clients and outgoing webhooks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from hookhub.actions import DEFAULT_REGISTRY, ActionError
from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.services import Services
from tests.actions.support import CALL, audit_rows, run
from tests.conftest import ADMIN_TOKEN
from tests.outbound.conftest import collect_events
from tests.outbound.receiver import Receiver

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: A deadline for the background dispatcher, which sends in milliseconds.
WAIT_S = 10.0


async def test_the_event_is_stored_and_handed_to_the_bus(make_services: Any) -> None:
    services: Services = await make_services()
    seen = await collect_events(services)
    result = await run(
        services,
        "publish_event",
        {"type": "shop.order_paid", "payload": {"order": 7}, "channel": "shop:3"},
    )
    stored = await services.events.get(result["event_id"])
    assert stored is not None
    assert (stored.type, stored.payload, stored.source, stored.channel) == (
        "shop.order_paid",
        {"order": 7},
        "action",
        "shop:3",
    )
    assert result == {
        "event_id": stored.id,
        "type": "shop.order_paid",
        "channel": "shop:3",
        "occurred_at": stored.model_dump(mode="json")["occurred_at"],
    }
    assert [orjson.loads(message)["id"] for message in seen] == [stored.id]
    [row] = await audit_rows(services)
    assert row.details["ok"] is True


def test_it_reaches_a_websocket_client_and_an_outgoing_webhook(
    make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    app = create_app(make_settings(outbound_allow_private=True))
    services: Services = app.state.services
    with TestClient(app) as client:
        created = client.post(
            "/webhooks",
            headers=ADMIN,
            json={"name": "shop", "url": receiver.url, "event_type": "shop.*"},
        )
        assert created.status_code == 201, created.text
        with client.websocket_connect(f"/ws?token={ADMIN_TOKEN}") as ws:
            assert ws.receive_json()["status"] == "connected"
            result = client.portal.call(
                DEFAULT_REGISTRY.run,
                "publish_event",
                {"type": "shop.order_paid", "payload": {"order": 7}},
                services.actions,
                CALL,
            )
            message = ws.receive_json()
        assert message["id"] == result["event_id"]
        assert (message["type"], message["payload"]) == ("shop.order_paid", {"order": 7})

        deadline = time.monotonic() + WAIT_S
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        [request] = receiver.requests
        assert json.loads(request.body) == {"order": 7}
        assert request.headers["x-webhook-event"] == "shop.order_paid"


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({}, "type"),
        ({"type": "bad type!"}, "type"),
        ({"type": "a.b", "payload": [1]}, "payload"),
        ({"type": "a.b", "channel": "no spaces"}, "channel"),
    ],
)
async def test_bad_parameters_name_the_field(
    make_services: Any, params: dict[str, Any], path: str
) -> None:
    services = await make_services()
    with pytest.raises(ActionError) as refused:
        await run(services, "publish_event", params)
    assert [item["path"] for item in refused.value.errors or []] == [path]
    page = await services.events.list(type=None, limit=10, offset=0)
    assert page.total == 0
