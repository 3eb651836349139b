"""A transaction of batch writes that, on SQLite, reach the driver with its commit in one call.

A group commit's transaction on the hot paths writes several tables: incoming requests and
the executions they start, the writes of running executions, their audit entries. With
:class:`~hookhub.store.bulk.Bulk`, each of those statements is one call into aiosqlite's
thread, and the commit one more: about six thread hand-offs a transaction, each about 125 µs
of waiting on the 2-core benchmark machine while the event loop has nothing to do under a
steady load of webhooks. Here, on SQLite, :meth:`Batch.write` only queues the statement, and
when the :func:`batch` block ends, every queued statement and the commit run in one call into
the driver's thread. A statement whose rows must all change (``exact``) is checked there,
before the commit: if it changed fewer, the transaction is undone and :class:`ShortCount` is
raised.

The contract that buys this: a queued write runs after every statement the caller sends
itself on :attr:`Batch.connection` in the same transaction (claims, reads), so a caller never
reads what it has queued. On other databases :meth:`Batch.write` runs the statement at once,
in an ordinary SQLAlchemy transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hookhub.store.bulk import DIRECT_DIALECT, Bulk, as_sqlalchemy_error, driver_of

#: A queued statement: its SQL, its rows as positional parameters, whether every row must
#: change one row of the table.
_Queued = tuple[str, list[tuple[Any, ...]], bool]


class ShortCount(Exception):
    """A write given ``exact`` changed fewer rows than it was given; the transaction was undone.

    The caller decides what that means (for execution writes: an execution was no longer
    held, and the batch is written again after reading who holds what).
    """


class Batch:
    """One transaction: statements sent on :attr:`connection`, and batch writes queued on it.

    Made by :func:`batch`, which commits it when the block ends and undoes it on any error.
    """

    def __init__(self, connection: AsyncConnection, *, queued: bool) -> None:
        self.connection = connection
        self._queue: list[_Queued] | None = [] if queued else None

    @property
    def queues(self) -> bool:
        """Whether :meth:`write` waits for the commit (SQLite) rather than running at once."""
        return self._queue is not None

    async def write(
        self, bulk: Bulk, rows: Sequence[Mapping[str, Any]], *, exact: bool = False
    ) -> None:
        """Write ``rows`` with ``bulk``; with ``exact``, each must change a row of the table.

        On SQLite the write is queued and runs with the commit; elsewhere it runs now, and an
        ``exact`` write that changed fewer rows raises :class:`ShortCount` at once (where the
        driver counts the rows of a batch; asyncpg does not).
        """
        if not rows:
            return
        if self._queue is None:
            changed = await bulk.run(self.connection, rows)
            if exact and changed is not None and changed != len(rows):
                raise ShortCount
            return
        sql, values = bulk.prepare(self.connection.dialect, rows)
        self._queue.append((sql, values, exact))

    async def _commit(self) -> None:
        if self._queue is not None:
            queued, self._queue = self._queue, []
            driver = await driver_of(self.connection)
            if queued or driver.in_transaction:
                try:
                    # aiosqlite's own way of running a call on its thread (``commit`` and
                    # ``executemany`` go through it); one call for the whole transaction.
                    short = await driver._execute(_write_and_commit, driver._conn, queued)
                except sqlite3.Error as exc:
                    sql = next((q[0] for q in queued), "COMMIT")
                    raise as_sqlalchemy_error(self.connection, sql, None, exc) from exc
                if short:
                    await self._end(commit=False)
                    raise ShortCount
        await self._end(commit=True)

    async def _rollback(self) -> None:
        if self._queue is not None:
            self._queue = []
            driver = await driver_of(self.connection)
            if driver.in_transaction:
                await driver.rollback()
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        # What SQLAlchemy began (a read through it, or any statement off SQLite), it ends.
        if self.connection.in_transaction():
            await (self.connection.commit() if commit else self.connection.rollback())


@asynccontextmanager
async def batch(engine: AsyncEngine) -> AsyncIterator[Batch]:
    """A :class:`Batch` on a pooled connection: committed when the block ends, undone on error.

    The errors are the driver's, as SQLAlchemy raises them; the caller maps them.
    """
    queued = engine.dialect.name == DIRECT_DIALECT
    async with engine.connect() as connection:
        current = Batch(connection, queued=queued)
        try:
            yield current
        except BaseException:
            await current._rollback()
            raise
        await current._commit()


def _write_and_commit(connection: sqlite3.Connection, queued: list[_Queued]) -> bool:
    """On the driver's thread: the queued statements, then the commit; True when one fell short.

    Anything short or failed is rolled back here, before the thread takes its next call.
    """
    try:
        for sql, values, exact in queued:
            changed = connection.executemany(sql, values).rowcount
            if exact and changed != len(values):
                connection.rollback()
                return True
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return False
