"""Bulk statements store what SQLAlchemy would have stored, and fail the way it would have."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from hookhub.store import bulk
from hookhub.store.bulk import Bulk, InsertReturning
from hookhub.store.engine import Database
from tests.store.support import AUDIT_TABLE as TABLE
from tests.store.support import NOW
from tests.store.support import audit_entry as entry


async def stored(db: Database) -> dict[str, tuple[Any, ...]]:
    async with db.transaction() as connection:
        rows = await connection.execute(select(TABLE))
        return {row.id: tuple(row)[1:] for row in rows}


async def test_rows_read_back_as_those_sqlalchemy_wrote(db: Database) -> None:
    async with db.transaction() as connection:
        await connection.execute(insert(TABLE), [entry("a-sqlalchemy"), entry("b-sqlalchemy")])
        written = await Bulk(insert(TABLE)).run(connection, [entry("a-bulk"), entry("b-bulk")])
        assert written == (2 if db.dialect == "sqlite" else None)  # asyncpg counts no batch

    rows = await stored(db)
    assert rows["a-bulk"] == rows["a-sqlalchemy"] == rows["b-bulk"]
    occurred_at, *_rest, details = rows["a-bulk"]
    assert occurred_at == NOW
    assert details == entry("x")["details"]


async def test_the_stored_text_is_the_same_as_sqlalchemys(db: Database) -> None:
    # Same bind processors: a datetime or a JSON document is stored as the same text, so
    # ordering and comparisons in SQL see no difference between the two paths.
    async with db.transaction() as connection:
        await connection.execute(insert(TABLE), [entry("a")])
        await Bulk(insert(TABLE)).run(connection, [entry("b")])
    async with db.transaction() as connection:
        found = await connection.execute(
            select(TABLE.c.occurred_at).where(TABLE.c.occurred_at == NOW).order_by(TABLE.c.id)
        )
        assert len(found.all()) == 2


async def test_an_update_counts_the_rows_it_changed_with_its_fixed_condition(
    db: Database,
) -> None:
    later = NOW + timedelta(minutes=1)
    async with db.transaction() as connection:
        await Bulk(insert(TABLE)).run(
            connection, [entry("a"), entry("b"), entry("c", actor="someone-else")]
        )
    statement = update(TABLE).where(
        TABLE.c.id == bindparam("entry_id"), TABLE.c.actor == "automation:a1"
    )
    async with db.transaction() as connection:
        changed = await Bulk(statement).run(
            connection,
            [
                {"entry_id": entry_id, "occurred_at": later, "target": "ping"}
                for entry_id in ("a", "c", "missing")
            ],
        )
    assert changed == (1 if db.dialect == "sqlite" else None)
    rows = await stored(db)
    assert rows["a"][0] == later and rows["a"][3] == "ping"
    assert rows["b"][0] == rows["c"][0] == NOW


async def test_a_refused_row_raises_sqlalchemys_error_and_the_transaction_is_undone(
    db: Database,
) -> None:
    async with db.transaction() as connection:
        await Bulk(insert(TABLE)).run(connection, [entry("a")])
    with pytest.raises(IntegrityError):
        async with db.transaction() as connection:
            await Bulk(insert(TABLE)).run(connection, [entry("b"), entry("a")])
    assert set(await stored(db)) == {"a"}


async def test_a_row_without_a_value_for_every_parameter_is_refused(db: Database) -> None:
    partial = entry("a")
    del partial["details"]  # the column's default is SQLAlchemy's to compute, not ours
    async with db.transaction() as connection:
        if db.dialect == "sqlite":
            with pytest.raises(TypeError, match="details"):
                await Bulk(insert(TABLE)).run(connection, [partial])
        else:
            await Bulk(insert(TABLE)).run(connection, [partial])


async def test_no_rows_run_nothing(db: Database) -> None:
    async with db.transaction() as connection:
        assert await Bulk(insert(TABLE)).run(connection, []) == 0
    assert await stored(db) == {}


async def test_an_insert_returning_gives_back_the_rows_it_inserted_whatever_the_batch_size(
    db: Database,
) -> None:
    returning = InsertReturning(
        {
            dialect.dialect.name: dialect.insert(TABLE)
            .on_conflict_do_nothing()
            .returning(TABLE.c.id, TABLE.c.actor)
            for dialect in (postgresql, sqlite)
        }
    )
    async with db.transaction() as connection:
        first = await returning.run(connection, [entry("a"), entry("b")])
        # "a" is taken: skipped, and not returned; a batch of another size compiles anew.
        second = await returning.run(
            connection, [entry("a", actor="other"), entry("c"), entry("d", actor="other")]
        )
        assert await returning.run(connection, []) == []

    assert sorted(first) == [("a", "automation:a1"), ("b", "automation:a1")]
    assert sorted(second) == [("c", "automation:a1"), ("d", "other")]
    rows = await stored(db)
    assert sorted(rows) == ["a", "b", "c", "d"]
    assert rows["a"][1] == "automation:a1" and rows["a"][0] == NOW


async def test_an_insert_returning_past_sqlites_limit_of_parameters_goes_in_parts(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "SQLITE_MAX_PARAMETERS", 15)  # two rows of seven columns
    returning = InsertReturning(
        {
            dialect.dialect.name: dialect.insert(TABLE).returning(TABLE.c.id)
            for dialect in (postgresql, sqlite)
        }
    )
    async with db.transaction() as connection:
        returned = await returning.run(connection, [entry(f"e{index}") for index in range(5)])

    assert sorted(returned) == [(f"e{index}",) for index in range(5)]
    assert sorted(await stored(db)) == [f"e{index}" for index in range(5)]
