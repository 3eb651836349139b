"""``broadcast`` sends a message as it is to a channel's WebSocket clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hookhub.actions import DEFAULT_REGISTRY, ActionError
from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.services import Services
from tests.actions.support import CALL, audit_rows, run
from tests.conftest import ADMIN_TOKEN

MESSAGE = {"type": "product_added", "shopId": 123, "productId": 456}


def test_subscribers_of_the_channel_receive_the_message_as_sent(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings())
    services: Services = app.state.services
    with (
        TestClient(app) as client,
        client.websocket_connect(f"/ws?token={ADMIN_TOKEN}") as ws,
    ):
        assert ws.receive_json()["status"] == "connected"
        ws.send_json({"type": "subscribe", "channel": "shop:123"})
        assert ws.receive_json()["type"] == "subscribed"
        result = client.portal.call(
            DEFAULT_REGISTRY.run,
            "broadcast",
            {"channel": "shop:123", "message": MESSAGE},
            services.actions,
            CALL,
        )
        assert ws.receive_json() == MESSAGE
        default = client.portal.call(
            DEFAULT_REGISTRY.run, "broadcast", {"message": MESSAGE}, services.actions, CALL
        )
        assert ws.receive_json() == MESSAGE
    assert result["channel"] == "shop:123"
    assert result["type"] == "product_added"
    assert isinstance(result["message_id"], str)
    assert default["channel"] == "broadcast"


async def test_the_run_is_audited(make_services: Any) -> None:
    services = await make_services()
    await run(services, "broadcast", {"message": MESSAGE})
    [row] = await audit_rows(services)
    assert (row.target, row.details["ok"]) == ("broadcast", True)


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({}, "message"),
        ({"message": {"shopId": 1}}, "message"),
        ({"message": {"type": ""}}, "message"),
        ({"message": {"type": 5}}, "message"),
        ({"message": {"type": "has space"}}, "message"),
        ({"message": "text"}, "message"),
        ({"message": MESSAGE, "channel": "white space"}, "channel"),
    ],
)
async def test_bad_parameters_name_the_field(
    make_services: Any, params: dict[str, Any], path: str
) -> None:
    services = await make_services()
    with pytest.raises(ActionError) as refused:
        await run(services, "broadcast", params)
    assert [item["path"] for item in refused.value.errors or []] == [path]
