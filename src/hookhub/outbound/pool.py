"""The deliveries' connection pool: the most recently used idle connection first, in O(1).

httpcore2's own pool, on every request and again when each response closes, walks every
connection it holds and probes each idle one's socket (``has_expired``: a ``select`` call
and several layers of attribute look-ups). A dispatcher that has opened ``max_connections``
connections at its busiest keeps them, and while it runs below that, every request paid for
probing all the idle ones: in a fan-out of 10,000 deliveries that was 65 probes a request and
30% of the process's time. This pool keeps idle connections per origin on a stack and probes
only the one it takes, plus the oldest of the origin when one comes back (so connections a
receiver closed do not pile up). The bounds stay: at most ``max_connections`` requests at
once (a request waits for a turn up to its pool timeout), at most ``max_connections``
connections open and ``max_keepalive_connections`` idle.

It replaces the pool of an ``httpx2.AsyncHTTPTransport`` (:func:`lifo_transport`) and
answers the transport as httpcore2's pool does, so requests, responses, timeouts and errors
go through httpx2 unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator

import httpcore2
import httpx2
from httpcore2 import AsyncConnectionInterface

Origin = httpcore2.Origin
#: An origin as a dictionary key (httpcore2's ``Origin`` is not hashable).
OriginKey = tuple[bytes, bytes, int]


def _key(origin: Origin) -> OriginKey:
    return (origin.scheme, origin.host, origin.port)


class LifoPool(httpcore2.AsyncConnectionPool):
    """httpcore2's pool with its connection choice made O(1); see the module's docstring."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._idle: dict[OriginKey, list[AsyncConnectionInterface]] = {}
        self._idle_count = 0
        self._open = 0
        self._turns = asyncio.Semaphore(self._max_connections)
        self._closed = False

    @property
    def open_connections(self) -> int:
        return self._open

    @property
    def idle_connections(self) -> int:
        return self._idle_count

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        timeouts = request.extensions.get("timeout", {})
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._turns.acquire()
        except TimeoutError:
            raise httpcore2.PoolTimeout("no connection became free in time") from None
        origin = request.url.origin
        try:
            while True:
                connection = await self._connection_for(origin)
                try:
                    response = await connection.handle_async_request(request)
                except httpcore2.ConnectionNotAvailable:
                    await self._discard(connection)  # closed since it was idle: another
                    continue
                except BaseException:
                    await self._discard(connection)
                    raise
                break
        except BaseException:
            self._turns.release()
            raise
        stream = response.stream
        assert isinstance(stream, AsyncIterable)
        return httpcore2.Response(
            status=response.status,
            headers=response.headers,
            content=_Returning(stream, self, connection, origin),
            extensions=response.extensions,
        )

    async def _connection_for(self, origin: Origin) -> AsyncConnectionInterface:
        idle = self._idle.get(_key(origin))
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.is_available() and not connection.has_expired():
                return connection
            await self._discard(connection)
        if self._open >= self._max_connections:
            # Holding a turn, with every connection open: at least one of them is idle.
            await self._discard(self._oldest_idle())
        self._open += 1
        return self.create_connection(origin)

    def _oldest_idle(self) -> AsyncConnectionInterface:
        for stack in self._idle.values():
            if stack:
                self._idle_count -= 1
                return stack.pop(0)
        raise RuntimeError("every connection is in use, yet a request holds a turn")

    async def _returned(self, connection: AsyncConnectionInterface, origin: Origin) -> None:
        try:
            if self._closed or not connection.is_idle():
                await self._discard(connection)
                return
            stack = self._idle.setdefault(_key(origin), [])
            if stack and stack[0].has_expired():
                self._idle_count -= 1
                await self._discard(stack.pop(0))
            if self._idle_count >= self._max_keepalive_connections:
                await self._discard(connection)
                return
            stack.append(connection)
            self._idle_count += 1
        finally:
            self._turns.release()

    async def _discard(self, connection: AsyncConnectionInterface) -> None:
        self._open -= 1
        with contextlib.suppress(Exception):
            await connection.aclose()

    async def aclose(self) -> None:
        self._closed = True
        idle = [connection for stack in self._idle.values() for connection in stack]
        self._idle.clear()
        self._idle_count = 0
        for connection in idle:
            await self._discard(connection)


class _Returning:
    """A response body that gives its connection back to the pool once closed."""

    def __init__(
        self,
        stream: AsyncIterable[bytes],
        pool: LifoPool,
        connection: AsyncConnectionInterface,
        origin: Origin,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._origin = origin
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            closing = getattr(self._stream, "aclose", None)
            if closing is not None:
                await asyncio.shield(closing())
        finally:
            await asyncio.shield(self._pool._returned(self._connection, self._origin))


def lifo_transport(limits: httpx2.Limits) -> httpx2.AsyncHTTPTransport:
    """httpx2's transport (TLS verification and all) on a :class:`LifoPool`."""
    transport = httpx2.AsyncHTTPTransport(limits=limits)
    stock = transport._pool
    assert isinstance(stock, httpcore2.AsyncConnectionPool)
    transport._pool = LifoPool(
        ssl_context=stock._ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
    )
    return transport
