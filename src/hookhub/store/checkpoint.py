"""SQLite's WAL checkpoints, moved off the commits that serve requests.

In WAL mode, SQLite copies the log back into the database file (a checkpoint) when a commit
finds the log past 1000 pages, and that commit then also waits for the database file to be
synced to disk. Under incoming-webhook load on the 2-core benchmark machine, that was about
one commit in 40, taking 5 to 8 ms instead of about 0.1 ms: half of all the time spent
committing, and every request of the batch being committed waited for it.

A :class:`Checkpointer` runs a ``PASSIVE`` checkpoint every :data:`CHECKPOINT_INTERVAL_S`
on a connection of its own, in a worker thread; a passive checkpoint never blocks a writer
or a reader. While it runs, the :class:`~hookhub.store.engine.Database` it belongs to opens
its connections with automatic checkpoints off. A process that does not run one (a one-shot
CLI command) keeps SQLite's automatic checkpoints, and the last connection to close a database
checkpoints it in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import structlog

log = structlog.get_logger(__name__)

#: How often the log is copied back into the database file.
CHECKPOINT_INTERVAL_S = 1.0


class Checkpointer:
    """Checkpoints the SQLite database at ``path`` every ``interval_s``, until stopped."""

    def __init__(self, path: str, *, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self._path = path
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._connection: sqlite3.Connection | None = None
        self._under_way: asyncio.Future[tuple[int, int, int]] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.create_task(self._loop(), name="hookhub-sqlite-checkpoints")

    async def stop(self) -> None:
        """Stop checkpointing; a checkpoint under way in its thread is waited for."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._under_way is not None:
            with contextlib.suppress(Exception):
                await self._under_way
        if self._connection is not None:
            await asyncio.to_thread(self._connection.close)
            self._connection = None

    async def checkpoint(self) -> tuple[int, int, int]:
        """One passive checkpoint now: (busy, pages in the log, pages copied back)."""
        # Shielded, and kept: a cancelled caller leaves the thread running with the
        # connection, which stop() closes only once the thread is done with it.
        if self._under_way is None or self._under_way.done():
            self._under_way = asyncio.ensure_future(asyncio.to_thread(self._run))
        return await asyncio.shield(self._under_way)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.checkpoint()
            except sqlite3.Error as exc:
                log.warning("store.checkpoint_failed", error=str(exc))

    def _run(self) -> tuple[int, int, int]:
        if self._connection is None:
            self._connection = sqlite3.connect(self._path, check_same_thread=False)
        busy, log_pages, copied = self._connection.execute(
            "PRAGMA wal_checkpoint(PASSIVE)"
        ).fetchone()
        return int(busy), int(log_pages), int(copied)
