"""The bus contract, run on every implementation: the in-memory bus and Redis.

No test sleeps for a fixed time: each waits for the message it expects, with a deadline, and
proves that something did *not* arrive by publishing a later marker and waiting for that
(delivery to one subscription is in publish order).
"""

from __future__ import annotations

import asyncio

from hookhub.bus import Bus, Subscription

from .support import WAIT_S, MakeBus, Recorder, wait_until


async def test_exact_topic_is_delivered_with_its_topic(bus: Bus) -> None:
    events = Recorder()
    await bus.subscribe("events", events)

    await bus.publish("events", b"one")
    await bus.publish("other", b"not for events")
    await bus.publish("events", b"two")

    await events.wait_for(2)
    assert events.received == [("events", b"one"), ("events", b"two")]


async def test_glob_pattern_receives_every_matching_topic(bus: Bus) -> None:
    realtime = Recorder()
    await bus.subscribe("realtime.*", realtime)

    await bus.publish("realtime.user:42", b"a")
    await bus.publish("events", b"no")
    await bus.publish("realtimeX", b"no")
    await bus.publish("realtime.room:7", b"b")

    await realtime.wait_for(2)
    assert realtime.received == [("realtime.user:42", b"a"), ("realtime.room:7", b"b")]


async def test_topic_matching_exact_and_pattern_reaches_each_once(bus: Bus) -> None:
    exact = Recorder()
    pattern = Recorder()
    await bus.subscribe("realtime.user:42", exact)
    await bus.subscribe("realtime.*", pattern)

    await bus.publish("realtime.user:42", b"both")
    await bus.publish("realtime.other", b"pattern only")
    # A duplicate would arrive before this marker.
    await bus.publish("realtime.user:42", b"marker")

    await pattern.wait_for(3)
    await exact.wait_for(2)
    assert exact.messages == [b"both", b"marker"]
    assert pattern.messages == [b"both", b"pattern only", b"marker"]


async def test_two_subscriptions_on_one_topic_each_get_every_message(bus: Bus) -> None:
    first = Recorder()
    second = Recorder()
    await bus.subscribe("events", first)
    await bus.subscribe("events", second)

    await bus.publish("events", b"1")

    await first.wait_for(1)
    await second.wait_for(1)
    assert first.messages == second.messages == [b"1"]


async def test_closed_subscription_gets_nothing_more(bus: Bus) -> None:
    closing = Recorder()
    staying = Recorder()
    subscription = await bus.subscribe("events", closing)
    await bus.subscribe("events", staying)
    await bus.publish("events", b"before")
    await closing.wait_for(1)
    await staying.wait_for(1)

    await subscription.close()
    assert subscription.closed
    await bus.publish("events", b"after")

    await staying.wait_for(2)
    assert closing.messages == [b"before"]
    await subscription.close()  # idempotent


async def test_closing_the_only_subscription_of_a_topic_stops_it(bus: Bus) -> None:
    # On Redis this is the path that sends UNSUBSCRIBE.
    only = Recorder()
    marker = Recorder()
    subscription = await bus.subscribe("events.only", only)
    await bus.subscribe("events.marker", marker)
    await bus.publish("events.only", b"before")
    await only.wait_for(1)

    await subscription.close()
    await bus.publish("events.only", b"after")
    await bus.publish("events.marker", b"marker")

    await marker.wait_for(1)
    assert only.messages == [b"before"]


async def test_a_subscription_may_close_itself_from_its_handler(bus: Bus) -> None:
    once = Recorder()
    every = Recorder()
    own: list[Subscription] = []

    async def handle_once(topic: str, message: bytes) -> None:
        await once(topic, message)
        await own[0].close()

    own.append(await bus.subscribe("events", handle_once))
    await bus.subscribe("events", every)

    await bus.publish("events", b"1")
    await bus.publish("events", b"2")

    await every.wait_for(2)
    await wait_until(lambda: own[0].closed, "the subscription to close itself")
    assert once.messages == [b"1"]


async def test_messages_to_one_subscription_arrive_in_publish_order(bus: Bus) -> None:
    events = Recorder()
    await bus.subscribe("events", events)
    sent = [f"message-{n}".encode() for n in range(200)]

    for message in sent:
        await bus.publish("events", message)

    await events.wait_for(len(sent))
    assert events.messages == sent


async def test_slow_handler_does_not_delay_another_subscription(bus: Bus) -> None:
    release = asyncio.Event()
    slow_started = asyncio.Event()

    async def slow(topic: str, message: bytes) -> None:
        slow_started.set()
        await release.wait()

    fast = Recorder()
    await bus.subscribe("events", slow)
    await bus.subscribe("events", fast)

    for n in range(3):
        await bus.publish("events", f"{n}".encode())

    # The slow handler is stuck on the first message until released; the other one is not.
    await asyncio.wait_for(slow_started.wait(), WAIT_S)
    await fast.wait_for(3)
    assert not release.is_set()
    release.set()


async def test_a_failing_handler_does_not_stop_later_messages(bus: Bus) -> None:
    seen = Recorder()

    async def flaky(topic: str, message: bytes) -> None:
        await seen(topic, message)
        if message == b"boom":
            raise RuntimeError("handler failure, expected by this test")

    await bus.subscribe("events", flaky)

    await bus.publish("events", b"boom")
    await bus.publish("events", b"fine")
    await bus.publish("events", b"boom")
    await bus.publish("events", b"still fine")

    await seen.wait_for(4)
    assert seen.messages == [b"boom", b"fine", b"boom", b"still fine"]


async def test_full_queue_drops_and_counts_instead_of_blocking_publish(make_bus: MakeBus) -> None:
    bus = await make_bus(max_queued=2)
    release = asyncio.Event()
    holding = asyncio.Event()
    handled: list[bytes] = []

    async def stuck(topic: str, message: bytes) -> None:
        handled.append(message)
        holding.set()
        await release.wait()

    subscription = await bus.subscribe("events", stuck)
    await bus.publish("events", b"0")
    await asyncio.wait_for(holding.wait(), WAIT_S)  # "0" is in the handler, the queue is empty

    async with asyncio.timeout(WAIT_S):  # publishing never waits for the handler
        for n in range(1, 6):
            await bus.publish("events", f"{n}".encode())

    # "1" and "2" fill the queue of 2; "3", "4" and "5" are dropped.
    await wait_until(lambda: subscription.dropped == 3, "3 dropped messages")
    release.set()
    await asyncio.wait_for(subscription.drain(), WAIT_S)
    assert handled == [b"0", b"1", b"2"]
    assert subscription.dropped == 3


async def test_subscribe_is_active_when_it_returns(bus: Bus) -> None:
    # Publish exactly once right after subscribe: no probe loop. On Redis, subscribe() returns
    # only after Redis confirmed the (P)SUBSCRIBE, so this must not be lost.
    for n in range(20):
        pattern = f"probe.{n}" if n % 2 else f"probe.{n}.*"
        topic = f"probe.{n}" if n % 2 else f"probe.{n}.x"
        received = Recorder()
        await bus.subscribe(pattern, received)
        await bus.publish(topic, b"hello")
        await received.wait_for(1)


async def test_ping_answers_when_the_bus_is_usable(bus: Bus) -> None:
    await bus.ping()


async def test_close_stops_every_subscription(make_bus: MakeBus) -> None:
    bus = await make_bus()
    subscription = await bus.subscribe("events", Recorder())

    await bus.close()

    assert subscription.closed
    await bus.close()  # idempotent (the fixture closes it once more, too)
