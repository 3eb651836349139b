"""Recording attempts in batches: one transaction for every attempt that finished meanwhile.

Under load, hundreds of sends finish each second; a transaction each would make the store the
bottleneck (on SQLite, one writer). The recorder writes whatever has queued up while its
previous write ran, so at low load a record is written at once, alone, and at high load many
share one commit. A caller's ``record`` returns only once its attempt is committed.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from hookhub.store.queue import AttemptRecord, DeliveryQueue

log = structlog.get_logger(__name__)

#: The most attempts written in one transaction.
MAX_BATCH = 256


class BatchRecorder:
    def __init__(self, deliveries: DeliveryQueue, *, max_batch: int = MAX_BATCH) -> None:
        self._deliveries = deliveries
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[AttemptRecord, asyncio.Future[bool]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def record(self, record: AttemptRecord) -> bool:
        """Queue ``record`` and wait for its commit; whether the delivery's state changed.

        Raises what the store raised for it (``StoreError`` when the store is away).
        """
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="hookhub-attempt-recorder")
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((record, done))
        return await done

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            _record, done = self._queue.get_nowait()
            if not done.done():
                done.cancel()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write(batch)

    async def _write(self, batch: list[tuple[AttemptRecord, asyncio.Future[bool]]]) -> None:
        try:
            results = await self._deliveries.record_attempts([record for record, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                # One bad record must not sink the others: write them one by one.
                for item in batch:
                    await self._write([item])
                return
            _settle(batch[0][1], exc)
            return
        for (_record, done), current in zip(batch, results, strict=True):
            if not done.done():
                done.set_result(current)


def _settle(done: asyncio.Future[bool], exc: Exception) -> None:
    if not done.done():
        done.set_exception(exc)
