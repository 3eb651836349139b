"""The Redis bus survives losing its server: it reconnects by itself and resubscribes, so the
subscriptions callers hold keep working, and publishing while Redis is away raises BusError.

Most tests run a redis-server of their own (it is killed with SIGKILL, which the shared server
must never be); the CLIENT KILL test uses the shared server and kills only the bus's own
connection, found by its client name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from hookhub.bus import RedisBus
from hookhub.errors import BusError

from .support import RECONNECT_WAIT_S, WAIT_S, Recorder, RedisServer, unique_name, wait_until

pytestmark = pytest.mark.redis


def _bus_tasks() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith(("hookhub-redis-bus", "hookhub-bus-subscription"))
        and not task.done()
    ]


@pytest.fixture
async def own_bus(redis_server: RedisServer) -> AsyncIterator[RedisBus]:
    """A RedisBus on the test's own redis-server, started and connected."""
    redis_server.start()
    await redis_server.wait_ready()
    name = unique_name()
    bus = RedisBus(redis_server.url, key_prefix=f"{name}:", client_name=name)
    await bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), WAIT_S)
        yield bus
    finally:
        await bus.close()


async def test_bus_reconnects_and_resubscribes_after_redis_restarts(
    own_bus: RedisBus, redis_server: RedisServer
) -> None:
    bus = own_bus
    events = Recorder()
    realtime = Recorder()
    await bus.subscribe("events", events)
    await bus.subscribe("realtime.*", realtime)
    await bus.publish("events", b"before")
    await bus.publish("realtime.user:1", b"before")
    await events.wait_for(1)
    await realtime.wait_for(1)

    redis_server.kill()
    await wait_until(lambda: not bus.connected.is_set(), "the bus to notice the lost server")

    with pytest.raises(BusError) as raised:
        await bus.publish("events", b"lost")
    assert isinstance(raised.value.__cause__, redis_errors.ConnectionError)
    with pytest.raises(BusError):
        await bus.ping()

    redis_server.start()
    await redis_server.wait_ready()
    await wait_until(
        lambda: bus.reconnects == 1 and bus.connected.is_set(),
        "the bus to reconnect",
        timeout_s=RECONNECT_WAIT_S,
    )

    # The same subscriptions, never re-created by this test, receive again.
    await bus.publish("events", b"after")
    await bus.publish("realtime.user:1", b"after")
    await events.wait_for(2)
    await realtime.wait_for(2)
    assert events.messages == [b"before", b"after"]
    assert realtime.messages == [b"before", b"after"]
    await bus.ping()


async def test_first_publish_after_a_restart_is_not_lost_to_a_stale_connection(
    own_bus: RedisBus, redis_server: RedisServer
) -> None:
    # The pooled command connection still points at the killed server; the bus must replace
    # it rather than fail the first publish after Redis is back.
    bus = own_bus
    events = Recorder()
    await bus.subscribe("events", events)
    await bus.publish("events", b"before")
    await events.wait_for(1)

    redis_server.kill()
    redis_server.start()
    await redis_server.wait_ready()
    await wait_until(
        lambda: bus.reconnects == 1 and bus.connected.is_set(),
        "the bus to reconnect",
        timeout_s=RECONNECT_WAIT_S,
    )

    await bus.publish("events", b"after")
    await events.wait_for(2)


async def test_subscribe_while_redis_is_away_is_active_once_it_is_back(
    own_bus: RedisBus, redis_server: RedisServer
) -> None:
    bus = own_bus
    redis_server.kill()
    await wait_until(lambda: not bus.connected.is_set(), "the bus to notice the lost server")

    events = Recorder()
    subscription = await asyncio.wait_for(bus.subscribe("events", events), WAIT_S)
    redis_server.start()
    await redis_server.wait_ready()
    await asyncio.wait_for(bus.connected.wait(), RECONNECT_WAIT_S)

    await bus.publish("events", b"hello")
    await events.wait_for(1)
    assert bus.reconnects == 1
    assert not subscription.closed


async def test_first_connection_after_a_late_start_is_not_a_reconnect(
    redis_server: RedisServer,
) -> None:
    bus = RedisBus(redis_server.url, key_prefix=f"{unique_name()}:")
    await bus.start()  # nothing listens yet: the reader retries with backoff
    try:
        events = Recorder()
        await bus.subscribe("events", events)
        assert not bus.connected.is_set()

        redis_server.start()
        await redis_server.wait_ready()
        await asyncio.wait_for(bus.connected.wait(), RECONNECT_WAIT_S)

        await bus.publish("events", b"hello")
        await events.wait_for(1)
        assert bus.reconnects == 0
    finally:
        await bus.close()


async def test_close_while_reconnecting_stops_everything(
    own_bus: RedisBus, redis_server: RedisServer
) -> None:
    bus = own_bus
    subscription = await bus.subscribe("events", Recorder())
    redis_server.kill()
    await wait_until(lambda: not bus.connected.is_set(), "the bus to notice the lost server")

    await asyncio.wait_for(bus.close(), WAIT_S)

    assert subscription.closed
    assert _bus_tasks() == []


async def test_a_silent_connection_is_given_up_and_replaced(redis_server: RedisServer) -> None:
    # CLIENT PAUSE holds every command, the bus's PINGs included, without closing anything:
    # to the bus it looks like a network that silently lost the server. TCP would not notice
    # for many minutes; the bus's own ping does within two health-check intervals.
    redis_server.start()
    await redis_server.wait_ready()
    bus = RedisBus(redis_server.url, key_prefix=f"{unique_name()}:", health_check_interval_s=0.2)
    admin = Redis.from_url(redis_server.url)
    await bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), WAIT_S)
        events = Recorder()
        await bus.subscribe("events", events)

        await admin.client_pause(1500, all=True)
        await wait_until(
            # At least once: a machine too slow to answer a 0.2 s ping may add one more.
            lambda: bus.reconnects >= 1 and bus.connected.is_set(),
            "the bus to replace the silent connection",
            timeout_s=RECONNECT_WAIT_S,
        )

        await bus.publish("events", b"after")
        await events.wait_for(1)
    finally:
        await bus.close()
        await admin.aclose()


async def test_bus_reconnects_after_its_connection_is_killed(redis_url: str) -> None:
    name = unique_name()
    bus = RedisBus(redis_url, key_prefix=f"{name}:", client_name=name)
    admin = Redis.from_url(redis_url)
    await bus.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), WAIT_S)
        events = Recorder()
        await bus.subscribe("events", events)
        await bus.publish("events", b"before")
        await events.wait_for(1)

        # Only this bus's pub/sub connection: the server is shared with other tests.
        mine = [
            client
            for client in await admin.client_list()
            if client["name"] == name and "P" in client["flags"]
        ]
        assert len(mine) == 1
        await admin.client_kill_filter(_id=mine[0]["id"])

        await wait_until(
            lambda: bus.reconnects == 1 and bus.connected.is_set(),
            "the bus to reconnect",
            timeout_s=RECONNECT_WAIT_S,
        )
        await bus.publish("events", b"after")
        await events.wait_for(2)
        assert events.messages == [b"before", b"after"]
        replaced = [
            client
            for client in await admin.client_list()
            if client["name"] == name and "P" in client["flags"]
        ]
        assert [client["id"] for client in replaced] != [mine[0]["id"]]
        assert len(replaced) == 1
    finally:
        await bus.close()
        await admin.aclose()


async def test_the_reader_survives_an_error_reply_and_keeps_retrying(
    redis_server: RedisServer,
) -> None:
    # A user without channel permissions gets NOPERM for SUBSCRIBE: not a transport error,
    # but the reader must neither die nor give up; once allowed, the bus connects.
    redis_server.start()
    await redis_server.wait_ready()
    admin = Redis.from_url(redis_server.url)
    await admin.acl_setuser(
        "bus",
        enabled=True,
        passwords=["+bus-password"],
        keys=["*"],
        commands=["+@all"],
        reset_channels=True,
    )
    url = redis_server.url.replace("redis://", "redis://bus:bus-password@")
    bus = RedisBus(url, key_prefix=f"{unique_name()}:")
    await bus.start()
    try:

        async def channel_denials() -> int:
            entries = await admin.acl_log()
            return sum(int(entry["count"]) for entry in entries if entry["reason"] == "channel")

        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECONNECT_WAIT_S
        while await channel_denials() < 2:  # refused, and tried again
            assert loop.time() < deadline, "the reader did not try again after NOPERM"
            await asyncio.sleep(0.02)
        assert not bus.connected.is_set()
        with pytest.raises(BusError):
            await bus.publish("events", b"refused")  # NOPERM is a BusError too

        await admin.acl_setuser("bus", enabled=True, channels=["*"])
        await asyncio.wait_for(bus.connected.wait(), RECONNECT_WAIT_S)
        events = Recorder()
        await bus.subscribe("events", events)
        await bus.publish("events", b"allowed")
        await events.wait_for(1)
    finally:
        await bus.close()
        await admin.aclose()
