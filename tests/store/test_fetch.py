"""A read by a list gives the rows SQLAlchemy would give, in one driver call on SQLite."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select

from hookhub.store import fetch
from hookhub.store.engine import Database
from hookhub.store.fetch import Fetch
from tests.store.support import AUDIT_TABLE as TABLE
from tests.store.support import NOW
from tests.store.support import audit_entry as entry

#: Runs a test on the SQLite store only (the ``database_url`` fixture's parameter).
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BY_ID = select(TABLE).where(TABLE.c.id.in_(bindparam("ids", expanding=True))).order_by(TABLE.c.id)


async def test_rows_are_those_sqlalchemy_reads(db: Database) -> None:
    rows = [entry("a"), entry("b", target=None, details={"n": [1, 2]}), entry("c")]
    async with db.transaction() as connection:
        await connection.execute(insert(TABLE), rows)
    async with db.transaction() as connection:
        expected = (await connection.execute(BY_ID, {"ids": ["a", "b", "zz"]})).all()
        found = await Fetch(BY_ID, listed="ids").all(connection, ["a", "b", "zz"])
    assert [tuple(row) for row in found] == [tuple(row) for row in expected]
    assert [row.id for row in found] == ["a", "b"]
    assert found[0].occurred_at == NOW  # converted back, timezone and all
    assert found[1].details == {"n": [1, 2]}


async def test_lists_of_every_length_are_read(db: Database) -> None:
    async with db.transaction() as connection:
        await connection.execute(insert(TABLE), [entry(f"e{n}") for n in range(5)])
    read = Fetch(BY_ID, listed="ids")
    async with db.transaction() as connection:
        for count in (1, 3, 1, 5):
            found = await read.all(connection, [f"e{n}" for n in range(count)])
            assert [row.id for row in found] == [f"e{n}" for n in range(count)]
        assert await read.all(connection, []) == []


@ON_SQLITE
async def test_on_sqlite_a_read_is_one_call_into_the_driver(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    driver_of = fetch.driver_of

    async def counted(connection: Any) -> Any:
        driver = await driver_of(connection)
        run = driver._execute

        async def counting(function: Any, *args: Any) -> Any:
            calls.append(function.__name__)
            return await run(function, *args)

        monkeypatch.setattr(driver, "_execute", counting)
        return driver

    monkeypatch.setattr(fetch, "driver_of", counted)
    async with db.transaction() as connection:
        await Fetch(BY_ID, listed="ids").all(connection, ["a", "b"])
        assert calls == ["_execute_fetchall"]


@ON_SQLITE
async def test_on_sqlite_a_statement_with_other_parameters_is_refused(db: Database) -> None:
    statement = select(TABLE).where(
        TABLE.c.id.in_(bindparam("ids", expanding=True)), TABLE.c.actor == bindparam("actor", "x")
    )
    async with db.transaction() as connection:
        with pytest.raises(TypeError, match="parameters other than 'ids'"):
            await Fetch(statement, listed="ids").all(connection, ["a"])
