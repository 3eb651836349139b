"""One writer for the hot writes of incoming webhooks and of automation runs.

Accepted requests (with their dedupe claims and the executions they start), the writes of
running executions, and the audit entries of the actions those run arrive many a second.
Each kind had a group-commit writer of its own, and on SQLite the writers took turns on the
one pooled connection: in ``bench/ingest.py`` a transaction waited a median 1.2 ms for the
connection before it began, so a webhook's answer waited behind the write of an earlier
webhook's results. :class:`HotWrites` puts whatever has queued, of every kind, in one
transaction: one commit where there were two, and no turn to wait for.

A batch that fails is written again item by item (:class:`~hookhub.batching.GroupCommit`), so
one refused item (an execution whose automation was deleted meanwhile) sinks nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from hookhub.audit import AuditRecord
from hookhub.automations.repository import HeldUpdate, apply_held
from hookhub.batching import GroupCommit
from hookhub.store.batch import ShortCount
from hookhub.store.engine import Database
from hookhub.store.inbound import NewRequest, Recorded, record_requests

WriteItem = NewRequest | HeldUpdate | AuditRecord
#: A request's record, whether a write was applied (an audit entry's is always True).
WriteResult = Recorded | bool


class HotWrites:
    """Queues the hot writes; each ``await`` returns once its item is committed."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._commits: GroupCommit[WriteItem, WriteResult] = GroupCommit(
            self._write, name="hookhub-store-writer"
        )

    async def record(self, item: NewRequest) -> Recorded:
        """Store an incoming request (see :func:`~hookhub.store.inbound.record_requests`)."""
        result = await self._commits.submit(item)
        if not isinstance(result, Recorded):
            raise TypeError(f"a request was answered {result!r}")
        return result

    async def update(self, item: HeldUpdate) -> bool:
        """Apply a write to a running execution; False when its owner no longer holds it."""
        result = await self._commits.submit(item)
        return result is True

    def enqueue(self, entry: AuditRecord) -> asyncio.Future[WriteResult]:
        """Queue an audit entry without waiting; committed with what is queued after it, or
        before. The future tells whether it was stored."""
        return self._commits.enqueue(entry)

    async def close(self) -> None:
        """Write what was queued, then stop (see :meth:`GroupCommit.close`)."""
        await self._commits.close()

    async def _write(self, items: list[WriteItem]) -> list[WriteResult]:
        # First as if every delivery id were new and every execution still held (on SQLite,
        # one call into the driver); when that falls short, again, reading first.
        try:
            return await self._db.run_to_end(self._write_once(items, optimistic=True))
        except ShortCount:
            return await self._db.run_to_end(self._write_once(items, optimistic=False))

    async def _write_once(
        self, items: Sequence[WriteItem], *, optimistic: bool
    ) -> list[WriteResult]:
        requests = [item for item in items if isinstance(item, NewRequest)]
        updates = [item for item in items if isinstance(item, HeldUpdate)]
        entries = [item for item in items if isinstance(item, AuditRecord)]
        async with self._db.batch() as batch:
            recorded = iter(await record_requests(batch, requests, optimistic=optimistic))
            applied = iter(await apply_held(batch, updates, entries, read_first=not optimistic))
        results: list[WriteResult] = []
        for item in items:
            if isinstance(item, NewRequest):
                results.append(next(recorded))
            elif isinstance(item, HeldUpdate):
                results.append(next(applied))
            else:
                results.append(True)
        return results
