"""The database handle: dead pooled PostgreSQL connections are replaced; autocommit's driver."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from hookhub.errors import StoreError
from hookhub.store.engine import Database


async def backend_pid(db: Database) -> int:
    async with db.transaction() as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


@pytest.mark.postgres
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


@pytest.mark.postgres
async def test_autocommit_statements_commit_on_their_own(postgres_url: str) -> None:
    db, other = Database(postgres_url), Database(postgres_url)
    try:
        async with db.autocommit() as driver:
            await driver.execute("CREATE TABLE notes (id int PRIMARY KEY)")
            await driver.execute("INSERT INTO notes VALUES (1)")
            # Seen from another connection before the block ends: no transaction is open.
            async with other.transaction() as connection:
                assert await connection.scalar(text("SELECT count(*) FROM notes")) == 1
            assert not driver.is_in_transaction()
            with pytest.raises(asyncpg.UniqueViolationError):
                await driver.execute("INSERT INTO notes VALUES (2), (1)")  # none of it kept
        async with other.transaction() as connection:
            assert (await connection.scalars(text("SELECT id FROM notes"))).all() == [1]
    finally:
        await db.close()
        await other.close()


@pytest.mark.postgres
async def test_autocommit_on_a_connection_the_server_ended_is_a_store_error(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    try:
        with pytest.raises(StoreError, match="unreachable"):
            async with db.autocommit() as driver:
                await driver.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        await asyncio.sleep(0.05)  # lets the event loop read the server's close
        async with db.autocommit() as driver:  # the pool hands out a live connection again
            assert await driver.fetchval("SELECT 1") == 1
    finally:
        await db.close()


async def test_autocommit_is_refused_off_postgresql(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        with pytest.raises(TypeError, match="PostgreSQL"):
            async with db.autocommit():
                pass
    finally:
        await db.close()
