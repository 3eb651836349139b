"""The hub in process, with stand-in sockets: fan-out, slow consumers, floods, keepalive, recovery.

No server and no sleeping: sockets are fakes that a test can stall, and the hub's monotonic clock
moves only when the test moves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hookhub.bus import MemoryBus
from hookhub.realtime.auth import ADMIN_GRANT, Grant
from hookhub.realtime.history import MemoryHistory
from hookhub.realtime.hub import Hub, HubConfig

from .support import WAIT_S, FakeClock, FakeSocket, FakeWriter, until

GREETING = {
    "type": "connection",
    "status": "connected",
    "message": "WebSocket connection established",
}


class Harness:
    def __init__(self, hub: Hub, clock: FakeClock) -> None:
        self.hub = hub
        self.clock = clock
        self.tasks: list[asyncio.Task[None]] = []

    async def connect(self, grant: Grant, writer: FakeWriter | None = None) -> FakeSocket:
        socket = FakeSocket(writer)
        before = len(self.hub.connections)
        self.tasks.append(asyncio.create_task(self.hub.serve(socket, grant)))  # type: ignore[arg-type]
        await until(lambda: len(self.hub.connections) > before)
        return socket

    async def settle(self) -> None:
        # Let every ready task run (readers, senders): a few loop turns.
        for _ in range(20):
            await asyncio.sleep(0)

    async def ended(self, socket: FakeSocket) -> None:
        await until(lambda: all(c.websocket is not socket for c in self.hub.connections.values()))


@pytest.fixture
async def make_hub() -> AsyncIterator[MakeHub]:
    made: list[Harness] = []
    bus = MemoryBus()
    await bus.start()

    async def make(**config: Any) -> Harness:
        clock = FakeClock()
        hub = Hub(
            bus=bus,
            history=MemoryHistory(size=10, ttl_s=600, monotonic=clock),
            monotonic=clock,
            config=HubConfig(**config),
        )
        await hub.start()
        harness = Harness(hub, clock)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.hub.stop()
        for task in harness.tasks:
            await asyncio.wait_for(task, WAIT_S)
    await bus.close()


MakeHub = Callable[..., Awaitable[Harness]]
SHOP = Grant(user=None, patterns=("shop:*", "broadcast"))


async def test_one_message_reaches_every_subscriber_encoded_once(make_hub: MakeHub) -> None:
    h = await make_hub()
    sockets = [await h.connect(SHOP) for _ in range(3)]
    writer = FakeWriter()
    await h.connect(SHOP, writer)
    await h.hub.deliver("broadcast", {"type": "t", "n": 1}, message_id="m1")
    for socket in sockets:
        assert await socket.wait_for(2) == [
            GREETING,
            {"type": "t", "n": 1},
        ]
    assert writer.messages()[1] == {"type": "t", "n": 1}
    assert h.hub.delivered == 4


async def test_a_client_that_never_reads_is_closed_and_others_keep_receiving(
    make_hub: MakeHub,
) -> None:
    h = await make_hub(max_queue_bytes=10_000)
    fast = await h.connect(SHOP)
    stalled = await h.connect(SHOP)
    await stalled.wait_for(1)
    stalled.reading.clear()  # from now on it never takes another message
    payload = "x" * 100
    stalled_connection = next(c for c in h.hub.connections.values() if c.websocket is stalled)
    most_held = 0
    for n in range(500):
        await h.hub.deliver("broadcast", {"type": "t", "n": n, "p": payload}, message_id=f"{n}")
        most_held = max(most_held, stalled_connection.queued_bytes)
        await h.settle()  # publishers arrive over time; the fast reader keeps up
    got = await fast.wait_for(501)
    assert [m["n"] for m in got[1:]] == list(range(500))
    await h.ended(stalled)
    assert stalled.closed == (4008, "slow consumer")
    assert h.hub.slow_consumers == 1
    # Memory stayed bounded: at most the bound plus one message was ever held for it.
    assert 10_000 < most_held <= 10_000 + 200
    assert stalled_connection.queued_bytes == 0
    assert len(h.hub.connections) == 1


async def test_frame_writer_path_closes_a_lagging_connection(make_hub: MakeHub) -> None:
    h = await make_hub(max_queue_bytes=1000)
    ok, lagging = FakeWriter(), FakeWriter()
    await h.connect(SHOP, ok)
    await h.connect(SHOP, lagging)
    lagging.buffered = 1001
    await h.hub.deliver("broadcast", {"type": "t"}, message_id="m")
    assert lagging.closed == (4008, "slow consumer")
    assert len(lagging.frames) == 1  # only the greeting
    assert ok.messages()[-1] == {"type": "t"}
    assert ok.frames[-1] is not None
    await h.hub.deliver("broadcast", {"type": "u"}, message_id="m2")
    assert len(lagging.frames) == 1


async def test_a_flood_of_messages_is_closed_with_4029(make_hub: MakeHub) -> None:
    h = await make_hub(rate_per_s=10, rate_burst=20)
    socket = await h.connect(SHOP)
    for _ in range(50):
        socket.client_sends({"type": "ping"})
    await h.ended(socket)
    assert socket.closed == (4029, "too many messages")
    assert socket.messages()[1:] == [{"type": "pong"}] * 20


async def test_subscriptions_are_capped(make_hub: MakeHub) -> None:
    h = await make_hub(max_subscriptions=3)
    socket = await h.connect(SHOP)  # already in "broadcast"
    for n in range(4):
        socket.client_sends({"type": "subscribe", "channel": f"shop:{n}"})
    got = await socket.wait_for(5)
    assert [m["type"] for m in got[1:]] == ["subscribed", "subscribed", "error", "error"]
    assert got[-1]["code"] == "too_many_subscriptions"


async def test_server_pings_and_closes_silent_connections(make_hub: MakeHub) -> None:
    h = await make_hub(ping_interval_s=25, idle_timeout_s=60)
    socket = await h.connect(SHOP)
    h.clock.now += 24
    h.hub.tick()
    h.clock.now += 1
    h.hub.tick()
    assert (await socket.wait_for(2))[1] == {"type": "ping"}
    socket.client_sends({"type": "pong"})
    await h.settle()
    h.clock.now += 60  # 60 s after the pong: not yet past the timeout
    h.hub.tick()
    assert socket.closed is None
    h.clock.now += 1
    h.hub.tick()
    await h.ended(socket)
    assert socket.closed == (4408, "idle timeout")


async def test_admin_connections_receive_every_channel_once(make_hub: MakeHub) -> None:
    h = await make_hub()
    admin = await h.connect(ADMIN_GRANT)
    admin.client_sends({"type": "subscribe", "channel": "shop:1"})
    await admin.wait_for(2)
    await h.hub.deliver("shop:1", {"type": "a"}, message_id="1")
    await h.hub.deliver("elsewhere", {"type": "b"}, message_id="2")
    got = await admin.wait_for(4)
    assert [m["type"] for m in got[2:]] == ["a", "b"]


async def test_recovery_sends_missed_messages_then_live_ones_in_order(make_hub: MakeHub) -> None:
    h = await make_hub()
    first = await h.connect(SHOP)
    first.client_sends({"type": "subscribe", "channel": "shop:1", "recover": True})
    ack = (await first.wait_for(2))[1]
    assert ack["offset"] == 0
    await h.hub.deliver("shop:1", {"type": "a"}, message_id="1")
    assert (await first.wait_for(3))[2] == {"type": "a", "channel": "shop:1", "offset": 1}
    first.client_leaves()
    await h.ended(first)
    for n in range(2, 4):
        await h.hub.deliver("shop:1", {"type": "missed", "n": n}, message_id=str(n))
    again = await h.connect(SHOP)
    since = {"offset": 1, "epoch": ack["epoch"]}
    again.client_sends({"type": "subscribe", "channel": "shop:1", "since": since})
    got = await again.wait_for(4)
    assert got[1] == {
        "type": "subscribed",
        "channel": "shop:1",
        "offset": 3,
        "epoch": ack["epoch"],
        "recovered": True,
    }
    assert [(m["n"], m["offset"]) for m in got[2:]] == [(2, 2), (3, 3)]
    await h.hub.deliver("shop:1", {"type": "live"}, message_id="4")
    assert (await again.wait_for(5))[4]["offset"] == 4
    stale = await h.connect(SHOP)
    stale.client_sends(
        {"type": "subscribe", "channel": "shop:1", "since": {"offset": 0, "epoch": "gone"}}
    )
    assert (await stale.wait_for(2))[1]["recovered"] is False


async def test_disconnect_frees_every_subscription(make_hub: MakeHub) -> None:
    h = await make_hub()
    socket = await h.connect(Grant(user="u1", patterns=("*",)))
    socket.client_sends({"type": "subscribe", "channel": "c1"})
    await socket.wait_for(2)
    assert {p.channel for p in h.hub.channels()} == {"broadcast", "user:u1", "c1"}
    socket.client_leaves()
    await h.ended(socket)
    assert h.hub.channels() == []
    assert h.hub.channel_count == 0


async def test_stop_closes_connections_with_1001(make_hub: MakeHub) -> None:
    h = await make_hub()
    socket = await h.connect(SHOP)
    await h.hub.stop()
    await h.ended(socket)
    assert socket.closed == (1001, "server shutting down")
