"""Incoming webhooks: a verified, schema-checked, stored webhook beside a bare 200, one server.

The server is hookhub as ``hookhub serve`` runs it (``create_app`` on uvicorn with uvloop and
httptools, SQLite in WAL mode, the in-memory bus), in its own process, plus one route added by
this bench only: ``POST /_bench/bare`` reads the body and answers 200. Both go through the same
middleware, so the difference between them is what hookhub does for a webhook:

- ``/hooks/bench``: seed 002's checks. Hex HMAC-SHA256 of the raw body (``X-Webhook-Signature``)
  with a bearer token beside it, seed 002's JSON Schema, a rate limit (high enough never to
  refuse, but counted), dedupe on a fresh ``webhook-id`` per request, the request stored in the
  history, and the automations started. When the server has ``/automations``, the bench creates
  one on the endpoint (one ``ping`` action); otherwise it says so, and the webhook starts none.

The load client runs in this process: ``CONCURRENCY`` keep-alive HTTP/1.1 connections, each
sending its next request when the last is answered. Requests are built and signed before the
clock starts. Then a paced run sends ``PACED_RATE_PER_S`` webhooks a second, each on its own
task, and reports p99 latency. Latency is from just before a request is written to when its
answer is read.

``HOOKHUB_BENCH_SCALE=0.05`` shrinks every run for a quick check.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import Request, Response
from rich.console import Console
from rich.table import Table

from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade

SCALE = float(os.environ.get("HOOKHUB_BENCH_SCALE", "1"))
#: Requests per shape as fast as the server answers, at scale 1.
BURST_REQUESTS = 5_000
CONCURRENCY = 16
PACED_RATE_PER_S = 500.0
PACED_DURATION_S = 10.0
WARM_UP_REQUESTS = 200
#: The issue's goals: at least this share of the bare endpoint's rate; this p99 when paced.
GOAL_RATIO_TO_BARE = 0.5
GOAL_PACED_P99_MS = 20.0
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
BARE_PATH = "/_bench/bare"
SLUG = "bench"
HOOK_PATH = f"/hooks/{SLUG}"
HMAC_SECRET = "bench-hmac-secret"  # noqa: S105 (a throw-away secret of this bench)
BEARER = "bench-bearer-token"
#: Seed 002's schema.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "description", "teamId"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "teamId": {"type": "string"},
        "priority": {"type": "number", "minimum": 0, "maximum": 3},
        "discordUserId": {"type": "string"},
        "discordUsername": {"type": "string"},
    },
}
#: Counted on every request, never reached by this bench.
RATE_LIMIT = "1000000/minute"
REPO_ROOT = Path(__file__).resolve().parent.parent


def _scaled(count: float) -> int:
    return max(1, round(count * SCALE))


# -- the server (its own process) --------------------------------------------------------------


def _serve() -> None:
    """hookhub's app from the ``HOOKHUB_*`` environment, plus the bare route, on uvicorn."""
    import uvicorn

    from hookhub.app import create_app
    from hookhub.config import load_settings
    from hookhub.logging import configure_logging
    from hookhub.realtime import transport

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, settle_heap=True)  # as `hookhub serve` does

    async def bare(request: Request) -> Response:
        await request.body()
        return Response(b'{"success":true}', media_type="application/json")

    app.add_api_route(BARE_PATH, bare, methods=["POST"], include_in_schema=False)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    # The options `hookhub serve` uses.
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        **transport.uvicorn_options(),
    )
    uvicorn.Server(config).run(sockets=[listener])


@contextlib.asynccontextmanager
async def _server(env: dict[str, str]) -> AsyncIterator[int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ingest",
        "serve",
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        if process.stdout is None:
            raise RuntimeError("the server's stdout is not piped")
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT_S)
        if not line:
            raise RuntimeError(f"the server ended (exit code {process.returncode})")
        yield int(line)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


# -- the client ----------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time; raw, to keep the client light."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # The server prints its port before uvicorn listens on it.
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                return await asyncio.open_connection("127.0.0.1", self._port)
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Write ``request``; the answer's status and body."""
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await self._connect()
        self._writer.write(request)
        status_line = await self._reader.readline()
        if not status_line:  # closed while idle: the request was not read, so send it again
            self._reader = self._writer = None
            return await self.send(request)
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await self._reader.readexactly(length)
        return int(status_line.split()[1]), body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        f"{head}\r\n".encode()
        + body
    )


def _webhook(path: str, seq: int, run: str) -> bytes:
    """Seed 002's request: a unique body and delivery id, signed, with the bearer token."""
    body = orjson.dumps(
        {
            "title": f"Printer on fire #{seq}",
            "description": "Smoke is coming out of the printer on the second floor.",
            "teamId": "65f8a9b2c3d4e5f6a7b8c9d0",
            "priority": 2,
            "discordUserId": "987654321098765432",
            "discordUsername": "john_doe",
        }
    )
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {BEARER}",
        "X-Webhook-Signature": hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "webhook-id": f"{run}-{seq}",
    }
    return _request("POST", path, headers, body)


@dataclass
class Result:
    name: str
    sent: int
    ok: int
    rate_per_s: float
    p50_ms: float
    p99_ms: float
    paced: bool = False


def _result(
    name: str, latencies: Sequence[float], ok: int, elapsed_s: float, paced: bool
) -> Result:
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else list(latencies) * 99
    return Result(
        name,
        len(latencies),
        ok,
        len(latencies) / elapsed_s,
        cuts[49] * 1000,
        cuts[98] * 1000,
        paced,
    )


async def _burst(port: int, name: str, requests: list[bytes]) -> Result:
    """Every request, ``CONCURRENCY`` at a time, each connection sending its next when answered."""
    pending = iter(requests)
    latencies: list[float] = []
    ok = 0

    async def worker() -> None:
        nonlocal ok
        connection = Connection(port)
        try:
            for request in pending:
                began = time.perf_counter()
                status, _ = await asyncio.wait_for(connection.send(request), REQUEST_TIMEOUT_S)
                latencies.append(time.perf_counter() - began)
                ok += status == 200
        finally:
            connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return _result(name, latencies, ok, time.perf_counter() - began, paced=False)


async def _paced(port: int, name: str, requests: list[bytes], rate_per_s: float) -> Result:
    """One request every ``1 / rate_per_s`` seconds, each on a free connection (or a new one)."""
    idle: list[Connection] = []
    latencies: list[float] = []
    ok = 0

    async def one(request: bytes) -> None:
        nonlocal ok
        connection = idle.pop() if idle else Connection(port)
        began = time.perf_counter()
        try:
            status, _ = await asyncio.wait_for(connection.send(request), REQUEST_TIMEOUT_S)
        except TimeoutError:
            # Unanswered in time: counted as not OK, its connection dropped (a reply may
            # still be on its way), and its wait kept in the latencies.
            latencies.append(time.perf_counter() - began)
            connection.close()
            return
        latencies.append(time.perf_counter() - began)
        ok += status == 200
        idle.append(connection)

    tasks = []
    began = time.perf_counter()
    for seq, request in enumerate(requests):
        delay_s = began + seq / rate_per_s - time.perf_counter()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        tasks.append(asyncio.create_task(one(request)))
    await asyncio.gather(*tasks)
    elapsed_s = time.perf_counter() - began
    for connection in idle:
        connection.close()
    return _result(name, latencies, ok, elapsed_s, paced=True)


# -- set-up through the admin API ------------------------------------------------------------------


async def _admin(
    port: int, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    connection = Connection(port)
    try:
        content = orjson.dumps(body) if body is not None else b""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        status, answer = await connection.send(_request(method, path, headers, content))
    finally:
        connection.close()
    return status, orjson.loads(answer) if answer else None


async def _set_up(port: int, token: str, console: Console) -> str:
    """Create the endpoint, and an automation on it when the server has ``/automations``.

    Returns what the webhook starts, for the table's title.
    """
    status, endpoint = await _admin(
        port,
        token,
        "POST",
        "/endpoints",
        {
            "name": "bench",
            "slug": SLUG,
            "verification": {"scheme": "hmac", "secret": HMAC_SECRET, "bearer_token": BEARER},
            "json_schema": SCHEMA,
            "rate_limit": RATE_LIMIT,
            "dedupe": {"enabled": True},
        },
    )
    if status != 201:
        raise RuntimeError(f"creating the endpoint answered {status}: {endpoint}")
    _status, document = await _admin(port, token, "GET", "/openapi.json")
    if "post" not in document.get("paths", {}).get("/automations", {}):
        console.print(
            "[yellow]This server has no /automations: the webhook is verified, checked and "
            "stored, but starts no automation.[/yellow]"
        )
        return "no automation (the server has no /automations)"
    status, created = await _admin(
        port,
        token,
        "POST",
        "/automations",
        {
            "name": "bench",
            "trigger": {"endpoint": SLUG},
            "actions": [{"name": "ping", "action": "ping", "params": {}}],
        },
    )
    if status not in (200, 201):
        console.print(
            f"[yellow]Could not create an automation ({status}: {created}): the webhook starts "
            "none.[/yellow]"
        )
        return "no automation (creating one failed)"
    return "one automation (ping)"


# -- the run ---------------------------------------------------------------------------------


async def main() -> None:
    console = Console()
    token = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite+aiosqlite:///{Path(folder) / 'ingest.db'}"
        migrating = Database(database_url)
        await upgrade(migrating)
        await migrating.close()
        env = {
            "HOOKHUB_DATABASE_URL": database_url,
            "HOOKHUB_ADMIN_TOKEN": token,
            "HOOKHUB_LOG_LEVEL": "warning",
            "HOOKHUB_DISPATCHER_ENABLED": "false",
        }
        env.pop("HOOKHUB_REDIS_URL", None)
        async with _server(env) as port:
            automation = await _set_up(port, token, console)
            results = await _run(port)
    _print(console, results, automation)


async def _run(port: int) -> list[Result]:
    count = _scaled(BURST_REQUESTS)
    run = secrets.token_hex(4)
    bare = [_webhook(BARE_PATH, seq, run) for seq in range(count)]
    hooks = [_webhook(HOOK_PATH, seq, run) for seq in range(count)]
    # Code paths run for the first time (imports, first connections) are not measured.
    warm = [_webhook(HOOK_PATH, seq, f"warm-{run}") for seq in range(WARM_UP_REQUESTS)]
    await _burst(port, "warm-up", warm)
    await _burst(port, "warm-up", bare[:WARM_UP_REQUESTS])
    results = [
        await _burst(port, "bare endpoint (200)", bare),
        await _burst(port, "verified webhook", hooks),
    ]
    paced_count = _scaled(PACED_RATE_PER_S * PACED_DURATION_S)
    paced = [_webhook(HOOK_PATH, seq, f"paced-{run}") for seq in range(paced_count)]
    results.append(
        await _paced(port, f"verified webhook at {PACED_RATE_PER_S:.0f}/s", paced, PACED_RATE_PER_S)
    )
    return results


def _print(console: Console, results: list[Result], automation: str) -> None:
    title = (
        f"Incoming webhooks on one server (SQLite): {CONCURRENCY} connections; "
        f"the webhook is HMAC-verified, schema-checked, stored and starts {automation}"
    )
    table = Table(title=title)
    columns = ("run", "answered 200", "requests/s", "p50 ms", "p99 ms", "vs bare", "goal")
    for column in columns:
        table.add_column(column, justify="left" if column == "run" else "right")
    bare = results[0]
    bare_rate = bare.rate_per_s if bare.ok == bare.sent else float("nan")
    for result in results:
        ratio = result.rate_per_s / bare_rate
        table.add_row(
            result.name,
            f"{result.ok:,}/{result.sent:,}",
            f"{result.rate_per_s:,.0f}",
            f"{result.p50_ms:,.1f}",
            f"{result.p99_ms:,.1f}",
            "" if result.paced else f"{ratio:.2f}x",
            _goal(result, ratio, result is results[0]),
        )
    console.print(table)


def _goal(result: Result, ratio: float, is_bare: bool) -> str:
    if is_bare:
        return ""
    all_ok = result.ok == result.sent
    if result.paced:
        met = all_ok and result.p99_ms < GOAL_PACED_P99_MS
        return f"{'met' if met else 'missed'} (p99 < {GOAL_PACED_P99_MS:.0f} ms)"
    met = all_ok and ratio >= GOAL_RATIO_TO_BARE
    return f"{'met' if met else 'missed'} (≥{GOAL_RATIO_TO_BARE}x)"


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        _serve()
    else:
        asyncio.run(main())
