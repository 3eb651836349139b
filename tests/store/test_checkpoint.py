"""Background checkpoints: commits stop copying the log back; the checkpointer does it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text

from hookhub.store.checkpoint import Checkpointer
from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade
from hookhub.store.repositories import AuditRepository

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
#: SQLite's own default (pages in the log past which a commit checkpoints).
SQLITE_DEFAULT_AUTOCHECKPOINT = 1000


async def autocheckpoint(db: Database) -> int:
    async with db.transaction() as connection:
        return int((await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one())


async def write_some(db: Database, count: int) -> None:
    audit = AuditRepository(db)
    for index in range(count):
        await audit.add(actor="test", action="action.run", now=NOW, target=f"t{index}")


async def test_a_serving_database_leaves_checkpoints_to_its_checkpointer(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    await upgrade(db)
    assert await autocheckpoint(db) == SQLITE_DEFAULT_AUTOCHECKPOINT

    await db.start_checkpoints()
    try:
        assert await autocheckpoint(db) == 0
        await db.engine.dispose()  # a connection opened later is set the same way
        assert await autocheckpoint(db) == 0
        await write_some(db, 20)
        checkpointer = Checkpointer(db.url.database or "")
        try:
            busy, log_pages, copied = await checkpointer.checkpoint()
        finally:
            await checkpointer.stop()
        assert busy == 0
        assert log_pages > 0 and copied == log_pages  # nothing had copied the log back
    finally:
        await db.close()


async def test_checkpoints_run_in_the_background_and_stop_with_the_database(
    sqlite_url: str,
) -> None:
    db = Database(sqlite_url)
    await upgrade(db)
    await db.start_checkpoints()
    checkpointer = db._checkpointer
    assert checkpointer is not None and checkpointer.running
    results: list[tuple[int, int, int]] = []
    run = checkpointer._run

    def counted() -> tuple[int, int, int]:
        results.append(run())
        return results[-1]

    checkpointer._run = counted  # type: ignore[method-assign]
    await write_some(db, 20)
    for _ in range(100):  # a deadline for the background loop, not a timing claim
        if any(copied > 0 for _busy, _pages, copied in results):
            break
        await asyncio.sleep(0.1)
    await db.close()

    busy, log_pages, copied = next(result for result in results if result[2] > 0)
    assert busy == 0 and copied == log_pages  # the whole log, copied back by the loop
    assert not checkpointer.running


async def test_postgresql_is_left_as_it_is(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        await db.start_checkpoints()
        assert db._checkpointer is None
    finally:
        await db.close()
