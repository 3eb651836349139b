"""End to end on a real uvicorn with the ``websockets`` client, on both send paths."""

from __future__ import annotations

import json
import logging
import secrets
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hookhub.app import create_app
from hookhub.config import Settings
from tests.conftest import ADMIN_TOKEN

from .conftest import INTERNAL_SECRET, mint
from .server import HubServer, until

SECRET = {"x-internal-secret": INTERNAL_SECRET}


@pytest.fixture(params=["frame_writer", "asgi"])
def make_server(
    request: pytest.FixtureRequest, hub_settings: Callable[..., Settings]
) -> Iterator[Callable[..., HubServer]]:
    started: list[HubServer] = []

    def build(**overrides: Any) -> HubServer:
        # Settings migrate the database with asyncio.run: off the test's running loop.
        with ThreadPoolExecutor(1) as worker:
            settings = worker.submit(hub_settings, **overrides).result()
        server = HubServer(create_app(settings), frame_writer=request.param == "frame_writer")
        server.start()
        started.append(server)
        return server

    yield build
    for server in started:
        server.stop()


async def _connect(server: HubServer, token: str, **options: Any) -> ClientConnection:
    client = await connect(f"{server.ws}?token={token}", **options)
    assert json.loads(await client.recv()) == {
        "type": "connection",
        "status": "connected",
        "message": "WebSocket connection established",
    }
    return client


async def test_broadcast_ping_and_subscribe(make_server: Callable[..., HubServer]) -> None:
    server = make_server()
    async with await _connect(server, mint("alice", ["broadcast", "shop:*"])) as client:
        await client.send('{"type":"ping"}')
        assert json.loads(await client.recv()) == {"type": "pong"}
        await client.send('{"type":"subscribe","channel":"shop:1","recover":true}')
        ack = json.loads(await client.recv())
        assert ack["type"] == "subscribed" and ack["offset"] == 0
        async with httpx.AsyncClient(base_url=server.http) as http:
            sent = await http.post(
                "/api/internal/broadcast",
                json={"type": "order_status", "orderId": 9},
                headers=SECRET,
            )
            assert sent.status_code == 200
            assert json.loads(await client.recv()) == {"type": "order_status", "orderId": 9}
            await http.post(
                "/api/internal/broadcast?channel=shop:1", json={"type": "x"}, headers=SECRET
            )
        assert json.loads(await client.recv()) == {
            "type": "x",
            "channel": "shop:1",
            "offset": 1,
        }


async def test_bad_token_closes_with_4401(make_server: Callable[..., HubServer]) -> None:
    server = make_server()
    async with connect(f"{server.ws}?token=wrong") as client:
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_oversized_frame_is_refused(make_server: Callable[..., HubServer]) -> None:
    server = make_server()
    async with await _connect(server, mint()) as client:
        await client.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def _read_until_closed(client: ClientConnection) -> None:
    while True:
        await client.recv()


def _tiny_receive_buffer_socket(port: int) -> socket.socket:
    # A small kernel receive buffer: the stalled client's backlog reaches the server quickly.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_a_client_that_never_reads_is_closed_with_4008_and_others_keep_receiving(
    make_server: Callable[..., HubServer],
) -> None:
    server = make_server(realtime_max_queue_bytes=64 * 1024)
    token = mint(channels=["broadcast"])
    fast = await _connect(server, token)
    stalled = await connect(
        f"{server.ws}?token={token}",
        sock=_tiny_receive_buffer_socket(server.port),
        max_queue=1,
    )
    # Random, so plain uvicorn's per-message deflate cannot shrink it to nothing.
    payload = secrets.token_urlsafe(150_000)
    count = 0
    async with httpx.AsyncClient(base_url=server.http) as http:
        while server.hub.slow_consumers == 0:
            count += 1
            answer = await http.post(
                "/api/internal/broadcast",
                json={"type": "big", "n": count, "p": payload},
                headers=SECRET,
            )
            assert answer.status_code == 200
            # The fast client reads everything, in order, while the other one stalls.
            message = json.loads(await fast.recv())
            assert message["n"] == count
            assert count < 500, "the stalled client was never cut off"
    await until(lambda: len(server.hub.connections) == 1, "the stalled connection to go")
    # Reading now, the stalled client drains what was buffered and then sees the close code.
    with pytest.raises(ConnectionClosed) as closed:
        await _read_until_closed(stalled)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
    await fast.send('{"type":"ping"}')
    assert json.loads(await fast.recv()) == {"type": "pong"}
    await fast.close()


async def test_admin_feed_gets_events(make_server: Callable[..., HubServer]) -> None:
    server = make_server()
    async with (
        await _connect(server, ADMIN_TOKEN) as client,
        httpx.AsyncClient(
            base_url=server.http, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as http,
    ):
        event = (await http.post("/events", json={"type": "ticket.created"})).json()
        message = json.loads(await client.recv())
    assert message["id"] == event["id"]
    assert message["channel"] == "ticket.created"


async def test_server_pings_and_closes_a_silent_client(
    make_server: Callable[..., HubServer],
) -> None:
    # Short intervals instead of 25 s and 75 s; the sequence is what the defaults do.
    server = make_server(realtime_ping_interval_s=0.1, realtime_idle_timeout_s=0.5)
    async with await _connect(server, mint()) as silent, await _connect(server, mint()) as alive:
        assert json.loads(await silent.recv()) == {"type": "ping"}
        while True:  # the live client answers every ping, so it is never idle
            assert json.loads(await alive.recv()) == {"type": "ping"}
            await alive.send('{"type":"pong"}')
            if silent.close_code is not None:
                break
        with pytest.raises(ConnectionClosed) as closed:
            await _read_until_closed(silent)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4408
        await alive.send('{"type":"ping"}')
        while json.loads(await alive.recv()) != {"type": "pong"}:
            pass


async def test_the_token_stays_out_of_the_servers_log(
    make_server: Callable[..., HubServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.error")
    server = make_server()
    token = mint("alice", ["broadcast"])
    async with await _connect(server, token):
        pass
    assert '"WebSocket /ws" [accepted]' in caplog.text
    assert token not in caplog.text
