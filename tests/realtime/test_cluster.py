"""Several hookhub nodes on Redis: two processes on the shared Redis (fan-out, user pushes and
recovery across nodes), and two in-process nodes on a Redis of their own that is restarted."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from hookhub.app import create_app
from hookhub.config import Settings
from tests.bus.support import RECONNECT_WAIT_S, RedisServer
from tests.conftest import ADMIN_TOKEN, REDIS_URL, migrated, service_unavailable

from .conftest import INTERNAL_SECRET, mint
from .node import Node
from .server import HubServer

pytestmark = pytest.mark.redis

SECRET = {"x-internal-secret": INTERNAL_SECRET}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WAIT_S = 5.0


def _require_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        service_unavailable(f"Redis at {url} is not answering: {exc}")
    finally:
        client.close()


def _start_nodes(directory: Path, redis_url: str, count: int = 2) -> list[Node]:
    database_url = migrated(f"sqlite:///{directory / 'hookhub.db'}")
    prefix = f"hookhub-test-{uuid.uuid4().hex}:"
    nodes = [
        Node(
            database_url=database_url,
            redis_url=redis_url,
            key_prefix=prefix,
            log=directory / f"node-{n}.log",
        )
        for n in range(count)
    ]
    # Started together: importing hookhub takes a while on a busy machine.
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_ready()
    return nodes


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    """Two nodes on the shared Redis, for the whole module (starting one takes a second)."""
    _require_redis(REDIS_URL)
    started = _start_nodes(tmp_path_factory.mktemp("cluster"), REDIS_URL)
    try:
        yield started
    finally:
        for node in started:
            node.stop()


async def _client(node: Node | HubServer, token: str) -> ClientConnection:
    client = await connect(f"{node.ws}?token={token}")
    assert json.loads(await client.recv())["type"] == "connection"
    return client


async def _next(client: ClientConnection, **expected: Any) -> dict[str, Any]:
    """The next message that is not a keepalive ping; checks the given fields."""
    async with asyncio.timeout(WAIT_S):
        while True:
            message: dict[str, Any] = json.loads(await client.recv())
            # Keepalive pings, and what _until_linked sent to every client, are not the test's.
            if message not in ({"type": "ping"}, {"type": "link"}):
                break
    for key, value in expected.items():
        assert message.get(key) == value, message
    return message


async def _until_linked(
    sender: Node | HubServer, receiver: ClientConnection, timeout_s: float
) -> None:
    """Broadcast from ``sender`` until ``receiver`` (on any node) gets one.

    A node subscribes to Redis in the background after start-up or a reconnect; the first
    broadcasts may go out before it listens (pushes are at-most-once).
    """
    async with httpx.AsyncClient(base_url=sender.http, headers=SECRET) as http:
        async with asyncio.timeout(timeout_s):
            while True:
                answer = await http.post("/api/internal/broadcast", json={"type": "link"})
                if answer.status_code == 200:
                    try:
                        async with asyncio.timeout(0.2):
                            if json.loads(await receiver.recv())["type"] == "link":
                                break
                    except TimeoutError:
                        pass
                await asyncio.sleep(0.05)
        # Drain link messages that were still on their way.
        while True:
            try:
                async with asyncio.timeout(0.2):
                    await receiver.recv()
            except TimeoutError:
                return


@pytest.fixture
async def linked(nodes: list[Node]) -> list[Node]:
    a, b = nodes
    watcher_b = await _client(b, mint(channels=["broadcast"]))
    watcher_a = await _client(a, mint(channels=["broadcast"]))
    try:
        await _until_linked(a, watcher_b, RECONNECT_WAIT_S)
        await _until_linked(b, watcher_a, RECONNECT_WAIT_S)
    finally:
        await watcher_a.close()
        await watcher_b.close()
    return nodes


async def test_a_broadcast_on_one_node_reaches_clients_of_both(linked: list[Node]) -> None:
    a, b = linked
    token = mint(channels=["broadcast"])
    on_a, on_b = await _client(a, token), await _client(b, token)
    body = {"type": "product_added", "shopId": 123, "productId": 456}
    async with httpx.AsyncClient(base_url=a.http, headers=SECRET) as http:
        answer = await http.post("/api/internal/broadcast", json=body)
    assert answer.json() == {"success": True, "message": "Broadcast sent", "type": "product_added"}
    assert await _next(on_b) == body
    assert await _next(on_a) == body
    await on_a.close()
    await on_b.close()


@pytest.mark.parametrize(("user_on", "publish_on"), [(0, 1), (1, 0)])
async def test_a_user_push_finds_its_user_on_either_node(
    linked: list[Node], user_on: int, publish_on: int
) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    dashboard = await _client(linked[user_on], mint(channels=["user:*"]))
    await dashboard.send(json.dumps({"event": "prijava", "user_uuid": user}))
    assert await _next(dashboard) == {"status": "registered", "uuid": user}
    async with httpx.AsyncClient(base_url=linked[publish_on].http, headers=ADMIN) as http:
        event = await http.post(
            "/events",
            json={"type": "order.filled", "payload": {"qty": 1}, "channel": f"user:{user}"},
        )
    assert event.status_code == 201
    message = await _next(dashboard, type="order.filled", channel=f"user:{user}")
    assert message["payload"] == {"qty": 1}
    assert message["id"] == event.json()["id"]
    await dashboard.close()


async def test_recovery_after_reconnecting_to_the_other_node(linked: list[Node]) -> None:
    a, b = linked
    channel = f"shop:{uuid.uuid4().hex[:8]}"
    token = mint(channels=["shop:*"])
    first = await _client(a, token)
    await first.send(json.dumps({"type": "subscribe", "channel": channel, "recover": True}))
    ack = await _next(first, type="subscribed", offset=0)
    async with httpx.AsyncClient(base_url=a.http, headers=SECRET) as http:
        url = f"/api/internal/broadcast?channel={channel}"
        await http.post(url, json={"type": "n", "n": 1})
        seen = await _next(first, type="n", offset=1)
        await first.close()
        for n in (2, 3):
            await http.post(url, json={"type": "n", "n": n})
    again = await _client(b, token)
    since = {"offset": seen["offset"], "epoch": ack["epoch"]}
    await again.send(json.dumps({"type": "subscribe", "channel": channel, "since": since}))
    await _next(again, type="subscribed", recovered=True, offset=3, epoch=ack["epoch"])
    assert (await _next(again))["n"] == 2
    assert (await _next(again))["n"] == 3
    await again.close()


async def _poll(http: httpx.AsyncClient, url: str, done: Callable[[Any], bool]) -> Any:
    """GET ``url`` until its JSON body satisfies ``done``; fail after WAIT_S."""
    async with asyncio.timeout(WAIT_S):
        while True:
            body = (await http.get(url)).json()
            if done(body):
                return body
            await asyncio.sleep(0.1)


async def test_presence_counts_the_users_of_every_node(linked: list[Node]) -> None:
    a, b = linked
    channel = f"room:{uuid.uuid4().hex[:8]}"
    on_a = await _client(a, mint("ann", ["room:*"]))
    on_b = await _client(b, mint("bob", ["room:*"]))
    for client in (on_a, on_b):
        await client.send(json.dumps({"type": "subscribe", "channel": channel}))
        await _next(client, type="subscribed")
    expected = {
        "channel": channel,
        "connections": 2,
        "users": [{"user": "ann", "connections": 1}, {"user": "bob", "connections": 1}],
    }
    async with httpx.AsyncClient(base_url=a.http, headers=ADMIN) as http:
        url = f"/realtime/channels/{channel}/presence"
        # Each node writes its changes to Redis within a second: wait for b's.
        presence = await _poll(http, url, lambda body: body == expected)
        assert presence == expected
        listing = (await http.get("/realtime/channels")).json()
        assert expected in listing["channels"]
        await on_b.close()
        await _poll(http, url, lambda body: body["connections"] == 1)
    await on_a.close()


async def test_nodes_survive_a_redis_restart(
    tmp_path: Path, hub_settings: Callable[..., Settings]
) -> None:
    # Two nodes in threads of this process (each its own app, loop and Redis connections),
    # on a redis-server of this test's own that it kills and starts again.
    binary = shutil.which("redis-server")
    if binary is None:
        service_unavailable("redis-server binary not found (needed to restart Redis)")
    server = RedisServer(binary, tmp_path)
    server.start()
    await server.wait_ready()
    settings = await asyncio.to_thread(
        hub_settings, redis_url=server.url, redis_key_prefix=f"t{uuid.uuid4().hex}:"
    )
    a, b = (HubServer(create_app(settings), frame_writer=True) for _ in range(2))
    try:
        for node in (a, b):
            await asyncio.to_thread(node.start)
        token = mint(channels=["broadcast", "alerts"])
        on_a, on_b = await _client(a, token), await _client(b, token)
        await on_a.send('{"type":"subscribe","channel":"alerts"}')
        await _next(on_a, type="subscribed")
        await _until_linked(a, on_b, RECONNECT_WAIT_S)

        server.kill()
        # Local clients are still served while Redis is away: pings, broadcasts and events.
        await on_a.send('{"type":"ping"}')
        assert await _next(on_a) == {"type": "pong"}
        async with httpx.AsyncClient(base_url=a.http, headers=SECRET) as http:
            away = await http.post("/api/internal/broadcast", json={"type": "local"})
        # The caller learns that the other nodes' clients could not be reached.
        assert away.status_code == 503
        assert away.json()["message"] == "bus unreachable: delivered to this node's clients only"
        assert await _next(on_a) == {"type": "local"}
        async with httpx.AsyncClient(base_url=a.http, headers=ADMIN) as http:
            stored = await http.post("/events", json={"type": "disk.full", "channel": "alerts"})
        assert stored.status_code == 201  # stored: the event itself is not lost
        assert (await _next(on_a))["id"] == stored.json()["id"]

        server.start()
        await server.wait_ready()
        # The same connections, never reopened, receive again once the nodes reconnect.
        await _until_linked(a, on_b, RECONNECT_WAIT_S)
        await _until_linked(b, on_a, RECONNECT_WAIT_S)
        await on_a.close()
        await on_b.close()
    finally:
        for node in (a, b):
            await asyncio.to_thread(node.stop)
        server.kill()
