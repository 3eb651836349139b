"""Per-channel history: the last N messages with increasing offsets, for recovery.

Each channel's history has an **epoch**, a random name for one unbroken run of offsets. When
the history is lost (its TTL ran out with no publication, or the process holding it in memory
restarted) the next publication starts a new epoch, so a client asking to recover from an old
epoch is told ``recovered: false`` instead of being handed a wrong gap.

Two implementations behind one Protocol: :class:`MemoryHistory` (one process) and
:class:`RedisHistory` (Redis Streams, shared by every hookhub process, so a client can recover
on another node than the one it left). A size of 0 turns history off: nothing is kept, and every
recovery answers ``recovered: false``.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hookhub.errors import BusError
from hookhub.realtime.protocol import Position

DEFAULT_HISTORY_SIZE = 100
DEFAULT_HISTORY_TTL_S = 600.0
DEFAULT_KEY_PREFIX = "hookhub:rt:"
EPOCH_BYTES = 4
SOCKET_CONNECT_TIMEOUT_S = 2.0
SOCKET_TIMEOUT_S = 5.0

Monotonic = Callable[[], float]


def new_epoch() -> str:
    return secrets.token_hex(EPOCH_BYTES)


@dataclass(frozen=True, slots=True)
class Entry:
    offset: int
    #: The message as its subscribers get it, JSON bytes.
    data: bytes


@dataclass(frozen=True, slots=True)
class Recovery:
    """What a resubscribing client missed, or ``recovered=False`` with nothing."""

    position: Position | None
    entries: list[Entry]
    recovered: bool


class History(Protocol):
    async def append(self, channel: str, data: bytes, *, message_id: str) -> Position | None:
        """Keep ``data`` as the channel's next message; its position, or None when off.

        The same ``message_id`` appended twice (each node of a cluster appends every message
        it receives) is kept once, and both calls return the same position. Raises
        :class:`~hookhub.errors.BusError` when the store is unreachable.
        """
        ...

    async def position(self, channel: str) -> Position | None:
        """Where the channel stands now (offset 0 before any message); None when off."""
        ...

    async def recover(self, channel: str, since: Position) -> Recovery:
        """The messages after ``since``, in order, if the history still reaches back to it."""
        ...

    async def close(self) -> None: ...


def _recovery(
    since: Position, epoch: str, top: int, first: int | None, after: list[Entry]
) -> Recovery:
    now = Position(offset=top, epoch=epoch)
    if since.epoch != epoch or since.offset > top:
        return Recovery(now, [], recovered=False)
    # The oldest kept offset; with nothing kept, the next one to come.
    oldest = first if first is not None else top + 1
    if since.offset + 1 < oldest:
        return Recovery(now, [], recovered=False)
    return Recovery(now, after, recovered=True)


@dataclass
class _Log:
    epoch: str
    entries: deque[Entry]
    last_at: float
    top: int = 0
    ids: dict[str, int] = field(default_factory=dict)


class MemoryHistory:
    """History in this process's memory; each channel's log expires ``ttl_s`` after its last use."""

    def __init__(
        self,
        *,
        size: int = DEFAULT_HISTORY_SIZE,
        ttl_s: float = DEFAULT_HISTORY_TTL_S,
        monotonic: Monotonic,
    ) -> None:
        self._size = size
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._logs: dict[str, _Log] = {}

    def _log(self, channel: str) -> _Log:
        now = self._monotonic()
        log = self._logs.get(channel)
        if log is None or now - log.last_at > self._ttl_s:
            log = _Log(epoch=new_epoch(), entries=deque(maxlen=self._size), last_at=now)
            self._logs[channel] = log
        return log

    async def append(self, channel: str, data: bytes, *, message_id: str) -> Position | None:
        if self._size == 0:
            return None
        log = self._log(channel)
        log.last_at = self._monotonic()
        seen = log.ids.get(message_id)
        if seen is None:
            log.top += 1
            log.entries.append(Entry(log.top, data))
            log.ids[message_id] = seen = log.top
            # Ids of entries that fell out of the log are not needed any more.
            if len(log.ids) > 2 * self._size:
                oldest = log.entries[0].offset
                log.ids = {key: offset for key, offset in log.ids.items() if offset >= oldest}
        return Position(seen, log.epoch)

    async def position(self, channel: str) -> Position | None:
        if self._size == 0:
            return None
        log = self._log(channel)
        return Position(log.top, log.epoch)

    async def recover(self, channel: str, since: Position) -> Recovery:
        if self._size == 0:
            return Recovery(None, [], recovered=False)
        log = self._log(channel)
        first = log.entries[0].offset if log.entries else None
        after = [entry for entry in log.entries if entry.offset > since.offset]
        return _recovery(since, log.epoch, log.top, first, after)

    def sweep(self) -> int:
        """Forget the logs past their TTL; how many were dropped (memory stays bounded)."""
        now = self._monotonic()
        expired = [name for name, log in self._logs.items() if now - log.last_at > self._ttl_s]
        for name in expired:
            del self._logs[name]
        return len(expired)

    async def close(self) -> None:
        self._logs.clear()


# KEYS: meta hash, stream, seen-id key. ARGV: size, ttl_s, new epoch, data.
# Atomic, so two nodes appending the same message id get one entry and the same offset. A new
# epoch (the meta hash had expired or never existed) drops any stream left from the old one.
_APPEND = """
local prior = redis.call('GET', KEYS[3])
if prior then
  return {tonumber(prior), redis.call('HGET', KEYS[1], 'epoch') or ARGV[3]}
end
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[3]) == 1 then
  redis.call('DEL', KEYS[2])
end
local top = redis.call('HINCRBY', KEYS[1], 'top', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[1], '0-' .. top, 'd', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('SET', KEYS[3], top, 'EX', ARGV[2])
return {top, redis.call('HGET', KEYS[1], 'epoch')}
"""

# KEYS: meta hash, stream. ARGV: new epoch, ttl_s.
_POSITION = """
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then
  redis.call('DEL', KEYS[2])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return {tonumber(redis.call('HGET', KEYS[1], 'top') or '0'), redis.call('HGET', KEYS[1], 'epoch')}
"""

_TRANSPORT_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


@contextlib.asynccontextmanager
async def _mapped_errors(doing: str) -> AsyncIterator[None]:
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        raise BusError(f"redis unreachable while {doing}") from exc
    except redis_errors.RedisError as exc:
        raise BusError(f"redis failed while {doing}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _offset(stream_id: bytes | str) -> int:
    return int(_text(stream_id).partition("-")[2])


class RedisHistory:
    """History in Redis Streams, one stream per channel (``XADD`` with ids ``0-<offset>``).

    Keys hold the channel in a hash tag (``hookhub:rt:{shop:1}:h``) so a channel's keys share
    a Redis Cluster slot, as the scripts need.
    """

    def __init__(
        self,
        url: str,
        *,
        size: int = DEFAULT_HISTORY_SIZE,
        ttl_s: float = DEFAULT_HISTORY_TTL_S,
        key_prefix: str = DEFAULT_KEY_PREFIX,
    ) -> None:
        self._size = size
        self._ttl_s = max(1, math.ceil(ttl_s))
        self._prefix = key_prefix
        self._client = Redis.from_url(
            url,
            socket_connect_timeout=SOCKET_CONNECT_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            # One immediate retry replaces a pooled connection a Redis restart closed. Safe for
            # appends too: the seen-id key makes a repeated append a no-op.
            retry=Retry(NoBackoff(), 1, supported_errors=(redis_errors.ConnectionError,)),
        )
        self._append = self._client.register_script(_APPEND)
        self._position = self._client.register_script(_POSITION)

    def _keys(self, channel: str) -> tuple[str, str]:
        base = f"{self._prefix}{{{channel}}}"
        return f"{base}:m", f"{base}:h"

    async def append(self, channel: str, data: bytes, *, message_id: str) -> Position | None:
        if self._size == 0:
            return None
        meta, stream = self._keys(channel)
        seen = f"{self._prefix}{{{channel}}}:id:{message_id}"
        async with _mapped_errors("appending to history"):
            result: list[Any] = await self._append(
                keys=[meta, stream, seen], args=[self._size, self._ttl_s, new_epoch(), data]
            )
        return Position(int(result[0]), _text(result[1]))

    async def position(self, channel: str) -> Position | None:
        if self._size == 0:
            return None
        meta, stream = self._keys(channel)
        async with _mapped_errors("reading history"):
            result: list[Any] = await self._position(
                keys=[meta, stream], args=[new_epoch(), self._ttl_s]
            )
        return Position(int(result[0]), _text(result[1]))

    async def recover(self, channel: str, since: Position) -> Recovery:
        if self._size == 0:
            return Recovery(None, [], recovered=False)
        meta, stream = self._keys(channel)
        async with (
            _mapped_errors("reading history"),
            self._client.pipeline(transaction=True) as pipe,
        ):
            pipe.hmget(meta, ["epoch", "top"])
            pipe.xrange(stream, "-", "+", count=1)
            pipe.xrange(stream, f"(0-{since.offset}", "+")
            (epoch, top), first, after = await pipe.execute()
        if epoch is None:
            # No history at all: whatever the client saw is gone.
            position = await self.position(channel)
            return Recovery(position, [], recovered=False)
        entries = [Entry(_offset(item_id), fields[b"d"]) for item_id, fields in after]
        oldest = _offset(first[0][0]) if first else None
        return _recovery(since, _text(epoch), int(top or 0), oldest, entries)

    async def close(self) -> None:
        await self._client.aclose()
