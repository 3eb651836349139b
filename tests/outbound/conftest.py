"""Fixtures for outgoing webhooks: a real receiver and services driven by an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hookhub.bus import EVENTS_TOPIC
from hookhub.config import Settings
from hookhub.services import Services
from tests.conftest import ADMIN_TOKEN, migrated
from tests.outbound.receiver import Receiver


class FakeClock:
    """Stands still until a test moves it: retry schedules are tested without sleeping."""

    def __init__(self) -> None:
        # Near the real time, so third-party verifiers accept webhook-timestamp.
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_services(sqlite_url: str, clock: FakeClock) -> AsyncIterator[Callable[..., Any]]:
    """``await make_services(**settings)``: started services with the dispatcher loop off.

    Tests drive the dispatcher with ``run_once()`` and ``drain()``. Private addresses are
    allowed by default, since the receiver listens on loopback.
    """
    started: list[Services] = []

    async def build(**overrides: Any) -> Services:
        values: dict[str, Any] = {
            "admin_token": ADMIN_TOKEN,
            "database_url": sqlite_url,
            "outbound_allow_private": True,
        }
        values.update(overrides)
        migrated_url = values["database_url"]
        await _migrate(migrated_url)
        services = Services.build(Settings(**values), clock=clock)
        await services.start(dispatch=False)
        started.append(services)
        return services

    yield build
    for services in reversed(started):
        await services.stop()


async def _migrate(url: str) -> None:
    import asyncio

    await asyncio.to_thread(migrated, url)


async def collect_events(services: Services) -> list[bytes]:
    """Subscribe to the events topic; the list fills as events are published."""
    seen: list[bytes] = []

    async def keep(_topic: str, message: bytes) -> None:
        seen.append(message)

    await services.bus.subscribe(EVENTS_TOPIC, keep)
    return seen
