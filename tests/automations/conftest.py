"""Automation fixtures: started services on both databases, with a registry of small real
actions and an injected clock and sleep, so retries and durations need no waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from hookhub.automations.wiring import AutomationServices
from hookhub.config import Settings
from hookhub.services import Services
from tests.automations.support import FakeSleep, ManualClock, Toolbox
from tests.conftest import ADMIN_TOKEN, migrated

MakeServices = Callable[..., Awaitable[Services]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sleep(clock: ManualClock) -> FakeSleep:
    return FakeSleep(clock)


@pytest.fixture
def toolbox(clock: ManualClock) -> Toolbox:
    return Toolbox(clock)


def with_registry(
    services: Services, toolbox: Toolbox, sleep: FakeSleep, clock: ManualClock
) -> Services:
    """Give ``services`` an automation part that uses the toolbox's registry and the fake
    sleep (before it starts)."""
    services.automations = AutomationServices.build(
        settings=services.settings,
        db=services.db,
        publisher=services.publisher,
        audit=services.audit,
        http_client=services.http_client,
        metrics=services.metrics,
        clock=clock,
        actions=services.actions,
        registry=toolbox.registry,
        writes=services.writes,
        sleep=sleep,
    )
    return services


@pytest.fixture
async def make_services(
    database_url: str, clock: ManualClock, sleep: FakeSleep, toolbox: Toolbox
) -> AsyncIterator[MakeServices]:
    """``await make_services(**settings)``: started services (dispatcher off) on a migrated
    database; several calls share the database, as several processes would."""
    started: list[Services] = []
    await asyncio.to_thread(migrated, database_url)

    async def build(*, start: bool = True, **overrides: Any) -> Services:
        values: dict[str, Any] = {"admin_token": ADMIN_TOKEN, "database_url": database_url}
        values.update(overrides)
        services = with_registry(
            Services.build(Settings(**values), clock=clock), toolbox, sleep, clock
        )
        started.append(services)
        if start:
            await services.start(dispatch=False)
        return services

    yield build
    for services in reversed(started):
        if services.started:
            await services.stop()
        else:
            # Never started, or stopped and then read from again by the test.
            await services.db.close()
