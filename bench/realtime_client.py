"""The load generator for bench/realtime.py: many WebSocket clients in one light process.

A raw asyncio protocol on uvloop, not the ``websockets`` client: it parses server frames by hand
(a server never masks) and looks only for the broadcast's sequence number, so one core receives
far more messages a second than any server under test can send. It speaks plain WebSocket
(hookhub, Node ``ws``, the minimal apps) and Engine.IO v4 over WebSocket (python-socketio).

Run as ``python -m bench.realtime_client '<json options>'``. It connects every client, prints
``connected <n> <failed>``, then answers commands on stdin, one a line:

- ``warm``: prints how many connections have had at least one broadcast (of any sequence
  number); the bench publishes sequence 0 until every connection has one.
- ``report <json list of publish times>``: prints, as JSON, what arrived for sequence numbers
  1 and up: count, publish-to-receive percentiles, first and last receipt (``time.time()``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import resource
import statistics
import sys
import time
from array import array
from collections.abc import Callable
from typing import Any

import orjson

#: Connection attempts in flight at once: more only overflows the server's listen backlog.
CONNECT_CONCURRENCY = 100
CONNECT_TIMEOUT_S = 30.0
SEQ_PATTERN = re.compile(rb'"seq":\s*(\d+)')
_OP_TEXT = 0x1
_OP_CLOSE = 0x8
_OP_PING = 0x9
_OP_PONG = 0xA
ENGINEIO_PING = b"2"
ENGINEIO_PONG = b"3"
ENGINEIO_OPEN = b"0"
SOCKETIO_CONNECT = b"40"


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame: RFC 6455 section 5.3 requires clients to mask every frame."""
    mask = os.urandom(4)
    length = len(payload)
    if length <= 125:
        header = bytes((0x80 | opcode, 0x80 | length))
    else:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    key = int.from_bytes((mask * (length // 4 + 1))[:length], "big") if length else 0
    body = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big") if length else b""
    return header + mask + body


class Records:
    """Sequence numbers and receipt times, for every client of the process."""

    def __init__(self) -> None:
        self.seqs = array("q")
        self.times = array("d")


class FrameClient(asyncio.Protocol):
    """One WebSocket client: handshake, then count broadcasts and answer pings."""

    def __init__(
        self,
        host: str,
        path: str,
        records: Records,
        *,
        engineio: bool = False,
        send_after_open: list[bytes] | None = None,
        on_seq: Callable[[int], None] | None = None,
    ) -> None:
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self._records = records
        self._engineio = engineio
        self._send_after_open = send_after_open or []
        self._on_seq = on_seq
        self._transport: Any = None  # uvloop's transports are not asyncio.Transport
        self._buffer = b""
        self._upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.warm = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send_text(self, payload: bytes) -> None:
        self._transport.write(masked_frame(_OP_TEXT, payload))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        if not self._upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(data[: data.find(b"\r\n")].decode()))
                self._transport.close()
                return
            self._upgraded = True
            if not self._engineio:
                for message in self._send_after_open:
                    self.send_text(message)
            self.opened.set_result(None)
            data = data[end + 4 :]
        self._frames(data)

    def _frames(self, data: bytes) -> None:
        now = time.time()
        size = len(data)
        pos = 0
        records = self._records
        while size - pos >= 2:
            length = data[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > size:
                break
            opcode = data[pos] & 0x0F
            if opcode == _OP_TEXT:
                match = SEQ_PATTERN.search(data, start, end)
                if match is not None:
                    seq = int(match.group(1))
                    records.seqs.append(seq)
                    records.times.append(now)
                    self.warm = True
                    if self._on_seq is not None:
                        self._on_seq(seq)
                elif self._engineio:
                    self._engineio_packet(data[start:end])
            elif opcode == _OP_PING:
                self._transport.write(masked_frame(_OP_PONG, data[start:end]))
            elif opcode == _OP_CLOSE:
                self._transport.write(masked_frame(_OP_CLOSE, data[start:end]))
                self._transport.close()
                return
            pos = end
        if pos < size:
            self._buffer = data[pos:]

    def _engineio_packet(self, packet: bytes) -> None:
        if packet == ENGINEIO_PING:
            self.send_text(ENGINEIO_PONG)
        elif packet.startswith(ENGINEIO_OPEN):
            # Engine.IO is open: join the default Socket.IO namespace.
            self.send_text(SOCKETIO_CONNECT)
            for message in self._send_after_open:
                self.send_text(message)


async def open_client(
    host: str, port: int, path: str, records: Records, **options: Any
) -> FrameClient:
    loop = asyncio.get_running_loop()
    _transport, client = await loop.create_connection(
        lambda: FrameClient(f"{host}:{port}", path, records, **options), host, port
    )
    await asyncio.wait_for(client.opened, CONNECT_TIMEOUT_S)
    return client


def percentiles(values: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``values``."""
    if len(values) < 2:
        value = values[0] if values else float("nan")
        return value, value
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[98]


def report(records: Records, published_at: list[float]) -> dict[str, Any]:
    """What arrived for sequence numbers 1 and up (0 is the warm-up)."""
    latencies = [
        at - published_at[seq]
        for seq, at in zip(records.seqs, records.times, strict=True)
        if 0 < seq < len(published_at)
    ]
    measured = [at for seq, at in zip(records.seqs, records.times, strict=True) if seq > 0]
    p50, p99 = percentiles(latencies)
    return {
        "received": len(latencies),
        "p50_ms": p50 * 1000,
        "p99_ms": p99 * 1000,
        "first_at": min(measured, default=0.0),
        "last_at": max(measured, default=0.0),
    }


def raise_open_files_limit(needed: int) -> None:
    """Each connection is a file descriptor; the usual soft limit of 1,024 is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def run(options: dict[str, Any]) -> None:
    count: int = options["connections"]
    raise_open_files_limit(count + 1_000)
    records = Records()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    client_options = {
        "engineio": options.get("engineio", False),
        "send_after_open": [m.encode() for m in options.get("send_after_open", [])],
    }

    async def one() -> FrameClient | None:
        async with gate:
            try:
                return await open_client(
                    options["host"], options["port"], options["path"], records, **client_options
                )
            except (OSError, ConnectionError, TimeoutError):
                return None

    opened = await asyncio.gather(*(one() for _ in range(count)))
    clients = [client for client in opened if client is not None]
    print(f"connected {len(clients)} {count - len(clients)}", flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command, _, argument = line.decode().strip().partition(" ")
        if command == "warm":
            print(sum(client.warm for client in clients), flush=True)
        elif command == "report":
            print(orjson.dumps(report(records, orjson.loads(argument))).decode(), flush=True)
        elif command == "quit":
            break
    for client in clients:
        client.close()


def main() -> None:
    import uvloop

    uvloop.run(run(orjson.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
