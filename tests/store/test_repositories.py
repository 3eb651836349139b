"""Store tests: each runs on a SQLite file and on a fresh PostgreSQL database."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from hookhub.events import Event
from hookhub.store.engine import Database
from hookhub.store.repositories import (
    TOKEN_TOUCH_INTERVAL,
    AuditRepository,
    EventRepository,
    TokenRepository,
)
from hookhub.tokens import hash_token

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _event(step: int, type: str = "ticket.created") -> Event:
    return Event.create(
        type=type,
        payload={"n": step, "nested": {"ok": True}, "text": "żółw ✓"},
        source="api",
        now=NOW + timedelta(seconds=step),
    )


async def test_events_round_trip_with_utc_times(db: Database) -> None:
    repo = EventRepository(db)
    event = _event(1).model_copy(update={"channel": "user:42"})
    await repo.add(event, request_id="req-1")
    stored = await repo.get(event.id)
    assert stored == event
    assert stored is not None and stored.occurred_at.tzinfo is not None
    assert await repo.get("01ZZZZZZZZZZZZZZZZZZZZZZZZ") is None


async def test_event_listing_is_newest_first_paged_and_filtered(db: Database) -> None:
    repo = EventRepository(db)
    events = [_event(i, "ticket.created" if i % 2 else "user.created") for i in range(7)]
    for event in events:
        await repo.add(event)
    page = await repo.list(type=None, limit=3, offset=0)
    assert page.total == 7
    assert [e.id for e in page.items] == [e.id for e in reversed(events)][:3]
    second = await repo.list(type=None, limit=3, offset=3)
    assert [e.id for e in second.items] == [e.id for e in reversed(events)][3:6]
    tickets = await repo.list(type="ticket.created", limit=50, offset=0)
    assert tickets.total == 3
    assert {e.type for e in tickets.items} == {"ticket.created"}


async def test_tokens_are_found_by_hash_until_revoked(db: Database) -> None:
    repo = TokenRepository(db)
    info = await repo.add(name="bot", token_hash=hash_token("hh_secret"), prefix="hh_secr", now=NOW)
    found = await repo.find_active(hash_token("hh_secret"), now=NOW)
    assert found is not None and found.id == info.id
    assert found.last_used_at == NOW
    assert await repo.find_active(hash_token("hh_other"), now=NOW) is None

    revoked = await repo.revoke(info.id, now=NOW + timedelta(minutes=1))
    assert revoked is not None and revoked.revoked_at == NOW + timedelta(minutes=1)
    assert await repo.find_active(hash_token("hh_secret"), now=NOW) is None
    again = await repo.revoke(info.id, now=NOW + timedelta(hours=1))
    assert again is not None and again.revoked_at == NOW + timedelta(minutes=1)
    assert await repo.revoke("01ZZZZZZZZZZZZZZZZZZZZZZZZ", now=NOW) is None
    assert await repo.list(include_revoked=False) == []
    assert [t.id for t in await repo.list(include_revoked=True)] == [info.id]


async def test_last_used_is_refreshed_only_after_the_interval(db: Database) -> None:
    repo = TokenRepository(db)
    await repo.add(name="bot", token_hash=hash_token("t"), prefix="t", now=NOW)
    await repo.find_active(hash_token("t"), now=NOW)
    soon = await repo.find_active(hash_token("t"), now=NOW + TOKEN_TOUCH_INTERVAL / 2)
    assert soon is not None and soon.last_used_at == NOW
    later = NOW + TOKEN_TOUCH_INTERVAL
    refreshed = await repo.find_active(hash_token("t"), now=later)
    assert refreshed is not None and refreshed.last_used_at == later


async def test_token_hash_is_unique(db: Database) -> None:
    repo = TokenRepository(db)
    await repo.add(name="a", token_hash=hash_token("same"), prefix="s", now=NOW)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await repo.add(name="b", token_hash=hash_token("same"), prefix="s", now=NOW)


async def test_audit_entries_page_and_filter(db: Database) -> None:
    repo = AuditRepository(db)
    for step in range(5):
        await repo.add(
            actor="admin",
            action="token.created" if step < 3 else "token.revoked",
            target=f"t{step}",
            details={"step": step},
            now=NOW + timedelta(seconds=step),
        )
    page = await repo.list(action=None, limit=2, offset=0)
    assert page.total == 5
    assert [e.target for e in page.items] == ["t4", "t3"]
    revoked = await repo.list(action="token.revoked", limit=50, offset=0)
    assert [e.details for e in revoked.items] == [{"step": 4}, {"step": 3}]


async def test_ping_answers(db: Database) -> None:
    await db.ping()


async def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    from hookhub.store.migrate import upgrade

    database = Database(sqlite_url)
    try:
        await upgrade(database)
        async with database.engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
        assert mode == "wal"
    finally:
        await database.close()
