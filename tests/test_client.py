"""The SDK's broadcast_update against a real hookhub: delivered, refused, skipped, unreachable."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from websockets.asyncio.client import connect

from hookhub.app import create_app
from hookhub.client import broadcast_update, broadcast_update_sync
from hookhub.config import Settings
from tests.realtime.conftest import INTERNAL_SECRET, hub_settings, mint  # noqa: F401
from tests.realtime.node import free_port
from tests.realtime.server import HubServer


@pytest.fixture
def server(hub_settings: Callable[..., Settings]) -> Iterator[HubServer]:  # noqa: F811
    hub = HubServer(create_app(hub_settings()), frame_writer=True)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


async def test_an_update_reaches_web_app_clients(server: HubServer) -> None:
    async with connect(f"{server.ws}?token={mint(channels=['broadcast'])}") as client:
        await client.recv()  # the greeting
        sent = await broadcast_update(
            "product_added",
            {"shopId": 123, "productId": 456},
            base_url=server.http,
            secret=INTERNAL_SECRET,
        )
        assert sent is True
        message = json.loads(await client.recv())
    assert message == {"type": "product_added", "shopId": 123, "productId": 456}


async def test_the_sync_twin(server: HubServer) -> None:
    async with connect(f"{server.ws}?token={mint(channels=['broadcast'])}") as client:
        await client.recv()
        sent = await asyncio.to_thread(
            broadcast_update_sync, "order_status", {"orderId": 1}, base_url=server.http,
            secret=INTERNAL_SECRET,
        )  # fmt: skip
        assert sent is True
        assert json.loads(await client.recv()) == {"type": "order_status", "orderId": 1}


async def test_no_secret_skips_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hookhub.client"):
        assert await broadcast_update("x", base_url="http://127.0.0.1:1", secret=None) is False
        assert broadcast_update_sync("x", base_url="http://127.0.0.1:1", secret="") is False
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]
    assert "skipping broadcast" in caplog.text


async def test_failures_never_raise(server: HubServer, caplog: pytest.LogCaptureFixture) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    assert await broadcast_update("x", base_url=nowhere, secret=INTERNAL_SECRET) is False
    wrong = "w" * 40
    assert await broadcast_update("x", base_url=server.http, secret=wrong) is False
    assert (
        await broadcast_update("x", {"bad": object()}, base_url=server.http, secret=wrong) is False
    )
    assert (
        broadcast_update_sync("x", base_url=nowhere, secret=INTERNAL_SECRET, timeout_s=1) is False
    )
    assert wrong not in caplog.text
    assert INTERNAL_SECRET not in caplog.text
