"""A store call whose caller is cancelled runs on to its commit; the store stays usable."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import text

from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade
from hookhub.store.repositories import AuditRepository

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def audit_log_locked(db: Database) -> AsyncIterator[None]:
    """Hold a lock from outside hookhub's pool, so an insert into the audit log waits in the
    driver until the block ends."""
    if db.dialect == "sqlite":
        holder = sqlite3.connect(db.url.database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    dsn = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        await transaction.rollback()
        await connection.close()


async def wait_until_in_the_driver(db: Database) -> None:
    for _ in range(500):  # a deadline for the call to reach its statement, not a timing claim
        if db.engine.pool.checkedout():  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # from checkout to the blocked insert


async def entries(db: Database) -> list[str]:
    async with db.transaction() as connection:
        return list((await connection.scalars(text("SELECT action FROM audit_log"))).all())


async def cancel_while_writing(db: Database, action: str) -> None:
    """Start an audit write (held up by a lock), cancel its caller mid-driver, see it raise."""
    caller = asyncio.create_task(AuditRepository(db).add(actor="t", action=action, now=NOW))
    await wait_until_in_the_driver(db)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_a_cancelled_caller_stops_waiting_and_its_write_still_commits(db: Database) -> None:
    audit = AuditRepository(db)
    async with audit_log_locked(db):
        await cancel_while_writing(db, "cancelled.caller")
    # Cut mid-statement, SQLAlchemy would have thrown the connection away and rolled the write
    # back (on SQLite, sometimes leaving the file locked for every later write).
    await audit.add(actor="t", action="later.write", now=NOW)
    assert sorted(await entries(db)) == ["cancelled.caller", "later.write"]


async def test_closing_the_database_waits_for_a_call_its_caller_left(database_url: str) -> None:
    db = Database(database_url)
    await upgrade(db)
    async with audit_log_locked(db):
        await cancel_while_writing(db, "left.behind")
        closing = asyncio.create_task(db.close())
        await asyncio.sleep(0.1)
        assert not closing.done()  # still waiting for the insert the lock holds up
    await closing
    reopened = Database(database_url)
    try:
        assert await entries(reopened) == ["left.behind"]
    finally:
        await reopened.close()
