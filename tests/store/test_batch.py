"""A batch is one transaction: its writes land together at the end, or none of them."""

from __future__ import annotations

from typing import Any

import aiosqlite
import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from hookhub.store.batch import ShortCount
from hookhub.store.bulk import Bulk
from hookhub.store.engine import Database
from tests.store.support import AUDIT_TABLE as TABLE
from tests.store.support import audit_entry as entry

INSERT = Bulk(insert(TABLE))
RENAME = Bulk(update(TABLE).where(TABLE.c.id == bindparam("entry_id")))


def rename(entry_id: str, actor: str) -> dict[str, Any]:
    return {"entry_id": entry_id, "actor": actor}


async def actors(db: Database) -> dict[str, str]:
    async with db.transaction() as connection:
        rows = await connection.execute(select(TABLE.c.id, TABLE.c.actor))
        return {row.id: row.actor for row in rows}


async def test_writes_and_direct_statements_are_committed_together(db: Database) -> None:
    async with db.batch() as batch:
        await batch.connection.execute(insert(TABLE).values(entry("direct")))
        await batch.write(INSERT, [entry("a"), entry("b")])
        await batch.write(RENAME, [rename("a", "renamed")], exact=True)

    assert await actors(db) == {"direct": "automation:a1", "a": "renamed", "b": "automation:a1"}


async def test_an_error_in_the_block_undoes_everything(db: Database) -> None:
    async def change_of_mind() -> None:
        async with db.batch() as batch:
            await batch.connection.execute(insert(TABLE).values(entry("direct")))
            await batch.write(INSERT, [entry("a")])
            raise RuntimeError("the caller changed its mind")

    with pytest.raises(RuntimeError):
        await change_of_mind()

    assert await actors(db) == {}
    async with db.batch() as batch:  # the pooled connection is left clean
        await batch.write(INSERT, [entry("later")])
    assert await actors(db) == {"later": "automation:a1"}


async def test_an_exact_write_that_falls_short_undoes_the_transaction(db: Database) -> None:
    async with db.batch() as batch:
        await batch.write(INSERT, [entry("a")])

    async def rename_missing() -> None:
        async with db.batch() as batch:
            await batch.connection.execute(insert(TABLE).values(entry("direct")))
            await batch.write(INSERT, [entry("b")])
            # No entry "missing": the rename changes no row of the one it was given.
            await batch.write(RENAME, [rename("missing", "x")], exact=True)

    with pytest.raises(ShortCount):
        await rename_missing()

    assert await actors(db) == {"a": "automation:a1"}


async def test_a_write_that_may_fall_short_is_committed_as_it_went(db: Database) -> None:
    async with db.batch() as batch:
        await batch.write(INSERT, [entry("a")])
        await batch.write(RENAME, [rename("a", "renamed"), rename("missing", "x")])

    assert await actors(db) == {"a": "renamed"}


async def test_a_refused_row_raises_sqlalchemys_error_and_stores_nothing(db: Database) -> None:
    async with db.batch() as batch:
        await batch.write(INSERT, [entry("a")])

    async def insert_twice() -> None:
        async with db.batch() as batch:
            await batch.write(INSERT, [entry("b")])
            await batch.write(INSERT, [entry("a")])  # the same primary key again

    with pytest.raises(IntegrityError):
        await insert_twice()

    assert await actors(db) == {"a": "automation:a1"}
    async with db.batch() as batch:
        await batch.write(INSERT, [entry("c")])
    assert set(await actors(db)) == {"a", "c"}


async def test_an_empty_batch_commits_nothing_and_fails_nothing(db: Database) -> None:
    async with db.batch() as batch:
        await batch.write(INSERT, [])
    assert await actors(db) == {}


async def test_on_sqlite_the_queued_writes_and_the_commit_are_one_call_to_the_driver(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.dialect != "sqlite":
        pytest.skip("only SQLite's driver runs statements on a thread of its own")
    async with db.batch() as batch:  # the pooled connection is open before counting
        await batch.write(INSERT, [entry("warm")])
    calls: list[object] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    async with db.batch() as batch:
        await batch.write(INSERT, [entry("a"), entry("b")])
        await batch.write(RENAME, [rename("a", "renamed")], exact=True)
        await batch.write(INSERT, [entry("c")])

    assert len(calls) == 1
    assert await actors(db) == {
        "warm": "automation:a1",
        "a": "renamed",
        "b": "automation:a1",
        "c": "automation:a1",
    }
