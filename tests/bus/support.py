"""Helpers for the bus tests: a recording handler, polling with a deadline, unique names, and a
redis-server process of a test's own."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hookhub.bus import Bus

#: How long a test waits for something that should happen at once (a delivery, a reconnect).
WAIT_S = 5.0
#: Reconnecting may first sleep through a few backoff delays (see hookhub.backoff).
RECONNECT_WAIT_S = 10.0
POLL_S = 0.01

#: Starts a bus (see the ``make_bus`` fixture); ``max_queued`` is the only option.
MakeBus = Callable[..., Awaitable[Bus]]


def unique_name() -> str:
    """A name no other test (or test run on the shared Redis) uses."""
    return f"hookhub-test-{uuid.uuid4().hex}"


class Recorder:
    """A bus handler that records ``(topic, message)`` and lets a test await a count."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._changed = asyncio.Event()

    async def __call__(self, topic: str, message: bytes) -> None:
        self.received.append((topic, message))
        self._changed.set()

    @property
    def messages(self) -> list[bytes]:
        return [message for _, message in self.received]

    async def wait_for(self, count: int, timeout_s: float = WAIT_S) -> None:
        """Wait until at least ``count`` messages arrived; fail after ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                while len(self.received) < count:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(
                f"expected {count} messages within {timeout_s} s, got {self.received}"
            ) from None


async def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll ``condition`` with short sleeps; fail with ``what`` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(POLL_S)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """A redis-server process of the test's own, on a fixed port, that may be killed."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self.process is not None:
            raise RuntimeError("already running")
        self.starts += 1
        log = (self.directory / f"redis-{self.starts}.log").open("wb")
        with log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", str(self.directory),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients, as when a machine or container dies."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()

    async def wait_ready(self, timeout_s: float = WAIT_S) -> None:
        """Poll until the server answers PING."""
        client = Redis.from_url(
            self.url, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0, supported_errors=())
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            while True:
                try:
                    await client.ping()
                    return
                except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError):
                    if self.process is None or self.process.poll() is not None:
                        raise AssertionError(f"redis-server on port {self.port} exited") from None
                    if loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.02)
        finally:
            await client.aclose()
