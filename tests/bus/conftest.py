"""Bus fixtures: every contract test runs on the in-memory bus and on the shared Redis, and the
reconnect tests get a redis-server of their own that they may kill."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hookhub.bus import Bus, MemoryBus, RedisBus
from hookhub.bus.base import DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES
from tests.conftest import service_unavailable

from .support import WAIT_S, MakeBus, RedisServer, unique_name


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[MakeBus]:
    """Start buses of one kind; Redis ones get a prefix of their own and are connected.

    Every bus it made is closed after the test.
    """
    redis_url: str | None = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
    name = unique_name()
    made: list[Bus] = []

    async def make(*, max_queued: int = DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES) -> Bus:
        bus: Bus
        if redis_url is None:
            bus = MemoryBus(max_queued=max_queued)
        else:
            bus = RedisBus(
                redis_url, key_prefix=f"{name}:", client_name=name, max_queued=max_queued
            )
        await bus.start()
        made.append(bus)
        if isinstance(bus, RedisBus):
            await asyncio.wait_for(bus.connected.wait(), WAIT_S)
        return bus

    try:
        yield make
    finally:
        for bus in made:
            await bus.close()


@pytest.fixture
async def bus(make_bus: MakeBus) -> Bus:
    return await make_bus()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (not started); killed after the test."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).is_file():
        service_unavailable("redis-server binary not found (needed to restart Redis)")
    server = RedisServer(binary, tmp_path)
    try:
        yield server
    finally:
        server.kill()
