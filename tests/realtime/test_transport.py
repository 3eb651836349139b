"""Prepared frames on a real uvicorn: what a `websockets` client (or a raw socket) receives.

Every scenario runs on the standard asyncio loop and on uvloop (what `hookhub serve` runs), since
the writer talks to the loop's transport directly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import pytest
import uvicorn
import uvloop
from uvicorn.protocols.utils import ClientDisconnected
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from hookhub.realtime.transport import (
    FRAME_WRITER_EXTENSION,
    FrameWriter,
    WriterState,
    encode_text_frame,
    uvicorn_options,
)

START_TIMEOUT_S = 10.0
#: Short, so the test of a peer that never reads does not wait the default 10 s.
CLOSE_TIMEOUT_S = 0.2
#: A frame big enough that a few hundred of them overflow the socket buffers of a peer
#: that does not read.
FLOOD_FRAME_BYTES = 64 * 1024
MAX_FLOOD_FRAMES = 2_000

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def run_on(loop_name: str, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        runner.run(scenario())


class Connection:
    """One accepted WebSocket, as the test's app sees it."""

    def __init__(self, scope: dict[str, Any], send: Callable[[dict[str, Any]], Awaitable[None]]):
        self.writer: FrameWriter = scope["extensions"][FRAME_WRITER_EXTENSION]
        self._send = send
        self.received: asyncio.Queue[str] = asyncio.Queue()
        self.disconnect: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})


class App:
    """Accepts every WebSocket and keeps what it receives. On ``/early`` it first tries to
    write a frame before accepting, and notes what happened."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[Connection] = asyncio.Queue()
        self.early: list[tuple[WriterState, Exception | None]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        assert (await receive())["type"] == "websocket.connect"
        if scope["path"] == "/early":
            writer: FrameWriter = scope["extensions"][FRAME_WRITER_EXTENSION]
            try:
                writer.write(encode_text_frame(b"too early"))
            except RuntimeError as exc:
                self.early.append((writer.state, exc))
            else:
                self.early.append((writer.state, None))
        await send({"type": "websocket.accept"})
        connection = Connection(scope, send)
        self.connections.put_nowait(connection)
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                connection.disconnect.set_result(message)
                return
            connection.received.put_nowait(message["text"])


@contextlib.asynccontextmanager
async def serving(app: App) -> AsyncIterator[tuple[uvicorn.Server, str]]:
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="off",
        interface="asgi3",
        **uvicorn_options(close_timeout_s=CLOSE_TIMEOUT_S),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(START_TIMEOUT_S):
        # uvicorn exposes no event for "listening", only this flag.
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield server, f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def parse_frame(data: bytes) -> Frame:
    """Parse ``data`` with the websockets library's own frame parser, as a client would."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None, extensions=[])
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame: Frame = done.value.value
    assert reader.at_eof()  # nothing after the frame
    return frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_encode_text_frame_is_one_final_unmasked_text_frame(size: int) -> None:
    payload = (b'{"n":1}' * (size // 7 + 1))[:size]
    frame = parse_frame(encode_text_frame(payload))
    assert frame.opcode is Opcode.TEXT
    assert frame.fin
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)
    assert frame.data == payload


@pytest.mark.parametrize("loop_name", LOOPS)
def test_written_frames_interleave_with_asgi_messages_in_order(loop_name: str) -> None:
    async def scenario() -> None:
        app = App()
        async with serving(app) as (_server, url), connect(f"{url}/ws") as client:
            connection = await app.connections.get()
            assert connection.writer.state is WriterState.OPEN
            large = "x" * 70_000  # a 64-bit length on the wire
            connection.writer.write(encode_text_frame(b'{"n": 1}'))
            await connection.send_text('{"n": 2}')
            connection.writer.write(encode_text_frame(b'{"n": 3}'))
            connection.writer.write(encode_text_frame("é ✓".encode()))
            await connection.send_text("plain")
            connection.writer.write(encode_text_frame(large.encode()))
            got = [await client.recv() for _ in range(6)]
            assert got == ['{"n": 1}', '{"n": 2}', '{"n": 3}', "é ✓", "plain", large]
            # Receiving through ASGI keeps working on the same connection.
            await client.send("hello")
            assert await connection.received.get() == "hello"
            await connection.send_text("ack")
            assert await client.recv() == "ack"

    run_on(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_compression_is_never_negotiated(loop_name: str) -> None:
    async def scenario() -> None:
        app = App()
        # The websockets client offers permessage-deflate by default; prepared frames are sent
        # as they are, so the server must decline it.
        async with serving(app) as (_server, url), connect(f"{url}/ws") as client:
            connection = await app.connections.get()
            assert client.protocol.extensions == []
            connection.writer.write(encode_text_frame(b"plain"))
            assert await client.recv() == "plain"

    run_on(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_close_sends_the_code_and_drops_later_frames(loop_name: str) -> None:
    async def scenario() -> None:
        app = App()
        async with serving(app) as (_server, url), connect(f"{url}/ws") as client:
            connection = await app.connections.get()
            connection.writer.write(encode_text_frame(b"before"))
            connection.writer.close(4008, "slow consumer")
            assert connection.writer.state is WriterState.CLOSED
            # After a closing frame, writes are dropped without an error (RFC 6455 5.5.1),
            # and a second close changes nothing.
            connection.writer.write(encode_text_frame(b"after"))
            assert connection.writer.write_within(encode_text_frame(b"after"), 1 << 20)
            connection.writer.close(1000, "again")
            assert await client.recv() == "before"
            with pytest.raises(ConnectionClosed) as closed:
                await client.recv()
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4008, "slow consumer")
            # The application learns of the close through ASGI receive.
            disconnect = await connection.disconnect
            assert (disconnect["code"], disconnect["reason"]) == (4008, "slow consumer")

    run_on(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_frames_after_the_peer_closed_are_dropped(loop_name: str) -> None:
    async def scenario() -> None:
        app = App()
        async with serving(app) as (_server, url):
            async with connect(f"{url}/ws") as client:
                connection = await app.connections.get()
                await client.close(1001, "going away")
            disconnect = await connection.disconnect
            assert disconnect["code"] == 1001
            assert connection.writer.state is WriterState.CLOSED
            connection.writer.write(encode_text_frame(b"late"))
            connection.writer.close(4008, "slow consumer")

    run_on(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_writing_before_accept_is_refused(loop_name: str) -> None:
    async def scenario() -> None:
        app = App()
        async with serving(app) as (_server, url), connect(f"{url}/early") as client:
            connection = await app.connections.get()
            await connection.send_text("first")
            # The refused frame never reached the peer: the first message is the app's.
            assert await client.recv() == "first"
            [(state, error)] = app.early
            assert state is WriterState.CONNECTING
            assert error is not None
            assert "before the WebSocket was accepted" in str(error)

    run_on(loop_name, scenario)


def _handshake(port: int) -> socket.socket:
    """A client that completes the handshake, then never reads again."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive buffer, so the server's side fills up after a few frames.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return raw


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_peer_that_stops_reading_shows_in_buffered_bytes_and_is_dropped_on_close(
    loop_name: str,
) -> None:
    async def scenario() -> None:
        app = App()
        async with serving(app) as (server, url):
            port = int(url.rsplit(":", 1)[1])
            raw = await asyncio.to_thread(_handshake, port)
            try:
                stalled = await app.connections.get()
                async with connect(f"{url}/ws") as reader:
                    healthy = await app.connections.get()
                    frame = encode_text_frame(b"x" * FLOOD_FRAME_BYTES)
                    assert stalled.writer.buffered_bytes() == 0
                    written = 0
                    while stalled.writer.buffered_bytes() < 4 * FLOOD_FRAME_BYTES:
                        assert written < MAX_FLOOD_FRAMES, "the buffer never grew"
                        stalled.writer.write(frame)
                        written += 1
                        # Let the loop try to flush, as it would between broadcasts.
                        await asyncio.sleep(0)
                    buffered = stalled.writer.buffered_bytes()
                    assert buffered >= 4 * FLOOD_FRAME_BYTES
                    # Over the bound, write_within writes nothing and says so.
                    assert not stalled.writer.write_within(frame, 4 * FLOOD_FRAME_BYTES - 1)
                    assert stalled.writer.buffered_bytes() == buffered
                    # The other connection is not held back by the stalled one.
                    healthy.writer.write(encode_text_frame(b"still flowing"))
                    assert await reader.recv() == "still flowing"
                    assert healthy.writer.write_within(encode_text_frame(b"within"), 0)
                    assert await reader.recv() == "within"
                    assert healthy.writer.buffered_bytes() == 0

                    # An ordinary ASGI send on the stalled connection waits for the buffer
                    # to drain (uvicorn's flow control)...
                    waiting_send = asyncio.create_task(stalled.send_text("blocked"))
                    await asyncio.sleep(0)
                    assert not waiting_send.done()

                    stalled.writer.close(4008, "slow consumer")
                    disconnect = await stalled.disconnect
                    assert disconnect["code"] == 4008
                    # The peer never answers the closing frame: after the close timeout the
                    # connection is dropped with its buffer.
                    async with asyncio.timeout(START_TIMEOUT_S):
                        # uvicorn forgets a connection when its socket is gone.
                        while len(server.server_state.connections) > 1:  # noqa: ASYNC110
                            await asyncio.sleep(0.01)
                    assert stalled.writer.state is WriterState.CLOSED
                    # ...and is released, with an error, once the connection is gone.
                    with pytest.raises(ClientDisconnected):
                        await waiting_send
            finally:
                raw.close()

    run_on(loop_name, scenario)
