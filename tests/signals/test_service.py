"""The signal service over a real store: concurrent get-or-create, and the order of checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from hookhub.config import Settings
from hookhub.errors import AuthError, RateLimitedError, SignalParseError
from hookhub.events import Event
from hookhub.signals.service import SignalService, public_base_url
from hookhub.store.engine import Database
from hookhub.store.repositories import AuditRepository
from tests.conftest import ADMIN_TOKEN

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
CONCURRENT_CALLS = 8


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    async def publish(self, **fields: Any) -> Event:
        self.published.append(fields)
        return Event.create(
            type=fields["type"],
            payload=fields["payload"],
            source=fields["source"],
            channel=fields["channel"],
            now=NOW,
        )


def settings(**overrides: Any) -> Settings:
    return Settings(admin_token=ADMIN_TOKEN, **overrides)


@pytest.fixture
def service_for() -> Callable[..., tuple[SignalService, RecordingPublisher]]:
    def build(db: Database, **overrides: Any) -> tuple[SignalService, RecordingPublisher]:
        publisher = RecordingPublisher()
        service = SignalService(
            db,
            publisher,  # type: ignore[arg-type]
            AuditRepository(db),
            settings(**overrides),
            lambda: NOW,
        )
        return service, publisher

    return build


async def test_concurrent_calls_for_one_owner_end_with_one_code(
    db: Database, service_for: Callable[..., tuple[SignalService, RecordingPublisher]]
) -> None:
    service, _ = service_for(db)
    results = await asyncio.gather(
        *(service.code_for("u-42", actor="admin") for _ in range(CONCURRENT_CALLS))
    )
    assert len({code.code for code, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    audit = await AuditRepository(db).list(action="signal_code.created", limit=10, offset=0)
    assert audit.total == 1
    await service.close()


async def test_losers_of_the_insert_race_read_the_winners_code(
    db: Database, service_for: Callable[..., tuple[SignalService, RecordingPublisher]]
) -> None:
    """Every caller first finds no code, then all insert at once: the race, made certain."""
    service, _ = service_for(db)
    codes = service._codes
    original_get, original_add = codes.get, codes.add
    first_looks = 0
    all_looked = asyncio.Event()
    refused = 0

    async def get(owner: str) -> Any:
        nonlocal first_looks
        found = await original_get(owner)
        if not all_looked.is_set():
            first_looks += 1
            if first_looks == CONCURRENT_CALLS:
                all_looked.set()
            await all_looked.wait()
        return found

    async def add(owner: str, code: str, *, now: datetime) -> Any:
        nonlocal refused
        added = await original_add(owner, code, now=now)
        refused += added is None
        return added

    codes.get, codes.add = get, add  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(service.code_for("u-42", actor="admin") for _ in range(CONCURRENT_CALLS))
    )
    assert refused == CONCURRENT_CALLS - 1
    assert len({code.code for code, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1
    await service.close()


def text(code: str, **changes: str) -> bytes:
    fields = {
        "code": code,
        "strategy_id": "s1",
        "demo": "NO",
        "command": "buy",
        "exchange": "okx",
        "coinmarket": "ETHUSDT",
        "amount": "1.5",
        **changes,
    }
    return " ".join(f"{key}={value}" for key, value in fields.items()).encode()


async def test_a_signal_is_published_to_the_owners_channel(
    db: Database, service_for: Callable[..., tuple[SignalService, RecordingPublisher]]
) -> None:
    service, publisher = service_for(db)
    code, _ = await service.code_for("u-42", actor="admin")
    event = await service.receive(text(code.code), "text/plain", request_id="r-1")
    assert event.channel == "user:u-42"
    assert publisher.published == [
        {
            "type": "signal.received",
            "payload": {
                "owner": "u-42",
                "strategy_id": "s1",
                "demo": False,
                "command": "buy",
                "exchange": "okx",
                "coinmarket": "ETHUSDT",
                "amount": "1.5",
            },
            "source": "signal",
            "channel": "user:u-42",
            "request_id": "r-1",
        }
    ]
    await service.close()


async def test_the_code_is_checked_before_the_other_fields_and_the_limit_before_them_too(
    db: Database, service_for: Callable[..., tuple[SignalService, RecordingPublisher]]
) -> None:
    service, publisher = service_for(db, signals_rate_per_minute=1)
    code, _ = await service.code_for("u-42", actor="admin")
    with pytest.raises(AuthError):
        await service.receive(text("x" * 43, amount="-1"), None)
    with pytest.raises(SignalParseError):  # counts against the limit: it was authenticated
        await service.receive(text(code.code, amount="-1"), None)
    with pytest.raises(RateLimitedError) as limited:
        await service.receive(text(code.code), None)
    assert limited.value.retry_after_s >= 1
    assert publisher.published == []
    await service.close()


@pytest.mark.parametrize(
    ("overrides", "url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"host": "0.0.0.0", "port": 9000}, "http://0.0.0.0:9000"),
        ({"host": "::1"}, "http://[::1]:8000"),
        ({"host": "hooks.internal"}, "http://hooks.internal:8000"),
        ({"public_url": "https://hooks.example.com"}, "https://hooks.example.com"),
    ],
)
def test_public_base_url(overrides: dict[str, Any], url: str) -> None:
    assert public_base_url(settings(**overrides)) == url
