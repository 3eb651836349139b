"""The database handle: one async engine, sessions opened and closed by repositories only."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]  # no stubs; used through Any
import orjson
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from hookhub.errors import StoreError
from hookhub.store.batch import Batch, batch
from hookhub.store.checkpoint import Checkpointer
from hookhub.store.url import normalise_database_url

#: How long a SQLite writer waits for the lock before giving up (WAL allows one writer).
SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_POOL_SIZE = 1
POSTGRES_POOL_SIZE = 10
POSTGRES_CONNECT_TIMEOUT_S = 5
#: A SQLite connection's setting while a Checkpointer checkpoints in the background.
NO_AUTOMATIC_CHECKPOINTS = "PRAGMA wal_autocheckpoint=0"
#: How long closing the database waits for store calls whose callers stopped waiting.
CLOSE_WAIT_S = 5.0

T = TypeVar("T")
RepositoryT = TypeVar("RepositoryT", bound=type)


class Database:
    """An async engine plus a session factory, for SQLite (WAL) or PostgreSQL from one code path.

    Repositories call :meth:`session`; nothing else should hold a session, and no code opens a
    session while it holds another (on SQLite the pool has one connection, so that would wait
    for itself until the pool times out). Driver errors that
    mean "the database is not reachable" become :class:`StoreError` at this boundary.
    Repository calls run through :meth:`run_to_end` (the :func:`runs_to_end` decorator), so a
    cancellation never cuts a transaction inside the driver.
    """

    def __init__(self, url: str) -> None:
        self.url = normalise_database_url(url)
        self.dialect = self.url.get_backend_name()
        # JSON columns through orjson: the standard library's encoder was about 4% of the
        # process's time under incoming-webhook load (every request stores its headers, query
        # and trigger). Non-string keys become strings, as json.dumps made them.
        kwargs: dict[str, Any] = {
            "json_serializer": json_text,
            "json_deserializer": orjson.loads,
            # Every transaction here ends in a commit or a rollback (`session`, `transaction`,
            # and a closed Connection rolls back what it began), so the pool's own rollback of
            # each returned connection is one more trip to the driver (its thread on SQLite,
            # the server on PostgreSQL) that finds nothing to undo.
            "pool_reset_on_return": None,
        }
        if self.dialect == "sqlite":
            # SQLite takes one writer at a time; with one connection, writers queue in the pool
            # instead of sleeping in SQLite's busy handler. Measured once with bench/publish.py
            # at 16 concurrent publishers: p99 fell from ~530 ms to ~57 ms at the same rate.
            kwargs.update(pool_size=SQLITE_POOL_SIZE, max_overflow=0)
        if self.dialect == "postgresql":
            kwargs["pool_size"] = POSTGRES_POOL_SIZE
            kwargs["connect_args"] = {"timeout": POSTGRES_CONNECT_TIMEOUT_S}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._checkpointer: Checkpointer | None = None
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", self._sqlite_pragmas)
        if self.dialect == "postgresql":
            event.listen(self.engine.sync_engine, "checkout", _drop_if_closed)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._calls: set[asyncio.Future[Any]] = set()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed on success, rolled back on any error."""
        with _unavailable_as_store_error():
            async with self._sessions() as session, session.begin():
                yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction, for hot paths that need no ORM session.

        Committed on success, rolled back on any error; the same errors as :meth:`session`.
        """
        with _unavailable_as_store_error():
            async with self.engine.begin() as connection:
                yield connection

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[Batch]:
        """A transaction for batch writes (:class:`~hookhub.store.batch.Batch`): on SQLite,
        its writes reach the driver with the commit in one call.

        Committed on success, rolled back on any error; the same errors as :meth:`session`.
        """
        with _unavailable_as_store_error():
            async with batch(self.engine) as current:
                yield current

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Any]:
        """PostgreSQL only: a pooled connection's own driver (asyncpg), outside any transaction.

        Each statement sent on it commits on its own: no ``BEGIN`` or ``COMMIT`` round trip,
        and none of SQLAlchemy's per-statement layers. For hot writes that are one statement
        each (see :mod:`hookhub.store.at_once`). Measured on the 2-core benchmark machine
        (2026-12-07), ``SELECT 1`` cost 45 µs of CPU this way, 135 µs in a transaction on the
        driver, and 360 µs through SQLAlchemy (a pooled connection and its transaction). The
        same errors as :meth:`session`: :class:`StoreError` when the database is unreachable;
        any other error is asyncpg's own.
        """
        if self.dialect != "postgresql":
            raise TypeError(f"autocommit() speaks PostgreSQL's driver, not {self.dialect}'s")
        with _unavailable_as_store_error():
            async with self.engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                try:
                    yield driver
                except asyncpg.InterfaceError as exc:
                    raise StoreError("the database is unreachable") from exc
                except asyncpg.PostgresError as exc:
                    if _is_unavailable_code(getattr(exc, "sqlstate", None)):
                        raise StoreError("the database is unreachable") from exc
                    raise

    async def run_to_end(self, call: Awaitable[T]) -> T:
        """Await a store call in a task of its own, which a cancelled caller does not cut short.

        A cancellation that lands while a driver call is under way makes SQLAlchemy throw the
        connection away mid-statement. On SQLite that can leave the file locked for the rest of
        the process, so every later write fails. Here the caller stops waiting at once (it gets
        its ``CancelledError``), while the call itself runs on to its commit or rollback.
        :meth:`close` waits for such calls.
        """
        task = asyncio.ensure_future(call)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)
        return await asyncio.shield(task)

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers a trivial query."""
        await self.run_to_end(self._select_one())

    async def _select_one(self) -> None:
        async with self.session() as session:
            await session.execute(text("SELECT 1"))

    async def start_checkpoints(self) -> None:
        """On a SQLite file, checkpoint its log in the background rather than at commits.

        See :mod:`hookhub.store.checkpoint`. Meant for processes that serve; elsewhere (and
        on PostgreSQL) nothing changes. :meth:`close` stops it.
        """
        path = self.url.database
        if self.dialect != "sqlite" or not path or path == ":memory:":
            return
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(path)
            # Connections opened from now on, and the one already pooled.
            async with self.transaction() as connection:
                await connection.exec_driver_sql(NO_AUTOMATIC_CHECKPOINTS)
        self._checkpointer.start()

    async def close(self) -> None:
        if self._calls:
            await asyncio.wait(set(self._calls), timeout=CLOSE_WAIT_S)
        if self._checkpointer is not None:
            await self._checkpointer.stop()
        await self.engine.dispose()

    def _sqlite_pragmas(self, dbapi_connection: Any, _record: Any) -> None:
        # WAL lets readers run beside the one writer; NORMAL sync is safe under WAL (a power
        # loss may drop the last commits, never corrupt the file).
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if self._checkpointer is not None:
            cursor.execute(NO_AUTOMATIC_CHECKPOINTS)
        cursor.close()


class _HasDatabase(Protocol):
    _db: Database


def runs_to_end(repository: RepositoryT) -> RepositoryT:
    """Class decorator: every public coroutine method runs through :meth:`Database.run_to_end`.

    The class keeps its database as ``self._db``. Applied to each repository, so a method added
    later is covered without anyone remembering to. A public method that needs another one's
    work calls a private helper, not the wrapped method (which would start a second task).
    """
    for name, method in list(vars(repository).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            setattr(repository, name, _run_to_end(method))
    return repository


def _run_to_end(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(self: _HasDatabase, *args: Any, **kwargs: Any) -> Any:
        return await self._db.run_to_end(method(self, *args, **kwargs))

    return call


def json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


@contextmanager
def _unavailable_as_store_error() -> Iterator[None]:
    try:
        yield
    except (OperationalError, InterfaceError, OSError) as exc:
        raise StoreError("the database is unreachable") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated or _is_unavailable(exc):
            raise StoreError("the database is unreachable") from exc
        raise


#: PostgreSQL SQLSTATE classes that mean "the database is not there for us", not "bad query":
#: connection exceptions, insufficient resources, operator intervention (shutdown), invalid
#: authorization, and an unknown database (dropped, or never created).
_UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "28", "3D"})


def _is_unavailable(exc: DBAPIError) -> bool:
    original = exc.orig
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if code is None and original is not None:
        code = getattr(original.__cause__, "sqlstate", None)
    return _is_unavailable_code(code)


def _is_unavailable_code(code: object) -> bool:
    return isinstance(code, str) and code[:2] in _UNAVAILABLE_SQLSTATE_CLASSES


def _drop_if_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # Replaces pooled connections the server has closed (a restart, pg_terminate_backend):
    # asyncpg notices the closed socket on its own, so this costs no round trip, where
    # pool_pre_ping costs three per checkout (BEGIN, SELECT 1, ROLLBACK with asyncpg).
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")
