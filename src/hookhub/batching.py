"""Group commit: concurrent callers' items written together, one transaction per batch.

Under load, hundreds of writes arrive each second; a transaction each would make the store the
bottleneck (on SQLite, one writer). A :class:`GroupCommit` writes whatever has queued up while
its previous write ran, so at low load an item is written at once, alone, and at high load many
share one commit. A caller's :meth:`GroupCommit.submit` returns only once its item is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from hookhub.errors import StoreError

T = TypeVar("T")
R = TypeVar("R")

#: The most items written in one transaction.
MAX_BATCH = 256
#: How long :meth:`GroupCommit.close` lets the writer finish what was submitted before it.
CLOSE_TIMEOUT_S = 5.0


class GroupCommit(Generic[T, R]):
    """Feeds ``write`` batches of submitted items; ``write`` returns one result per item.

    When a batch fails, its items are written again one by one, so one bad item cannot sink
    the others; ``write`` must leave nothing half done when it raises (a transaction).

    :meth:`close` never cancels a write under way: on SQLite, a transaction cut by a
    cancellation inside the driver left the database locked for the rest of the process, so
    every later write failed after the busy timeout.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[list[R]]],
        *,
        name: str,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._write = write
        self._name = name
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def submit(self, item: T) -> R:
        """Queue ``item`` and wait for its commit; its result, or what ``write`` raised for it.

        A caller cancelled while waiting does not take its item back: it may still be written.
        While :meth:`close` runs, nothing is taken: :class:`StoreError` (a second writer
        started then would race the first for the queue and its stop marker).
        """
        return await self.enqueue(item)

    def enqueue(self, item: T) -> asyncio.Future[R]:
        """Queue ``item`` without waiting: the future settles once it is committed (or not).

        Items are written in the order they were queued, so an item queued before another is
        committed in the same transaction or an earlier one. Whoever enqueues owns the future
        and must look at its outcome (a callback), or a failure goes unseen.
        """
        if self._closing:
            raise StoreError(f"{self._name} is stopping; the write was not taken")
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, done))
        return done

    async def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Write what was submitted before, then stop the writer.

        Waits up to ``timeout_s`` (the store may be away); then the writer is cancelled, and
        the items still queued are cancelled (their callers get ``CancelledError``).
        """
        task, self._task = self._task, None
        self._closing = True
        try:
            if task is not None and not task.done():
                self._queue.put_nowait(None)  # the writer stops when it reaches this
                finished, _ = await asyncio.wait([task], timeout=timeout_s)
                if not finished:
                    task.cancel()
                    await asyncio.wait([task])
            while not self._queue.empty():
                entry = self._queue.get_nowait()
                if entry is not None and not entry[1].done():
                    entry[1].cancel()
        finally:
            self._closing = False

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch and not self._queue.empty():
                entry = self._queue.get_nowait()
                if entry is None:
                    stopping = True
                    break
                batch.append(entry)
            try:
                await self._commit(batch)
            except asyncio.CancelledError:
                for _item, done in batch:
                    done.cancel()  # its callers would otherwise wait for good
                raise
            if stopping:
                return

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                for entry in batch:
                    await self._commit([entry])
                return
            _settle(batch[0][1], exc)
            return
        for (_item, done), result in zip(batch, results, strict=True):
            if not done.done():
                done.set_result(result)


def _settle(done: asyncio.Future[R], exc: Exception) -> None:
    if not done.done():
        done.set_exception(exc)
