"""Idle memory of hookhub's ``/ws`` connections, by what holds it (``tracemalloc``).

``python -m bench.realtime_memory`` starts hookhub as ``hookhub serve`` runs it (uvicorn on
uvloop with ``hookhub.realtime.transport``, SQLite, the in-memory bus) in a child process that
traces its allocations, connects N idle clients (bench/realtime_client.py, in another process)
with a token for the broadcast channel, sends one broadcast that every client receives (as the
fan-out bench does before it reads the RSS), and prints what the server holds per connection:
the Python objects allocated after one warm-up connection came and went, still alive with the
N clients connected, grouped by the innermost frame of hookhub, FastAPI, Starlette, uvicorn or
websockets that allocated them. A first run without tracing gives the RSS per connection, as the
fan-out bench reads it.

``HOOKHUB_BENCH_CONNECTIONS`` sets N (default 1,000). The breakdown counts Python objects only;
the RSS adds the allocator's overhead and what C libraries (uvloop, libuv) hold.
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.realtime_client import Records, open_client, raise_open_files_limit
from bench.realtime_drive import (
    Publisher,
    ask,
    ask_quietly,
    process_running,
    read_line,
    rss_bytes,
)
from hookhub.realtime.auth import mint

CONNECTIONS = int(os.environ.get("HOOKHUB_BENCH_CONNECTIONS", "1000"))
#: Deep enough to reach from an allocation back past the ASGI layers to the protocol.
TRACE_FRAMES = 64
BROADCAST_CHANNEL = "broadcast"
#: How many allocation sites to list, and how many frames name each one.
TOP_SITES = int(os.environ.get("HOOKHUB_BENCH_SITES", "25"))
SITE_FRAMES = int(os.environ.get("HOOKHUB_BENCH_SITE_FRAMES", "1"))
START_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 300.0
WARM_TIMEOUT_S = 300.0
WARM_PAUSE_S = 0.5
#: Lets per-connection start-up work finish before the snapshot.
SETTLE_S = 1.0
REPO_ROOT = Path(__file__).resolve().parent.parent

#: Who holds an allocation: the first of these found, walking out from where it happened.
#: Standard-library frames (asyncio, contextlib, re, ...) are passed over, so an object is
#: charged to the library code that asked for it.
HOLDERS: tuple[tuple[str, str], ...] = (
    ("hookhub/realtime/transport.py", "uvicorn protocol, hookhub transport, websockets parser"),
    ("uvicorn/", "uvicorn protocol, hookhub transport, websockets parser"),
    ("websockets/", "uvicorn protocol, hookhub transport, websockets parser"),
    ("fastapi/", "FastAPI routing and dependency solving"),
    ("starlette/routing.py", "Starlette routing"),
    ("starlette/middleware/", "Starlette and hookhub middleware"),
    ("starlette/_exception_handler.py", "Starlette and hookhub middleware"),
    ("starlette/applications.py", "Starlette and hookhub middleware"),
    ("hookhub/http/middleware.py", "Starlette and hookhub middleware"),
    ("hookhub/realtime/", "the hub: Connection, hub.serve, the /ws endpoint"),
    ("starlette/", "Starlette WebSocket, headers, query parsing"),
    ("structlog/", "logging context"),
)
OTHER = "the rest (asyncio task, scope, ...)"


def _holder(traceback: tracemalloc.Traceback) -> str:
    # tracemalloc lists frames from the oldest to the most recent.
    for frame in reversed(traceback):
        filename = frame.filename.replace(os.sep, "/")
        for fragment, holder in HOLDERS:
            if fragment in filename:
                return holder
    return OTHER


def _type_counts() -> dict[str, int]:
    """Objects the garbage collector tracks, by type: what each connection holds, counted."""
    counts: dict[str, int] = defaultdict(int)
    for thing in gc.get_objects():
        kind = type(thing)
        counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
    return counts


def _site(traceback: tracemalloc.Traceback) -> str:
    frames = list(traceback)[-SITE_FRAMES:]
    return " < ".join(f"{Path(frame.filename).name}:{frame.lineno}" for frame in reversed(frames))


# -- the server, in its own process --------------------------------------------------------------


async def _serve() -> None:
    import uvicorn

    from hookhub.app import create_app
    from hookhub.config import load_settings
    from hookhub.logging import configure_logging
    from hookhub.realtime import transport

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        http="httptools",
        proxy_headers=False,
        ws_max_size=settings.realtime_max_message_bytes,
        backlog=4096,
        **transport.uvicorn_options(),
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.01)
    print(port, flush=True)

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    baseline: tracemalloc.Snapshot | None = None
    types_before: dict[str, int] = {}
    rss_before = 0
    while line := await reader.readline():
        command, _, argument = line.decode().strip().partition(" ")
        gc.collect()
        if command == "mark":
            rss_before = rss_bytes(os.getpid())
            if argument == "traced":
                # Started here, not at import: tracing the start-up would take a minute.
                tracemalloc.start(TRACE_FRAMES)
                baseline = tracemalloc.take_snapshot()
                types_before = _type_counts()
            print("marked", flush=True)
        elif command == "report":
            count = int(argument)
            report: dict[str, Any] = {"count": count, "rss": rss_bytes(os.getpid()) - rss_before}
            if baseline is not None:
                report.update(_breakdown(baseline, types_before, count))
            print(orjson.dumps(report).decode(), flush=True)
        elif command == "quit":
            break
    server.should_exit = True
    await serving


def _breakdown(
    baseline: tracemalloc.Snapshot, types_before: dict[str, int], count: int
) -> dict[str, Any]:
    held: dict[str, int] = defaultdict(int)
    lines: dict[str, int] = defaultdict(int)
    snapshot = tracemalloc.take_snapshot()
    for stat in snapshot.compare_to(baseline, "traceback"):
        if stat.size_diff <= 0:
            continue
        held[_holder(stat.traceback)] += stat.size_diff
        lines[_site(stat.traceback)] += stat.size_diff
    top = dict(sorted(lines.items(), key=lambda item: -item[1])[:TOP_SITES])
    types_after = _type_counts()
    types = {
        name: number - types_before.get(name, 0)
        for name, number in types_after.items()
        if number - types_before.get(name, 0) >= count // 2
    }
    return {"held": held, "top": top, "types": types}


def serve() -> None:
    import uvloop

    uvloop.run(_serve())


# -- the driver ----------------------------------------------------------------------------------


async def _measure(connections: int, data_dir: Path, *, traced: bool) -> dict[str, Any]:
    token_secret = secrets.token_urlsafe(32)
    internal_secret = secrets.token_urlsafe(32)
    env = {
        "HOOKHUB_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'memory.db'}",
        "HOOKHUB_TOKEN_SECRET": token_secret,
        "HOOKHUB_INTERNAL_SECRET": internal_secret,
        "HOOKHUB_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "HOOKHUB_LOG_LEVEL": "warning",
        # The load generator's clients do not answer the hub's pings, and connecting thousands
        # of them to a traced server takes longer than the idle timeout.
        "HOOKHUB_REALTIME_IDLE_TIMEOUT_S": "0",
    }
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "hookhub", "migrate"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    token, _ = mint(token_secret, user="bench", channels=[BROADCAST_CHANNEL], now=datetime.now(UTC))
    path = f"/ws?token={token}"
    command = [sys.executable, "-m", "bench.realtime_memory", "serve"]
    async with process_running(command, env) as server:
        port = int(await read_line(server, START_TIMEOUT_S))
        publisher = Publisher(
            port, "/api/internal/broadcast", (("x-internal-secret", internal_secret),)
        )
        # One connection comes and goes first, so first-use caches are not counted.
        warm = await open_client("127.0.0.1", port, path, Records())
        await publisher.publish(0)
        await asyncio.sleep(SETTLE_S)
        warm.close()
        await asyncio.sleep(SETTLE_S)
        await ask(server, "mark traced" if traced else "mark")
        options = {"host": "127.0.0.1", "port": port, "path": path, "connections": connections}
        client_command = [
            sys.executable,
            "-m",
            "bench.realtime_client",
            orjson.dumps(options).decode(),
        ]
        async with process_running(client_command) as clients:
            connected = int((await read_line(clients, CONNECT_TIMEOUT_S)).split()[1])
            # Traced, the server is many times slower: wait by the clock, not by tries.
            deadline = time.monotonic() + WARM_TIMEOUT_S
            while int(await ask(clients, "warm")) < connected:
                if time.monotonic() > deadline:
                    raise RuntimeError("not every client had the broadcast")
                await publisher.publish(0)
                await asyncio.sleep(WARM_PAUSE_S)
            await asyncio.sleep(SETTLE_S)
            report: dict[str, Any] = orjson.loads(await ask(server, f"report {connected}"))
            await ask_quietly(clients, "quit")
        await publisher.close()
        await ask_quietly(server, "quit")
    return report


def _table(report: dict[str, Any]) -> Table:
    count = report["count"]
    table = Table(title=f"Idle /ws connection, Python objects held ({count:,} connections)")
    table.add_column("held by")
    table.add_column("bytes/conn", justify="right")
    held: dict[str, int] = report["held"]
    for holder, size in sorted(held.items(), key=lambda item: -item[1]):
        table.add_row(holder, f"{size / count:,.0f}")
    table.add_row("total", f"{sum(held.values()) / count:,.0f}")
    return table


async def main() -> None:
    console = Console()
    raise_open_files_limit(CONNECTIONS + 1_000)
    data_dir = Path(tempfile.mkdtemp(prefix="hookhub-bench-"))
    try:
        # RSS from a run without tracing (tracemalloc's own records would be counted in it),
        # then the breakdown from a traced run.
        untraced = await _measure(CONNECTIONS, data_dir, traced=False)
        console.print(
            f"RSS per idle connection (untraced run, {untraced['count']:,} connections): "
            f"{untraced['rss'] / untraced['count'] / 1024:.1f} KiB"
        )
        report = await _measure(CONNECTIONS, data_dir, traced=True)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    console.print(_table(report))
    count = report["count"]
    top = Table(title="Top allocation sites (bytes/conn)")
    top.add_column("where")
    top.add_column("bytes/conn", justify="right")
    for where, size in report["top"].items():
        if size / count >= 16:
            top.add_row(where, f"{size / count:,.0f}")
    console.print(top)
    kinds = Table(title="Objects (tracked by the garbage collector) per connection")
    kinds.add_column("type")
    kinds.add_column("per conn", justify="right")
    for name, number in sorted(report["types"].items(), key=lambda item: -item[1]):
        kinds.add_row(name, f"{number / count:.2f}")
    console.print(kinds)


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        serve()
    else:
        asyncio.run(main())
