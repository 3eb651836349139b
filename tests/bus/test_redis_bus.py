"""What only the Redis bus does: cross-process delivery, key prefixes, server-side bookkeeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from hookhub.bus import RedisBus
from hookhub.errors import BusError

from .support import WAIT_S, Recorder, unique_name, wait_until

pytestmark = pytest.mark.redis

MakeRedisBus = Callable[..., Awaitable[RedisBus]]


@pytest.fixture
async def make_redis_bus(redis_url: str) -> AsyncIterator[MakeRedisBus]:
    made: list[RedisBus] = []

    async def make(key_prefix: str, client_name: str | None = None) -> RedisBus:
        bus = RedisBus(redis_url, key_prefix=key_prefix, client_name=client_name)
        await bus.start()
        made.append(bus)
        await asyncio.wait_for(bus.connected.wait(), WAIT_S)
        return bus

    try:
        yield make
    finally:
        for bus in made:
            await bus.close()


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_publish_reaches_subscribers_of_every_process(make_redis_bus: MakeRedisBus) -> None:
    prefix = f"{unique_name()}:"
    publisher = await make_redis_bus(prefix)
    first = await make_redis_bus(prefix)
    second = await make_redis_bus(prefix)
    on_first = Recorder()
    on_second = Recorder()
    await first.subscribe("events", on_first)
    await second.subscribe("realtime.*", on_second)

    await publisher.publish("events", b"e")
    await publisher.publish("realtime.user:1", b"r")

    await on_first.wait_for(1)
    await on_second.wait_for(1)
    assert on_first.received == [("events", b"e")]
    assert on_second.received == [("realtime.user:1", b"r")]


async def test_buses_with_other_prefixes_do_not_see_each_other(
    make_redis_bus: MakeRedisBus,
) -> None:
    name = unique_name()
    # Glob characters in a prefix must match only themselves: unescaped, "[1]" would match
    # the other bus's "1" and "*" anything.
    globby = await make_redis_bus(f"{name}[1]*:")
    plain = await make_redis_bus(f"{name}1-plain:")
    seen = Recorder()
    await globby.subscribe("realtime.*", seen)
    await globby.subscribe("events", seen)

    await plain.publish("realtime.user:1", b"foreign")
    await plain.publish("events", b"foreign")
    await globby.publish("realtime.user:1", b"own")
    await globby.publish("events", b"own")

    await seen.wait_for(2)
    assert seen.received == [("realtime.user:1", b"own"), ("events", b"own")]


async def test_closing_the_last_subscription_unsubscribes_on_redis(
    make_redis_bus: MakeRedisBus, admin: Redis
) -> None:
    prefix = f"{unique_name()}:"
    bus = await make_redis_bus(prefix)
    first = await bus.subscribe("events", Recorder())
    second = await bus.subscribe("events", Recorder())

    async def subscribers() -> int:
        counts = await admin.pubsub_numsub(f"{prefix}events")
        return int(counts[0][1])

    assert await subscribers() == 1  # one Redis subscription carries both
    await first.close()
    assert await subscribers() == 1
    await second.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while await subscribers() != 0:  # UNSUBSCRIBE is sent, not awaited
        assert loop.time() < deadline, "the bus did not unsubscribe"
        await asyncio.sleep(0.01)


async def test_client_name_names_the_connections(
    make_redis_bus: MakeRedisBus, admin: Redis
) -> None:
    name = unique_name()
    bus = await make_redis_bus(f"{name}:", client_name=name)
    await bus.publish("events", b"opens the command connection")

    mine = [client for client in await admin.client_list() if client["name"] == name]

    assert len(mine) == 2
    assert sum("P" in client["flags"] for client in mine) == 1  # one pub/sub connection


async def test_publish_and_ping_before_start_raise_bus_error(redis_url: str) -> None:
    bus = RedisBus(redis_url, key_prefix=f"{unique_name()}:")

    with pytest.raises(BusError):
        await bus.publish("events", b"x")
    with pytest.raises(BusError):
        await bus.ping()
    await bus.close()


async def test_subscribe_before_the_first_connection_becomes_active(redis_url: str) -> None:
    bus = RedisBus(redis_url, key_prefix=f"{unique_name()}:")
    await bus.start()
    try:
        events = Recorder()
        # Most likely the reader has not connected yet: subscribe returns at once, and the
        # subscription is among those confirmed before `connected` is set.
        await bus.subscribe("events", events)
        await asyncio.wait_for(bus.connected.wait(), WAIT_S)

        await bus.publish("events", b"hello")

        await events.wait_for(1)
        assert bus.reconnects == 0
    finally:
        await bus.close()


async def test_concurrent_subscribes_to_one_pattern_all_wait_for_confirmation(
    make_redis_bus: MakeRedisBus,
) -> None:
    bus = await make_redis_bus(f"{unique_name()}:")
    recorders = [Recorder() for _ in range(5)]

    await asyncio.gather(*(bus.subscribe("events.*", recorder) for recorder in recorders))
    await bus.publish("events.x", b"once")

    for recorder in recorders:
        await recorder.wait_for(1)
    await wait_until(lambda: all(r.messages == [b"once"] for r in recorders), "one copy each")
