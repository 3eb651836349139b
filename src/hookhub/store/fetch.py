"""A read by a list of values, on SQLite in one call into the driver's thread.

The outgoing hot path reads inside its batch transactions: the active webhooks matching a
batch of events' types when they are stored, the holders of a batch of deliveries when their
attempts are recorded. Run through SQLAlchemy on aiosqlite, each read is four calls into the
driver's thread (open a cursor, execute, fetch, close), and a read through SQLAlchemy also
makes SQLAlchemy end the transaction itself, one more call after the batch's own commit. Here,
on SQLite, the statement is compiled once per length of its list, aiosqlite runs and fetches
it in one call, and each column is converted with the result processor SQLAlchemy would use,
so the values are the same. Other databases get the statement through SQLAlchemy unchanged.

Like a read through SQLAlchemy on SQLite (whose driver begins a transaction only before a
write), the read sees what is committed, plus what this connection has written directly.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from hookhub.store.bulk import DIRECT_DIALECT, as_sqlalchemy_error, driver_of

_Convert = Callable[[Any], Any]


class Fetch:
    """``statement``, whose one expanding parameter ``listed`` takes a list of values.

    :meth:`all` returns its rows, each with the selected columns as attributes (as
    SQLAlchemy's rows have them). The statement's other values must be fixed in it.
    """

    def __init__(self, statement: Select[Any], *, listed: str) -> None:
        self._statement = statement
        self._listed = listed
        #: Per length of the list: the SQL, and the conversion of the list's values.
        self._compiled: dict[int, tuple[str, _Convert | None]] = {}
        #: Per selected column, the conversion of its values (once the dialect is known).
        self._converts: tuple[_Convert | None, ...] | None = None
        self._row: Callable[..., Any] = namedtuple(  # type: ignore[misc]
            "Row", [str(column.key) for column in statement.selected_columns]
        )

    async def all(self, connection: AsyncConnection, values: Sequence[Any]) -> list[Any]:
        if not values:
            return []
        dialect = connection.dialect
        if dialect.name != DIRECT_DIALECT:
            result = await connection.execute(self._statement, {self._listed: list(values)})
            return list(result.all())
        sql, convert = self._compiled.get(len(values)) or self._compile(dialect, len(values))
        parameters = list(values) if convert is None else [convert(value) for value in values]
        driver = await driver_of(connection)
        try:
            fetched = await driver.execute_fetchall(sql, parameters)
        except sqlite3.Error as exc:
            raise as_sqlalchemy_error(connection, sql, parameters, exc) from exc
        converts = self._converts_for(dialect)
        make = self._row
        return [
            make(*[raw if to is None else to(raw) for to, raw in zip(converts, row, strict=True)])
            for row in fetched
        ]

    def _compile(self, dialect: Dialect, count: int) -> tuple[str, _Convert | None]:
        placeholder = [None] * count
        bound = self._statement.params({self._listed: placeholder})
        compiled = bound.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        names = compiled.positiontup
        expected = [f"{self._listed}_{index}" for index in range(1, count + 1)]
        if names != expected:
            raise TypeError(f"{self._statement} takes parameters other than {self._listed!r}")
        listed = next(bind for bind in compiled.binds.values() if bind.key == self._listed)
        convert = listed.type.dialect_impl(dialect).bind_processor(dialect)
        self._compiled[count] = (str(compiled), convert)
        return self._compiled[count]

    def _converts_for(self, dialect: Dialect) -> tuple[_Convert | None, ...]:
        if self._converts is None:
            self._converts = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self._statement.selected_columns
            )
        return self._converts
