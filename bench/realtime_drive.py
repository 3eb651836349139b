"""How bench/realtime.py drives its processes: pinning, CPU and memory readings, publishing.

Split from bench/realtime.py so that module holds the scenario and the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson

from bench.realtime_client import FrameClient

PAYLOAD_BYTES = 100
START_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 60.0
REPO_ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


# -- processes -----------------------------------------------------------------------------------


def cpu_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds used so far by process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS_PER_S, int(fields[12]) / CLOCK_TICKS_PER_S


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES


def pinned(core: str, *command: str) -> list[str]:
    # taskset execs the command, so the child's pid is the server's own.
    return ["taskset", "-c", core, *command]


@contextlib.asynccontextmanager
async def process_running(
    command: list[str], env: dict[str, str] | None = None, *, stdout: bool = True
) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        limit=1 << 24,
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def read_line(process: asyncio.subprocess.Process, timeout_s: float) -> str:
    if process.stdout is None:
        raise RuntimeError("stdout is not piped")
    line = await asyncio.wait_for(process.stdout.readline(), timeout_s)
    if not line:
        raise RuntimeError(f"process {process.pid} ended (exit code {process.returncode})")
    return line.decode().strip()


async def ask(process: asyncio.subprocess.Process, command: str) -> str:
    if process.stdin is None:
        raise RuntimeError("stdin is not piped")
    process.stdin.write(command.encode() + b"\n")
    await process.stdin.drain()
    return await read_line(process, PROBE_TIMEOUT_S)


# -- publishing ------------------------------------------------------------------------------------


class Publisher:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, port: int, path: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._port = port
        self._path = path
        self._headers = headers
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def publish(self, seq: int) -> None:
        # A 100-byte payload object; the sequence number is how clients tell broadcasts apart.
        head = {"type": "bench.tick", "seq": seq, "pad": ""}
        pad = PAYLOAD_BYTES - len(orjson.dumps(head))
        body = orjson.dumps({**head, "pad": "x" * max(0, pad)})
        headers = "".join(f"{name}: {value}\r\n" for name, value in self._headers)
        request = (
            f"POST {self._path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{headers}\r\n".encode()
            + body
        )
        status_line, answer = await self._request(request)
        if not status_line:
            # The server closed the idle keep-alive connection (uvicorn and Node after 5 s,
            # while clients connect): the request was not read, so send it again.
            self._writer = None
            status_line, answer = await self._request(request)
        if b" 200 " not in status_line:
            raise RuntimeError(f"publish answered {status_line!r}: {answer[:200]!r}")

    async def _request(self, request: bytes) -> tuple[bytes, bytes]:
        if self._writer is None:
            await self._connect()
        assert self._reader is not None
        assert self._writer is not None
        self._writer.write(request)
        try:
            status_line = await self._reader.readline()
        except ConnectionError:
            return b"", b""
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status_line, await self._reader.readexactly(length)

    async def _connect(self) -> None:
        # The Python servers print their port before uvicorn listens on it.
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
                return
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class Probe:
    """One more client, connected after all the others, so each broadcast reaches it last."""

    def __init__(self) -> None:
        self.highest = -1
        self._changed = asyncio.Event()
        self.client: FrameClient | None = None

    def seen(self, seq: int) -> None:
        self.highest = max(self.highest, seq)
        self._changed.set()

    async def wait_for(self, seq: int) -> None:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            while self.highest < seq:
                self._changed.clear()
                await self._changed.wait()


async def ask_quietly(process: asyncio.subprocess.Process, command: str) -> None:
    if process.stdin is not None:
        process.stdin.write(command.encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()
