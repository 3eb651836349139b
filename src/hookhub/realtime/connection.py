"""One WebSocket connection of the hub: its state, what it may do, and its bounded send path.

Two send paths, chosen per connection, with one rule (**slow consumers never slow the others**):

- With the ``hookhub.frame_writer`` scope extension (``hookhub serve`` installs it, see
  :mod:`hookhub.realtime.transport`), :meth:`Connection.push` writes the message's prepared
  frame straight to the socket's transport.
- Without it (other servers, Starlette's TestClient), messages wait in a queue bounded in bytes
  and one sender task per connection drains it with ``send_text``.

A connection that has more than ``max_queue_bytes`` still unsent when a message arrives is
closed with 4008 ("slow consumer"), so what it holds stays under the bound plus one message.

Either way :meth:`Connection.push` never waits, so a broadcast loop is as fast for a thousand
receivers when one of them stopped reading.

States::

    OPEN ──(close(code): server decides)──> CLOSING ──(socket closed)──> CLOSED
      └───────────────(peer disconnects)─────────────────────────────────┘
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections import deque
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, Protocol

import orjson
import structlog
from starlette.websockets import WebSocket

from hookhub.realtime.auth import Grant
from hookhub.realtime.protocol import CLOSE_REASONS, CloseCode, InboundBudget

log = structlog.get_logger(__name__)

FRAME_WRITER_EXTENSION = "hookhub.frame_writer"
DEFAULT_MAX_QUEUE_BYTES = 1024 * 1024
#: How long closing a connection through ASGI may take before it is given up.
CLOSE_TIMEOUT_S = 5.0


class ConnectionState(StrEnum):
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_OPEN = ConnectionState.OPEN


class FrameWriter(Protocol):
    """The ``hookhub.frame_writer`` scope extension (see :mod:`hookhub.realtime.transport`)."""

    def write(self, frame: bytes) -> None: ...

    def write_within(self, frame: bytes, max_buffered_bytes: int) -> bool: ...

    def buffered_bytes(self) -> int: ...

    def close(self, code: int, reason: str) -> None: ...


def _frame_encoder() -> Callable[[bytes], bytes]:
    # Imported on first use: only servers run with the transport's options give connections a
    # frame writer, and only then are frames needed.
    module = importlib.import_module("hookhub.realtime.transport")
    encode: Callable[[bytes], bytes] = module.encode_text_frame
    return encode


class Outgoing:
    """One message, encoded once for every receiver: JSON bytes, and text or a frame on demand.

    Once a connection in this process has a frame writer, the frame is made with the message
    (``frame`` is then never None), so a fan-out reads an attribute per receiver, not a call.
    """

    __slots__ = ("_text", "data", "frame")
    #: Set by the first connection that has a frame writer (see :meth:`Connection.start`).
    _encode_frame: Callable[[bytes], bytes] | None = None

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._text: str | None = None
        encode = Outgoing._encode_frame
        self.frame: bytes | None = encode(data) if encode is not None else None

    @classmethod
    def of(cls, message: dict[str, Any]) -> Outgoing:
        return cls(orjson.dumps(message))

    def text(self) -> str:
        if self._text is None:
            self._text = self.data.decode()
        return self._text

    def framed(self) -> bytes:
        """The prepared WebSocket frame (made now for a message older than the first writer)."""
        frame = self.frame
        if frame is None:
            encode = Outgoing._encode_frame
            if encode is None:
                encode = Outgoing._encode_frame = _frame_encoder()
            frame = self.frame = encode(self.data)
        return frame


def push_to_all(connections: Iterable[Connection], out: Outgoing) -> None:
    """:meth:`Connection.push` of ``out`` to each of ``connections``, for a fan-out.

    The same rules, with one call per receiver on the frame writer's path instead of three:
    at thousands of receivers per message this loop is most of the hub's own CPU.
    """
    frame = out.frame
    for connection in connections:
        writer = connection._live_writer
        if writer is None:
            connection.push(out)  # the fallback path, or a connection that is closing
            continue
        if frame is None:
            frame = out.framed()
        if not writer.write_within(frame, connection._max_queue_bytes):
            connection.close(CloseCode.SLOW_CONSUMER)


class Connection:
    """A client connection; the hub owns it from accept to close.

    ``close`` may be called any number of times from anywhere (a fan-out loop, the keepalive
    sweep, the reader); the first call decides the close code and ends :meth:`wait_closed`.

    Slotted, and the fallback path's queue and events exist only on connections that use it:
    an idle connection should cost little (thousands of them are idle most of the time).
    """

    __slots__ = (
        "_finished",
        "_live_writer",
        "_max_queue_bytes",
        "_queue",
        "_queued_bytes",
        "_sender",
        "_wakeup",
        "_writer",
        "budget",
        "channels",
        "close_code",
        "grant",
        "id",
        "last_heard",
        "last_pinged",
        "registered",
        "state",
        "websocket",
    )

    def __init__(
        self,
        connection_id: str,
        websocket: WebSocket,
        grant: Grant,
        *,
        max_queue_bytes: int,
        budget: InboundBudget,
        now: float,
    ) -> None:
        self.id = connection_id
        self.websocket = websocket
        self.grant = grant
        self.budget = budget
        #: The user registered with seed 001 ``prijava``, when any.
        self.registered: str | None = None
        #: Channels this connection is subscribed to.
        self.channels: set[str] = set()
        self.state = ConnectionState.OPEN
        self.close_code: CloseCode | None = None
        self.last_heard = now
        self.last_pinged = now
        self._finished: asyncio.Event | None = None
        self._max_queue_bytes = max_queue_bytes
        self._writer: FrameWriter | None = None
        #: The writer while the connection is open, else None: one read tells the fan-out
        #: both that it may write and where.
        self._live_writer: FrameWriter | None = None
        # The fallback path's state, made by start() when there is no frame writer.
        self._queue: deque[Outgoing] | None = None
        self._queued_bytes = 0
        self._wakeup: asyncio.Event | None = None
        self._sender: asyncio.Task[None] | None = None

    @property
    def user(self) -> str | None:
        return self.registered if self.registered is not None else self.grant.user

    @property
    def queued_bytes(self) -> int:
        """Bytes accepted for this connection and not yet handed to the socket."""
        writer = self._writer
        return writer.buffered_bytes() if writer is not None else self._queued_bytes

    @property
    def has_writer(self) -> bool:
        return self._writer is not None

    @property
    def open(self) -> bool:
        return self.state is ConnectionState.OPEN

    def start(self) -> None:
        """Pick the send path; call once the WebSocket is accepted."""
        extensions = self.websocket.scope.get("extensions") or {}
        writer = extensions.get(FRAME_WRITER_EXTENSION)
        if writer is not None:
            self._writer = self._live_writer = writer
            if Outgoing._encode_frame is None:
                Outgoing._encode_frame = _frame_encoder()
        else:
            self._queue = deque()
            self._wakeup = asyncio.Event()
            self._sender = asyncio.create_task(self._send_forever(), name=f"hookhub-ws:{self.id}")

    async def wait_closed(self) -> None:
        """Return once the connection is closing, from either side."""
        if self._finished is None:
            self._finished = asyncio.Event()
        if self.state is ConnectionState.OPEN:
            await self._finished.wait()

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()
        if self._finished is not None and self.state is not ConnectionState.OPEN:
            self._finished.set()

    def send(self, message: dict[str, Any]) -> None:
        """Send one message of this connection's own (a reply); never waits."""
        self.push(Outgoing.of(message))

    def push(self, out: Outgoing) -> None:
        """Queue ``out`` for this connection without waiting; close it (4008) when it lags."""
        writer = self._live_writer
        if writer is not None:
            frame = out.frame
            if frame is None:
                frame = out.framed()
            if not writer.write_within(frame, self._max_queue_bytes):
                self.close(CloseCode.SLOW_CONSUMER)
            return
        if self.state is not _OPEN or self._writer is not None:
            return
        # The same rule as the frame writer's: over the bound *before* this message. So one
        # message larger than the bound still reaches a client that keeps up.
        if self._queued_bytes > self._max_queue_bytes:
            self.close(CloseCode.SLOW_CONSUMER)
            return
        queue = self._queue
        if queue is None:
            raise RuntimeError("push() before start()")
        queue.append(out)
        self._queued_bytes += len(out.data)
        self._wake()

    def close(self, code: CloseCode) -> None:
        """Start closing with ``code``; the socket itself is closed by :meth:`shutdown`.

        What is already queued still goes out first, except to a slow consumer: that is
        dropped at once, so memory is freed and nobody waits on a peer that does not read.
        """
        if self.state is not ConnectionState.OPEN:
            return
        self.state = ConnectionState.CLOSING
        self._live_writer = None
        self.close_code = code
        log.info("ws.closing", connection_id=self.id, code=int(code), reason=CLOSE_REASONS[code])
        if self._writer is not None:
            # Sent after what is already buffered; a peer that never reads is aborted later.
            self._writer.close(code, CLOSE_REASONS[code])
        elif code is CloseCode.SLOW_CONSUMER:
            self._stop_sender()
            self._drop_queue()
        self._wake()

    def disconnected(self) -> None:
        """The peer went away (or the socket failed): nothing more can be sent."""
        if self.state is ConnectionState.OPEN:
            self.state = ConnectionState.CLOSING
            self._live_writer = None
            self._stop_sender()
        self._wake()

    async def shutdown(self) -> None:
        """Finish sending (bounded), then close the socket through ASGI if the server chose to.

        Bounded by ``CLOSE_TIMEOUT_S``: a peer that stopped reading may never let the rest or
        the closing frame out.
        """
        code = self.close_code
        sender = self._sender
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                if sender is not None and code is not None:
                    await sender  # it ends once the queue is empty
                if code is not None and self._writer is None:
                    await self.websocket.close(code, CLOSE_REASONS[code])
        self._stop_sender()
        self._drop_queue()
        self.state = ConnectionState.CLOSED
        self._live_writer = None

    def _drop_queue(self) -> None:
        if self._queue is not None:
            self._queue.clear()
        self._queued_bytes = 0

    def _stop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None and sender is not asyncio.current_task():
            sender.cancel()

    async def _send_forever(self) -> None:
        queue, wakeup = self._queue, self._wakeup
        if queue is None or wakeup is None:
            raise RuntimeError("the sender runs only on the fallback path")
        try:
            while True:
                while queue:
                    out = queue.popleft()
                    self._queued_bytes -= len(out.data)
                    await self.websocket.send_text(out.text())
                if self.state is not ConnectionState.OPEN:
                    return  # closing: everything queued before the close has gone out
                wakeup.clear()
                await wakeup.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The socket failed under us (the peer vanished): the reader sees it too.
            log.info("ws.send_failed", connection_id=self.id, error=type(exc).__name__)
            self.disconnected()
