"""WebSocket fan-out: hookhub's hub against Node ``ws``, python-socketio and two minimal apps.

Every server runs alone on one core and the clients on the other (``taskset``):

- the server under test, in its own process, on core 0;
- the load generator (bench/realtime_client.py: raw WebSocket clients on uvloop), in its own
  process on core 1, with this process (the publisher) beside it.

Each scenario connects N clients to one channel, publishes sequence number 0 until every client
has had one (warm-up; it also proves every subscription took), notes the server's memory, then
publishes B broadcasts of a 100-byte payload. The publisher keeps one publish request in flight
and never runs more than ``LEAD`` broadcasts ahead of a probe client that connected last (the
last one each broadcast reaches), so the server always has work and no backlog builds up.

- **deliveries/s**: messages received by all clients, divided by the time from the first
  publish to the last receipt;
- **p50/p99**: publish-to-receive, from just before the publish request to the client's read;
- **server CPU µs/msg**: the server process's CPU over the broadcasts, per delivered message
  (publish requests included), split into user (the server's own code) and system (the kernel,
  mostly the TCP send on loopback, which also delivers into the client's socket);
- **client CPU**: the load generator's share of its core, which shows it is not the bottleneck;
- **KiB/conn**: idle memory, the server's RSS with N clients connected and subscribed minus its
  RSS before the first one, over N.

The servers: hookhub (``hookhub serve`` on SQLite and the in-memory bus, which runs uvicorn with
``hookhub.realtime.transport``; clients on ``/ws`` with a connection token for the broadcast
channel, broadcasts through ``POST /api/internal/broadcast``); Node ``ws`` 8 (installed with npm
into bench/realtime_node/ on first run) writing one pre-encoded frame per socket; the minimal
apps of bench/realtime_servers.py (``writer``: hookhub's transport alone; ``send_text``:
``await send_text`` on each socket in turn); python-socketio 5 on uvicorn.

``HOOKHUB_BENCH_SCALE=0.1`` shrinks connections and broadcasts for a quick run; the figures in
BENCHMARKS.md are from the full sizes (scale 1).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.realtime_client import Records, open_client, raise_open_files_limit
from bench.realtime_drive import (
    START_TIMEOUT_S,
    Probe,
    Publisher,
    ask,
    ask_quietly,
    cpu_s,
    pinned,
    process_running,
    read_line,
    rss_bytes,
)
from hookhub.realtime.auth import mint

SCALE = float(os.environ.get("HOOKHUB_BENCH_SCALE", "1"))
#: (connections, broadcasts) at scale 1: the issue's 1,000 clients x 1,000 broadcasts, and
#: 5,000 clients with fewer broadcasts, for about the same number of deliveries.
SIZES = ((1_000, 1_000), (5_000, 200))
#: hookhub's default HOOKHUB_REALTIME_BROADCAST_CHANNEL.
BROADCAST_CHANNEL = "broadcast"
SERVER_CORE = "0"
CLIENT_CORE = "1"
#: How many broadcasts the publisher may run ahead of the probe client.
LEAD = 2
CONNECT_TIMEOUT_S = 300.0
WARM_TRIES = 200
WARM_PAUSE_S = 0.05
#: After the warm-up, before memory is read: lets per-connection start-up work finish.
IDLE_SETTLE_S = 1.0
#: The load generator may trail the probe; stop waiting once nothing arrives for this long.
DRAIN_QUIET_S = 3.0
#: The issue's goals.
GOAL_P99_MS = 100.0
GOAL_KIB_PER_CONNECTION = 20.0
REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = Path(__file__).resolve().parent / "realtime_node"


def _scaled(count: int) -> int:
    return max(10, round(count * SCALE))


@dataclass(frozen=True)
class Server:
    """How to start one server and talk to it."""

    name: str
    command: tuple[str, ...]
    ws_path: str = "/ws"
    publish_path: str = "/publish"
    publish_headers: tuple[tuple[str, str], ...] = ()
    engineio: bool = False
    send_after_open: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    #: None: the server prints the port it took. Otherwise it is given this port in
    #: ``command`` (``{port}``) and prints nothing useful.
    port: int | None = None
    #: Commands run once before the server starts (a database migration).
    setup: tuple[tuple[str, ...], ...] = ()


@dataclass
class Result:
    server: str
    connections: int
    broadcasts: int
    received: int
    expected: int
    deliveries_per_s: float
    p50_ms: float
    p99_ms: float
    server_user_us: float
    server_system_us: float
    client_cpu_share: float
    kib_per_connection: float


# -- one scenario ----------------------------------------------------------------------------------


async def _measure(server: Server, connections: int, broadcasts: int) -> Result:
    for setup in server.setup:
        await asyncio.to_thread(
            subprocess.run,
            setup,
            cwd=REPO_ROOT,
            env={**os.environ, **server.env},
            check=True,
            stdout=subprocess.DEVNULL,
        )
    command = [part.format(port=server.port) for part in server.command]
    async with process_running(
        pinned(SERVER_CORE, *command), server.env, stdout=server.port is None
    ) as process:
        port = server.port or int(await read_line(process, START_TIMEOUT_S))
        publisher = Publisher(port, server.publish_path, server.publish_headers)
        await publisher.publish(0)  # with no clients: warms the publish path
        await asyncio.sleep(IDLE_SETTLE_S)
        rss_before = rss_bytes(process.pid)
        options = {
            "host": "127.0.0.1",
            "port": port,
            "path": server.ws_path,
            "connections": connections,
            "engineio": server.engineio,
            "send_after_open": list(server.send_after_open),
        }
        client_command = [
            sys.executable,
            "-m",
            "bench.realtime_client",
            orjson.dumps(options).decode(),
        ]
        async with process_running(pinned(CLIENT_CORE, *client_command)) as clients:
            connected, failed = map(int, (await read_line(clients, CONNECT_TIMEOUT_S)).split()[1:])
            probe = Probe()
            probe.client = await open_client(
                "127.0.0.1",
                port,
                server.ws_path,
                Records(),
                engineio=server.engineio,
                send_after_open=[m.encode() for m in server.send_after_open],
                on_seq=probe.seen,
            )
            for _ in range(WARM_TRIES):
                await publisher.publish(0)
                await asyncio.sleep(WARM_PAUSE_S)
                if int(await ask(clients, "warm")) == connected and probe.highest == 0:
                    break
            else:
                raise RuntimeError(f"{server.name}: not every client had the warm-up broadcast")
            await asyncio.sleep(IDLE_SETTLE_S)
            kib = (rss_bytes(process.pid) - rss_before) / 1024 / (connected + 1)

            published_at = [0.0] * (broadcasts + 1)
            server_before = cpu_s(process.pid)
            client_before = sum(cpu_s(clients.pid))
            for seq in range(1, broadcasts + 1):
                await probe.wait_for(seq - LEAD)
                published_at[seq] = time.time()
                await publisher.publish(seq)
            await probe.wait_for(broadcasts)
            # The load generator may still be reading: wait until it stops getting more.
            report = await _drain(clients, published_at)
            server_user, server_system = (
                after - before
                for after, before in zip(cpu_s(process.pid), server_before, strict=True)
            )
            client_cpu = sum(cpu_s(clients.pid)) - client_before
            await publisher.close()
            probe.client.close()
            await ask_quietly(clients, "quit")
    received = report["received"]
    expected = connected * broadcasts
    span_s = report["last_at"] - published_at[1] if received else float("nan")
    return Result(
        server=server.name,
        connections=connected,
        broadcasts=broadcasts,
        received=received,
        expected=expected + failed * broadcasts,
        deliveries_per_s=received / span_s if received else 0.0,
        p50_ms=report["p50_ms"],
        p99_ms=report["p99_ms"],
        server_user_us=server_user / max(1, received) * 1e6,
        server_system_us=server_system / max(1, received) * 1e6,
        # The drain's quiet wait costs the clients nothing: count up to the last receipt.
        client_cpu_share=client_cpu / span_s if received else 0.0,
        kib_per_connection=kib,
    )


async def _drain(clients: asyncio.subprocess.Process, published_at: list[float]) -> dict[str, Any]:
    times = orjson.dumps(published_at).decode()
    last = -1
    while True:
        report: dict[str, Any] = orjson.loads(await ask(clients, f"report {times}"))
        if report["received"] == last:
            return report
        last = report["received"]
        await asyncio.sleep(DRAIN_QUIET_S if last else 0.1)


# -- the servers --------------------------------------------------------------------------------


def _node_server() -> Server | None:
    """Node ``ws``, installed with npm on first use; None when Node.js is not installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None
    if not (NODE_DIR / "node_modules" / "ws").is_dir():
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True
        )
    return Server("node ws", (node, str(NODE_DIR / "server.js")))


def _python_server(kind: str, name: str, **options: Any) -> Server:
    return Server(name, (sys.executable, "-m", "bench.realtime_servers", kind), **options)


def servers(data_dir: Path) -> list[Server]:
    found = [
        *_hookhub_servers(data_dir),
        _python_server("writer", "minimal app + frame writer"),
        _python_server("send_text", "minimal app + send_text"),
        _python_server(
            "socketio",
            "python-socketio",
            ws_path="/socket.io/?EIO=4&transport=websocket",
            engineio=True,
        ),
    ]
    node = _node_server()
    if node is not None:
        found.append(node)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _hookhub_servers(data_dir: Path) -> list[Server]:
    """``hookhub serve`` as a user runs it, on SQLite and the in-memory bus.

    Clients hold a connection token that allows the broadcast channel, so the hub subscribes
    them to it on connect; broadcasts go through ``POST /api/internal/broadcast``.
    """
    token_secret = secrets.token_urlsafe(32)
    internal_secret = secrets.token_urlsafe(32)
    env = {
        "HOOKHUB_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'realtime.db'}",
        "HOOKHUB_TOKEN_SECRET": token_secret,
        "HOOKHUB_INTERNAL_SECRET": internal_secret,
        "HOOKHUB_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "HOOKHUB_LOG_LEVEL": "warning",
    }
    token, _expires = mint(
        token_secret, user="bench", channels=[BROADCAST_CHANNEL], now=datetime.now(UTC)
    )
    hookhub = (sys.executable, "-m", "hookhub")
    return [
        Server(
            "hookhub",
            (*hookhub, "serve", "--port", "{port}"),
            ws_path=f"/ws?token={token}",
            publish_path="/api/internal/broadcast",
            publish_headers=(("x-internal-secret", internal_secret),),
            env=env,
            port=_free_port(),
            setup=((*hookhub, "migrate"),),
        )
    ]


# -- the table ----------------------------------------------------------------------------------


def _table(results: list[Result]) -> Table:
    table = Table(title="WebSocket fan-out: 100-byte payload, one channel")
    for column in (
        "connections",
        "server",
        "received",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "server CPU µs/msg (user + sys)",
        "client CPU",
        "KiB/conn idle",
        "vs node ws",
    ):
        table.add_column(column, justify="left" if column == "server" else "right")
    for result in results:
        node = next(
            (r for r in results if r.server == "node ws" and r.connections == result.connections),
            None,
        )
        ratio = (
            f"{result.deliveries_per_s / node.deliveries_per_s:.2f}x"
            if node is not None and node.deliveries_per_s
            else "-"
        )
        table.add_row(
            f"{result.connections:,}",
            result.server,
            f"{result.received:,}/{result.expected:,}",
            f"{result.deliveries_per_s:,.0f}",
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            f"{result.server_user_us + result.server_system_us:.1f} "
            f"({result.server_user_us:.1f} + {result.server_system_us:.1f})",
            f"{result.client_cpu_share:.0%}",
            f"{result.kib_per_connection:.1f}",
            ratio,
        )
    return table


def _goals(results: list[Result]) -> list[str]:
    lines = []
    for result in results:
        if not result.server.startswith("hookhub"):
            continue
        node = next(
            (r for r in results if r.server == "node ws" and r.connections == result.connections),
            None,
        )
        rate = (
            "n/a"
            if node is None
            else ("met" if result.deliveries_per_s >= node.deliveries_per_s else "missed")
        )
        p99 = "met" if result.p99_ms < GOAL_P99_MS else "missed"
        memory = "met" if result.kib_per_connection <= GOAL_KIB_PER_CONNECTION else "missed"
        lines.append(
            f"{result.server} at {result.connections:,} connections: rate ≥ node ws {rate}; "
            f"p99 < {GOAL_P99_MS:.0f} ms {p99}; ≤ {GOAL_KIB_PER_CONNECTION:.0f} KiB/conn {memory}"
        )
    return lines


async def main() -> None:
    console = Console()
    largest = max(_scaled(connections) for connections, _ in SIZES)
    raise_open_files_limit(2 * largest + 1_000)  # inherited by the server and the clients
    results = []
    data_dir = Path(tempfile.mkdtemp(prefix="hookhub-bench-"))
    for connections, broadcasts in SIZES:
        for server in servers(data_dir):
            console.print(
                f"realtime: {server.name}, {_scaled(connections):,} connections, "
                f"{_scaled(broadcasts):,} broadcasts"
            )
            results.append(await _measure(server, _scaled(connections), _scaled(broadcasts)))
    shutil.rmtree(data_dir, ignore_errors=True)
    console.print(_table(results))
    for line in _goals(results):
        console.print(line)


if __name__ == "__main__":
    asyncio.run(main())
