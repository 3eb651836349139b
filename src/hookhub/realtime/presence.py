"""Presence across nodes: who is connected to a channel on any hookhub process, kept in Redis.

Each node writes, per channel, a snapshot of its own subscribers (connection count and users)
into one hash field named after the node: ``{prefix}presence:{channel}`` → ``node → JSON``. It
rewrites the channels that changed at once and all of its channels every ``refresh_s``; a field
older than ``ttl_s`` belongs to a node that stopped or lost Redis and is ignored, so a crashed
node's connections drop out of presence within ``ttl_s``. A sorted set indexes the channels by
their last write, for the channel listing.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hookhub.errors import BusError

DEFAULT_PRESENCE_TTL_S = 30.0
#: Every node rewrites all its channels this often, well within the TTL.
DEFAULT_REFRESH_S = 10.0
SOCKET_CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0

_ERRORS = (redis_errors.RedisError, OSError)


@dataclass(frozen=True)
class Presence:
    """Who is connected to a channel: connections, and connections per user id."""

    channel: str
    connections: int
    users: dict[str, int]


def merge(channel: str, parts: list[Presence]) -> Presence:
    users: Counter[str] = Counter()
    for part in parts:
        users.update(part.users)
    return Presence(channel, sum(part.connections for part in parts), dict(users))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisPresence:
    def __init__(self, url: str, *, node_id: str, key_prefix: str, ttl_s: float) -> None:
        self.node_id = node_id
        self._prefix = key_prefix
        self._ttl_s = ttl_s
        self._client = Redis.from_url(
            url,
            socket_connect_timeout=SOCKET_CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis_errors.ConnectionError,)),
        )

    def _key(self, channel: str) -> str:
        return f"{self._prefix}presence:{{{channel}}}"

    @property
    def _index(self) -> str:
        return f"{self._prefix}presence-index"

    async def write(self, snapshots: list[Presence], gone: list[str], now: float) -> None:
        """Record this node's snapshots, and that it has no one left on the ``gone`` channels."""
        if not snapshots and not gone:
            return
        expire_s = math.ceil(self._ttl_s) * 2
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for snapshot in snapshots:
                    value = {"c": snapshot.connections, "u": snapshot.users, "at": now}
                    key = self._key(snapshot.channel)
                    pipe.hset(key, self.node_id, orjson.dumps(value))
                    pipe.expire(key, expire_s)
                    pipe.zadd(self._index, {snapshot.channel: now})
                for channel in gone:
                    pipe.hdel(self._key(channel), self.node_id)
                pipe.zremrangebyscore(self._index, "-inf", now - self._ttl_s)
                await pipe.execute()
        except _ERRORS as exc:
            raise BusError("redis unreachable while writing presence") from exc

    async def read(self, channel: str, now: float, *, skip_node: str | None = None) -> Presence:
        """The channel's subscribers on every node whose snapshot is fresh."""
        try:
            fields: dict[Any, Any] = await self._client.hgetall(self._key(channel))
        except _ERRORS as exc:
            raise BusError("redis unreachable while reading presence") from exc
        return merge(channel, self._fresh(channel, fields, now, skip_node))

    async def channels(self, now: float, *, skip_node: str | None = None) -> list[Presence]:
        """Every channel some node reported recently, merged across nodes."""
        try:
            found: list[Any] = await self._client.zrangebyscore(
                self._index, now - self._ttl_s, "+inf"
            )
            names = [_text(name) for name in found]
            async with self._client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(self._key(name))
                results = await pipe.execute()
        except _ERRORS as exc:
            raise BusError("redis unreachable while reading presence") from exc
        merged = [
            merge(name, self._fresh(name, fields, now, skip_node))
            for name, fields in zip(names, results, strict=True)
        ]
        return [snapshot for snapshot in merged if snapshot.connections]

    def _fresh(
        self, channel: str, fields: dict[Any, Any], now: float, skip_node: str | None
    ) -> list[Presence]:
        parts = []
        for node, raw in fields.items():
            if _text(node) == skip_node:
                continue
            try:
                value = orjson.loads(raw)
                if now - float(value["at"]) > self._ttl_s:
                    continue
                parts.append(Presence(channel, int(value["c"]), dict(value["u"])))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # not written by hookhub: ignore rather than fail the listing
        return parts

    async def forget_node(self, channels: list[str]) -> None:
        """Remove this node from the given channels (orderly shutdown); best effort."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for channel in channels:
                    pipe.hdel(self._key(channel), self.node_id)
                await pipe.execute()
        except _ERRORS:
            return

    async def close(self) -> None:
        await self._client.aclose()
