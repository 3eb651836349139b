"""The database handle: pooled PostgreSQL connections the server closed are replaced."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from hookhub.store.engine import Database

pytestmark = pytest.mark.postgres


async def backend_pid(db: Database) -> int:
    async with db.transaction() as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def test_a_connection_the_server_terminated_is_replaced_at_checkout(
    postgres_url: str,
) -> None:
    db, admin = Database(postgres_url), Database(postgres_url)
    try:
        pid = await backend_pid(db)
        async with admin.transaction() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(500):  # a deadline for the server to finish, not a timing claim
            async with admin.transaction() as connection:
                alive = await connection.scalar(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )
            if not alive:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # lets the event loop read the server's close
        # The pooled connection is dead; the next unit of work still succeeds, on a new one.
        assert await backend_pid(db) != pid
        await db.ping()
    finally:
        await db.close()
        await admin.close()
