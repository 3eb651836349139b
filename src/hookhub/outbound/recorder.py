"""Recording attempts in batches: one transaction for every attempt that finished meanwhile."""

from __future__ import annotations

from hookhub.batching import MAX_BATCH, GroupCommit
from hookhub.store.queue import AttemptRecord, DeliveryQueue


class BatchRecorder:
    """Attempts finished together share one commit (see :mod:`hookhub.batching`)."""

    def __init__(self, deliveries: DeliveryQueue, *, max_batch: int = MAX_BATCH) -> None:
        self._commits = GroupCommit(
            deliveries.record_attempts, name="hookhub-attempt-recorder", max_batch=max_batch
        )

    async def record(self, record: AttemptRecord) -> bool:
        """Queue ``record`` and wait for its commit; whether the delivery's state changed.

        Raises what the store raised for it (``StoreError`` when the store is away).
        """
        return await self._commits.submit(record)

    async def close(self) -> None:
        await self._commits.close()
