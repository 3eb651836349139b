"""Prepared WebSocket frames, written straight to each connection's transport.

A broadcast to N connections through ASGI costs N ``websocket.send`` calls, each one a coroutine,
an encode and a frame build: 8 to 9 µs of Python per delivered message, where writing one
prepared frame costs 2 to 3 µs, beside the kernel's 6 to 10 µs for the send itself
(BENCHMARKS.md, "Where the time goes (real-time)"). So the hub encodes a message once
(``encode_text_frame``) and hands the same bytes to every receiver's ``FrameWriter.write``.

uvicorn keeps doing everything else: its websockets-sansio protocol runs the handshake, keepalive
pings, receiving, and the ordinary ASGI ``send``. ``FrameWriterProtocol`` only adds the writer to
each WebSocket scope as the ``hookhub.frame_writer`` extension. Frames written there and messages
sent through ASGI share one asyncio transport, so they reach the peer in the order they were
written. Per-message deflate is off (``uvicorn_options``): a prepared frame has no RSV1 bit, and a
connection that negotiated compression would have to compress every frame on its own.
"""

from __future__ import annotations

import asyncio
import enum
import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

#: The key of the scope extension that holds a connection's ``FrameWriter``.
FRAME_WRITER_EXTENSION = "hookhub.frame_writer"
#: How long ``FrameWriter.close`` waits for the peer's closing frame before dropping the
#: connection and whatever is still buffered for it (the websockets library's default too).
CLOSE_TIMEOUT_S = 10.0

# RFC 6455 section 5.2: FIN set, no RSV bits (no extension in use), opcode 0x1 (text).
_FIN_TEXT = 0x81
_MAX_7BIT_LENGTH = 125
_MAX_16BIT_LENGTH = 0xFFFF
_LENGTH_16BIT = 126
_LENGTH_64BIT = 127


def encode_text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame carrying ``payload``.

    Server frames are never masked (RFC 6455 section 5.1), so the same bytes are valid on every
    connection. ``payload`` must be UTF-8 (section 5.6); it is not checked here, because the hub
    encodes with a JSON encoder that only writes UTF-8.
    """
    length = len(payload)
    if length <= _MAX_7BIT_LENGTH:
        header = bytes((_FIN_TEXT, length))
    elif length <= _MAX_16BIT_LENGTH:
        header = struct.pack("!BBH", _FIN_TEXT, _LENGTH_16BIT, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, _LENGTH_64BIT, length)
    return header + payload


class WriterState(enum.Enum):
    """Where a connection stands, as far as written frames are concerned."""

    CONNECTING = "connecting"  # the application has not accepted the handshake yet
    OPEN = "open"  # frames go out
    CLOSED = "closed"  # a closing frame was sent or received, or the socket is gone


class FrameWriter:
    """Writes prepared frames to one WebSocket connection, without waiting.

    ``write`` never blocks and never raises once the connection is open: a frame written after
    the connection closed is dropped (pushes are at-most-once; the application learns of the
    close from ASGI ``receive``). Nothing here bounds the buffer: the caller reads
    ``buffered_bytes`` and closes a connection that falls behind.
    """

    __slots__ = ("_protocol",)

    def __init__(self, protocol: FrameWriterProtocol) -> None:
        self._protocol = protocol

    @property
    def state(self) -> WriterState:
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected or protocol.transport.is_closing():
            return WriterState.CLOSED
        if not protocol.handshake_complete:
            return WriterState.CONNECTING
        return WriterState.OPEN

    def write(self, frame: bytes) -> None:
        """Append ``frame`` (from ``encode_text_frame``) to the socket's outgoing bytes.

        Raises RuntimeError before the handshake is accepted: the frame would land ahead of
        the HTTP 101 response and break the connection.
        """
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected:
            # RFC 6455 section 5.5.1: no data frame may follow a closing frame.
            return
        if not protocol.handshake_complete:
            raise RuntimeError("a frame was written before the WebSocket was accepted")
        transport = protocol.transport
        if not transport.is_closing():
            transport.write(frame)

    def write_within(self, frame: bytes, max_buffered_bytes: int) -> bool:
        """``write(frame)`` unless more than ``max_buffered_bytes`` are still unsent: then
        False, and nothing is written (the caller closes a peer that fell that far behind).

        The hub's fan-out calls this once per receiver, so it is ``buffered_bytes`` and
        ``write`` in one call, with the same checks in the same order.
        """
        protocol = self._protocol
        transport = protocol.transport
        if transport.get_write_buffer_size() > max_buffered_bytes:
            return False
        if protocol.close_sent or protocol.disconnected:
            return True  # RFC 6455 section 5.5.1, as in write()
        if not protocol.handshake_complete:
            raise RuntimeError("a frame was written before the WebSocket was accepted")
        if not transport.is_closing():
            transport.write(frame)
        return True

    def buffered_bytes(self) -> int:
        """Bytes written but not yet taken by the kernel: what a peer that stopped reading
        leaves behind once its socket buffers are full."""
        return self._protocol.transport.get_write_buffer_size()

    def close(self, code: int, reason: str) -> None:
        """Send a closing frame (after what is already buffered) and stop taking frames.

        The application's ``receive`` then returns ``websocket.disconnect`` with ``code``. If
        the peer does not answer with its own closing frame within ``CLOSE_TIMEOUT_S`` (a peer
        that stopped reading never will), the connection is dropped with its buffer, so a slow
        consumer cannot hold memory. Does nothing on a connection that is not open.
        """
        self._protocol.close_from_writer(code, reason)


class _ReceiveQueue:
    """The part of ``asyncio.Queue`` that uvicorn's protocol uses (``put_nowait``, ``get``,
    ``empty``), with no deque or Event until a reader waits.

    An ``asyncio.Queue`` holds three deques and an Event, about 3.3 KiB, on every idle
    connection; uvicorn pauses reading after each message, so this queue rarely holds more
    than one or two and a list is enough.
    """

    __slots__ = ("_items", "_waiters")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._waiters: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        _wake(self._waiters)
        self._waiters = None

    async def get(self) -> Any:
        # The wait is written out here rather than awaited from _wait(): an idle connection
        # sits in this call, and one coroutine frame less is about 0.25 KiB less each.
        while not self._items:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiters = self._waiters
            if waiters is None:
                waiters = self._waiters = []
            waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in waiters:
                    waiters.remove(waiter)
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class _Flag:
    """The part of ``asyncio.Event`` that uvicorn's protocol uses for ``writable``, with no
    deque until a sender waits (about 0.7 KiB less per connection)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        _wake(self._waiters)
        self._waiters = None

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            await _wait(self, "_waiters")
        return True


def _wake(waiters: list[asyncio.Future[None]] | None) -> None:
    for waiter in waiters or ():
        if not waiter.done():
            waiter.set_result(None)


async def _wait(owner: _ReceiveQueue | _Flag, attribute: str) -> None:
    """Wait for the next wake-up of ``owner``; each waiter has its own future, so cancelling
    one never disturbs another."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiters = getattr(owner, attribute)
    if waiters is None:
        waiters = []
        setattr(owner, attribute, waiters)
    waiters.append(waiter)
    try:
        await waiter
    finally:
        if waiter in waiters:
            waiters.remove(waiter)


class FrameWriterProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, with a ``FrameWriter`` in every WebSocket scope.

    It also trims what an idle connection holds (the issue's budget is 20 KiB each): a lighter
    receive queue and writable flag, and no copy of the handshake once it is answered (the
    scope keeps the headers). This leans on the protocol's attribute names (``queue``,
    ``writable``, ``request``, ``response``, ``close_sent``, ...), which is why the tests run a
    real uvicorn.
    """

    # The attributes uvicorn's protocol sets per connection, in slots. It sets about 37 in
    # all, and past 30 CPython gives each instance a full dictionary (1.6 KiB) instead of a
    # compact one; in slots these leave the dictionary with the dozen per-server settings
    # (0.2 KiB). An attribute not listed still works, from the dictionary.
    __slots__ = (
        "client",
        "close_sent",
        "close_timer",
        "conn",
        "curr_msg_data_type",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "pending_ping_payload",
        "ping_sent_at",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "scheme",
        "scope",
        "server",
        "transport",
        "writable",
    )

    close_timeout_s = CLOSE_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _ReceiveQueue()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The ASGI task was created above but has not run yet: it sees the extension.
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][FRAME_WRITER_EXTENSION] = FrameWriter(self)

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # uvicorn reads the parsed request and the prepared response only until the
            # handshake is answered. The websockets parser keeps the request referenced for
            # the connection's lifetime, so its headers are emptied too (about 2 KiB).
            self.request.headers.clear()
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]

    def close_from_writer(self, code: int, reason: str) -> None:
        """What ASGI ``websocket.close`` does, except that a peer which never answers is
        aborted rather than closed: a graceful close would wait for it to read the buffer."""
        if (
            self.close_sent
            or self.disconnected
            or not self.handshake_complete
            or self.transport.is_closing()
        ):
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            # Keep reading so the peer's closing frame is seen.
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout_s, self.transport.abort)


def uvicorn_options(*, close_timeout_s: float = CLOSE_TIMEOUT_S) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config`` / ``uvicorn.run`` that install the writer.

    ``close_timeout_s`` bounds how long ``FrameWriter.close`` waits for the peer (tests shorten
    it).
    """
    protocol: type[FrameWriterProtocol] = FrameWriterProtocol
    if close_timeout_s != CLOSE_TIMEOUT_S:
        protocol = type("FrameWriterProtocol", (FrameWriterProtocol,), {})
        protocol.close_timeout_s = close_timeout_s
    return {"ws": protocol, "ws_per_message_deflate": False}


__all__ = [
    "CLOSE_TIMEOUT_S",
    "FRAME_WRITER_EXTENSION",
    "FrameWriter",
    "FrameWriterProtocol",
    "WriterState",
    "encode_text_frame",
    "uvicorn_options",
]
