"""The hub's own CPU per delivered message, in one process, with no sockets.

The fan-out bench (bench/realtime.py) needs a quiet machine: its server shares the kernel's TCP
work and the scheduler with everything else. This one measures only hookhub's Python work, with
every connection's socket replaced by a stub whose methods are C built-ins (as uvloop's are), so
what is left is what hookhub adds per receiver and per publish:

- **frame writer loop**: the floor, for reference: what bench/realtime_servers.py's minimal
  ``writer`` app does per receiver (``buffered_bytes``, then ``write`` of one prepared frame);
- **fan-out**: ``Hub.fan_out`` of one prepared publication to N connections (``Connection.push``
  and the frame writer, per receiver);
- **deliver**: ``Hub.deliver``: encoding, the channel history, then the fan-out;
- **publish request**: ``POST /api/internal/broadcast`` through the whole ASGI application
  (middleware, FastAPI, the in-memory bus, history, fan-out) with N connections subscribed;
  uvicorn's HTTP parsing is not included.

Each figure is CPU time (``time.process_time``), the best of ``REPEATS`` rounds, per delivered
message; the best round is the one least disturbed by other work on the machine.

``python -m bench.realtime_cpu --callgrind`` counts instructions instead (valgrind's callgrind,
``PYTHONHASHSEED=0``): each case runs twice under valgrind, with ``LOW`` and ``HIGH``
broadcasts, and the difference over the extra deliveries is the cost of one, the same on a busy
machine as on a quiet one.
"""

from __future__ import annotations

import asyncio
import collections
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

CONNECTIONS = int(os.environ.get("HOOKHUB_BENCH_CONNECTIONS", "1000"))
BROADCASTS = 200
REPEATS = 7
#: Broadcasts in the two callgrind runs of each case.
LOW, HIGH = 5, 25
CASES = ("frame writer loop", "fan-out", "deliver", "publish request")
#: The per-connection bound of the reference loop (the hub's default).
MAX_BUFFERED_BYTES = 1024 * 1024
CHANNEL = "broadcast"
PAYLOAD = {"type": "bench.tick", "seq": 1, "pad": "x" * 60}
REPO_ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")


class StubTransport:
    """An asyncio transport whose methods are C built-ins: nothing of its own is measured."""

    def __init__(self) -> None:
        self.write = collections.deque(maxlen=1).append
        self.get_write_buffer_size = int  # int() is 0: the peer keeps up
        self.is_closing = bool  # bool() is False


class StubProtocol:
    """What ``FrameWriter`` reads of uvicorn's protocol, for an open connection."""

    def __init__(self) -> None:
        self.transport = StubTransport()
        self.close_sent = False
        self.disconnected = False
        self.handshake_complete = True

    def close_from_writer(self, code: int, reason: str) -> None:
        raise RuntimeError("no connection falls behind here")


class StubSocket:
    """What the hub uses of a Starlette WebSocket: a scope with a frame writer; no messages."""

    def __init__(self) -> None:
        from hookhub.realtime.transport import FRAME_WRITER_EXTENSION, FrameWriter

        writer = FrameWriter(StubProtocol())  # type: ignore[arg-type]
        self.scope = {"extensions": {FRAME_WRITER_EXTENSION: writer}}
        self._closed: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def receive(self) -> dict[str, Any]:
        return await self._closed

    def leave(self) -> None:
        self._closed.set_result({"type": "websocket.disconnect", "code": 1000})


async def _connect(hub: Any, count: int) -> list[StubSocket]:
    from hookhub.realtime.auth import Grant

    grant = Grant(user=None, patterns=(CHANNEL,))
    sockets = [StubSocket() for _ in range(count)]
    for socket in sockets:
        asyncio.create_task(hub.serve(socket, grant))  # noqa: RUF006 (ended by leave())
    while len(hub.connections) < count:  # noqa: ASYNC110 (plain state of this loop's tasks)
        await asyncio.sleep(0)
    return sockets


async def _disconnect(hub: Any, sockets: list[StubSocket]) -> None:
    for socket in sockets:
        socket.leave()
    while hub.connections:  # noqa: ASYNC110 (plain state of this loop's tasks)
        await asyncio.sleep(0)


def _hub() -> Any:
    from hookhub.bus.memory import MemoryBus
    from hookhub.realtime.history import MemoryHistory
    from hookhub.realtime.hub import Hub

    return Hub(
        bus=MemoryBus(), history=MemoryHistory(monotonic=time.monotonic), monotonic=time.monotonic
    )


async def _hub_case(case: str, broadcasts: int, rounds: int) -> list[float]:
    """CPU seconds of each round of ``broadcasts`` broadcasts to every connection."""
    from hookhub.realtime.channels import Publication
    from hookhub.realtime.connection import Outgoing

    hub = _hub()
    sockets = await _connect(hub, CONNECTIONS)
    seconds = []
    for _ in range(rounds):
        started = time.process_time()
        if case == "fan-out":
            for seq in range(broadcasts):
                message = {**PAYLOAD, "seq": seq}
                hub.fan_out(Publication(CHANNEL, message, Outgoing.of(message), None))
        else:
            for seq in range(broadcasts):
                await hub.deliver(CHANNEL, {**PAYLOAD, "seq": seq}, message_id=f"m{seq}")
        seconds.append(time.process_time() - started)
    await _disconnect(hub, sockets)
    return seconds


async def _publish_case(broadcasts: int, rounds: int) -> list[float]:
    from hookhub.app import create_app
    from hookhub.config import Settings
    from hookhub.store.engine import Database
    from hookhub.store.migrate import upgrade

    secret = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="hookhub-bench-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'cpu.db'}"
        database = Database(url)
        await upgrade(database)
        await database.close()
        settings = Settings(
            database_url=url,
            admin_token=secrets.token_urlsafe(32),
            internal_secret=secret,
            log_level="warning",
            dispatcher_enabled=False,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            hub = app.state.services.realtime.hub
            sockets = await _connect(hub, CONNECTIONS)
            call = _publish_call(app, secret)
            seconds = []
            for _ in range(rounds):
                started = time.process_time()
                for seq in range(broadcasts):
                    expected = hub.delivered + CONNECTIONS
                    await call({**PAYLOAD, "seq": seq})
                    # The bus hands the message to the hub's subscription task.
                    while hub.delivered < expected:  # noqa: ASYNC110 (as above)
                        await asyncio.sleep(0)
                seconds.append(time.process_time() - started)
            await _disconnect(hub, sockets)
    return seconds


def _publish_call(app: Any, secret: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """One ``POST /api/internal/broadcast`` as uvicorn would hand it to the application."""

    async def call(message: dict[str, Any]) -> None:
        body = orjson.dumps(message)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/internal/broadcast",
            "raw_path": b"/api/internal/broadcast",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-internal-secret", secret.encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(event: dict[str, Any]) -> None:
            if event["type"] == "http.response.start":
                status.append(event["status"])

        await app(scope, receive, send)
        if status != [200]:
            raise RuntimeError(f"publish answered {status}")

    return call


def _writer_loop(broadcasts: int, rounds: int) -> list[float]:
    from hookhub.realtime.transport import FrameWriter, encode_text_frame

    writers = [FrameWriter(StubProtocol()) for _ in range(CONNECTIONS)]  # type: ignore[arg-type]
    seconds = []
    for _ in range(rounds):
        started = time.process_time()
        for seq in range(broadcasts):
            frame = encode_text_frame(orjson.dumps({**PAYLOAD, "seq": seq}))
            for writer in writers:
                if writer.buffered_bytes() > MAX_BUFFERED_BYTES:
                    raise RuntimeError("no connection falls behind here")
                writer.write(frame)
        seconds.append(time.process_time() - started)
    return seconds


async def _run(case: str, broadcasts: int, rounds: int) -> list[float]:
    if case == "frame writer loop":
        return _writer_loop(broadcasts, rounds)
    if case == "publish request":
        return await _publish_case(broadcasts, rounds)
    return await _hub_case(case, broadcasts, rounds)


def _timings(console: Console) -> None:
    import uvloop

    table = Table(title=f"hookhub's own CPU per delivered message ({CONNECTIONS:,} connections)")
    table.add_column("case")
    table.add_column("µs/msg (best)", justify="right")
    table.add_column("µs/msg (median)", justify="right")
    for case in CASES:
        seconds = sorted(uvloop.run(_run(case, BROADCASTS, REPEATS)))
        per = BROADCASTS * CONNECTIONS
        table.add_row(
            case, f"{seconds[0] / per * 1e6:.3f}", f"{seconds[len(seconds) // 2] / per * 1e6:.3f}"
        )
    console.print(table)


def _instructions(case: str, broadcasts: int) -> int:
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [  # noqa: S607 (valgrind from the PATH, as a developer runs it)
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={Path(folder) / 'out'}",
                sys.executable,
                "-m",
                "bench.realtime_cpu",
                "--once",
                case,
                str(broadcasts),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
            check=True,
        )
    found = _COLLECTED.search(result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind: {result.stderr[-500:]}")
    return int(found.group(1))


def _callgrind(console: Console, cases: list[str]) -> None:
    table = Table(
        title=f"Instructions per delivered message ({CONNECTIONS:,} connections, callgrind)"
    )
    table.add_column("case")
    table.add_column("instructions/msg", justify="right")
    for case in cases:
        low, high = _instructions(case, LOW), _instructions(case, HIGH)
        table.add_row(case, f"{(high - low) / ((HIGH - LOW) * CONNECTIONS):,.0f}")
    console.print(table)


def main() -> None:
    from hookhub.logging import configure_logging

    configure_logging("warning")
    console = Console()
    arguments = sys.argv[1:]
    if arguments[:1] == ["--once"]:
        import uvloop

        uvloop.run(_run(arguments[1], int(arguments[2]), 1))
    elif arguments[:1] == ["--callgrind"]:
        _callgrind(console, arguments[1:] or list(CASES))
    else:
        _timings(console)


if __name__ == "__main__":
    main()
