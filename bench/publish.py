"""Event publish path: store then bus, per event, on each store and bus hookhub supports.

Measures ``EventPublisher.publish`` (what ``POST /events`` does after parsing) so the table
shows the cost of the store write and the bus hand-off without HTTP in the way. Each shape is
measured in the same run; the ratio column compares it with the embedded default.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from bench.databases import POSTGRES_URL, create_database, drop_database
from hookhub.bus import EVENTS_TOPIC, Bus, MemoryBus, RedisBus
from hookhub.clock import utc_now
from hookhub.logging import configure_logging
from hookhub.metrics import Metrics
from hookhub.services.events import EventPublisher
from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade
from hookhub.store.repositories import EventRepository

EVENTS_PER_SHAPE = int(os.environ.get("HOOKHUB_BENCH_EVENTS", "2000"))
CONCURRENCY = 16
REDIS_URL = os.environ.get("HOOKHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PAYLOAD = {"ticket_id": 123, "title": "Printer on fire", "tags": ["hardware", "urgent"]}


@dataclass
class Result:
    shape: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    received: int


async def _measure(shape: str, db: Database, bus: Bus) -> Result:
    await upgrade(db)
    await bus.start()
    received = 0
    done = asyncio.Event()

    async def count(_topic: str, _message: bytes) -> None:
        nonlocal received
        received += 1
        if received == EVENTS_PER_SHAPE:
            done.set()

    subscription = await bus.subscribe(EVENTS_TOPIC, count)
    if isinstance(bus, RedisBus):
        await bus.connected.wait()
    publisher = EventPublisher(EventRepository(db), bus, Metrics(), utc_now)
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(EVENTS_PER_SHAPE):
        queue.put_nowait(number)

    async def worker() -> None:
        while not queue.empty():
            queue.get_nowait()
            begun = time.perf_counter()
            await publisher.publish(type="ticket.created", payload=PAYLOAD, source="bench")
            latencies.append(time.perf_counter() - begun)

    begun = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - begun
    with contextlib.suppress(TimeoutError):  # the table shows how many arrived
        await asyncio.wait_for(done.wait(), timeout=10)
    await publisher.close()
    await subscription.close()
    await bus.close()
    await db.close()
    cuts = statistics.quantiles(latencies, n=100)
    return Result(shape, EVENTS_PER_SHAPE / elapsed, cuts[49] * 1000, cuts[98] * 1000, received)


async def _redis_available() -> bool:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
        return True
    except (OSError, aioredis.ConnectionError):
        return False
    finally:
        await client.aclose()


async def main() -> None:
    configure_logging("warning")
    console = Console()
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        results.append(await _measure("sqlite + memory bus", Database(sqlite_url), MemoryBus()))
    postgres_url = await create_database()
    redis_ok = await _redis_available()
    if postgres_url is not None:
        try:
            results.append(
                await _measure("postgresql + memory bus", Database(postgres_url), MemoryBus())
            )
            if redis_ok:
                bus = RedisBus(REDIS_URL, key_prefix=f"hookhub-bench-{secrets.token_hex(4)}:")
                results.append(
                    await _measure("postgresql + redis bus", Database(postgres_url), bus)
                )
        finally:
            await drop_database(postgres_url)
    else:
        console.print(f"[yellow]PostgreSQL at {POSTGRES_URL} not reachable: skipped[/yellow]")
    if not redis_ok:
        console.print(f"[yellow]Redis at {REDIS_URL} not reachable: skipped[/yellow]")

    baseline = results[0].events_per_s
    title = f"Event publish (store, then bus): {EVENTS_PER_SHAPE} events, {CONCURRENCY} at once"
    table = Table(title=title)
    for column in ("shape", "events/s", "p50 ms", "p99 ms", "received on bus", "vs sqlite"):
        table.add_column(column, justify="left" if column == "shape" else "right")
    for result in results:
        table.add_row(
            result.shape,
            f"{result.events_per_s:,.0f}",
            f"{result.p50_ms:.2f}",
            f"{result.p99_ms:.2f}",
            f"{result.received}/{EVENTS_PER_SHAPE}",
            f"{result.events_per_s / baseline:.2f}x",
        )
    console.print(table)
