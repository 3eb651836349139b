"""Presence shared through Redis: snapshots per node, merged, and dropped once stale."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from hookhub.realtime.presence import Presence, RedisPresence, merge

pytestmark = pytest.mark.redis

TTL_S = 30.0
MakeNode = Callable[[str], RedisPresence]


@pytest.fixture
async def make_node(redis_url: str) -> AsyncIterator[MakeNode]:
    prefix = f"hookhub-test-{uuid.uuid4().hex}:"
    made: list[RedisPresence] = []

    def make(node_id: str) -> RedisPresence:
        node = RedisPresence(redis_url, node_id=node_id, key_prefix=prefix, ttl_s=TTL_S)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.close()


def test_merge_adds_connections_and_users() -> None:
    merged = merge("c", [Presence("c", 2, {"a": 1}), Presence("c", 3, {"a": 2, "b": 1})])
    assert merged == Presence("c", 5, {"a": 3, "b": 1})


async def test_nodes_see_each_other(make_node: MakeNode) -> None:
    a, b = make_node("a"), make_node("b")
    await a.write([Presence("room", 2, {"u1": 2})], [], now=1000.0)
    await b.write([Presence("room", 1, {"u2": 1}), Presence("other", 1, {})], [], now=1000.0)
    assert await a.read("room", now=1001.0) == Presence("room", 3, {"u1": 2, "u2": 1})
    assert await a.read("room", now=1001.0, skip_node="a") == Presence("room", 1, {"u2": 1})
    listed = await b.channels(now=1001.0)
    assert sorted(p.channel for p in listed) == ["other", "room"]

    await b.write([], ["room"], now=1002.0)  # b's last subscriber left
    assert await a.read("room", now=1003.0) == Presence("room", 2, {"u1": 2})


async def test_a_silent_node_drops_out_after_the_ttl(make_node: MakeNode) -> None:
    a, b = make_node("a"), make_node("b")
    await a.write([Presence("room", 1, {"u1": 1})], [], now=1000.0)
    await b.write([Presence("room", 1, {"u2": 1})], [], now=1000.0 + TTL_S)
    later = 1001.0 + TTL_S  # a has not written for longer than the TTL: it crashed
    assert await b.read("room", now=later) == Presence("room", 1, {"u2": 1})
    assert [p.channel for p in await b.channels(now=later + TTL_S)] == []


async def test_forget_node_on_shutdown(make_node: MakeNode) -> None:
    a = make_node("a")
    await a.write([Presence("room", 1, {"u1": 1})], [], now=1000.0)
    await a.forget_node(["room"])
    assert await a.read("room", now=1000.0) == Presence("room", 0, {})
