"""In-process stand-ins for the hub tests: a WebSocket and a frame writer that record."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

#: How long a test waits for something that should happen at once.
WAIT_S = 5.0


class FakeClock:
    """Monotonic seconds that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeWriter:
    """The ``hookhub.frame_writer`` extension: records frames; ``buffered`` is set by tests."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.buffered = 0
        self.closed: tuple[int, str] | None = None
        self.socket: FakeSocket | None = None

    def write(self, frame: bytes) -> None:
        self.frames.append(frame)

    def write_within(self, frame: bytes, max_buffered_bytes: int) -> bool:
        if self.buffered > max_buffered_bytes:
            return False
        self.write(frame)
        return True

    def buffered_bytes(self) -> int:
        return self.buffered

    def close(self, code: int, reason: str) -> None:
        # As the real writer: the application's receive then returns a disconnect.
        self.closed = (code, reason)
        if self.socket is not None:
            self.socket.inbound.put_nowait({"type": "websocket.disconnect", "code": code})

    def messages(self) -> list[Any]:
        # A server text frame: 0x81, a length (7, 7+16 or 7+64 bits), then the payload.
        decoded = []
        for frame in self.frames:
            assert frame[0] == 0x81
            length = frame[1]
            start = 2 if length < 126 else 4 if length == 126 else 10
            decoded.append(json.loads(frame[start:]))
        return decoded


class FakeSocket:
    """What the hub uses of a Starlette WebSocket. ``reading`` cleared = a peer that stalls."""

    def __init__(self, writer: FakeWriter | None = None) -> None:
        self.scope: dict[str, Any] = {"extensions": {}}
        if writer is not None:
            self.scope["extensions"]["hookhub.frame_writer"] = writer
            writer.socket = self
        self.sent: list[str] = []
        self.inbound: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: tuple[int, str] | None = None
        self.reading = asyncio.Event()
        self.reading.set()
        self._changed = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        return await self.inbound.get()

    async def send_text(self, text: str) -> None:
        await self.reading.wait()
        self.sent.append(text)
        self._changed.set()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason or "")

    def client_sends(self, message: Any) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.inbound.put_nowait({"type": "websocket.receive", "text": text})

    def client_sends_bytes(self, data: bytes) -> None:
        self.inbound.put_nowait({"type": "websocket.receive", "bytes": data})

    def client_leaves(self) -> None:
        self.inbound.put_nowait({"type": "websocket.disconnect", "code": 1000})

    def messages(self) -> list[Any]:
        return [json.loads(text) for text in self.sent]

    async def wait_for(self, count: int) -> list[Any]:
        """Wait until ``count`` messages were sent; all of them."""
        async with asyncio.timeout(WAIT_S):
            while len(self.sent) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.messages()


async def until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds; fail after ``WAIT_S``."""
    async with asyncio.timeout(WAIT_S):
        while not condition():  # noqa: ASYNC110 (a condition on plain state, not an event)
            await asyncio.sleep(0)
