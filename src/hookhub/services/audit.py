"""The audit log as actions write it: entries of concurrent runs share one commit."""

from __future__ import annotations

from hookhub.audit import AuditRecord, AuditWriter
from hookhub.batching import GroupCommit
from hookhub.store.repositories import AuditRepository


class AuditLog(AuditWriter):
    """Writes entries through a :class:`~hookhub.batching.GroupCommit`.

    Every action run writes an entry; one transaction each would cost the store as much as the
    run itself. :meth:`add` returns once its entry is committed, and raises what the store
    raised for it (``StoreError`` when the store is away).
    """

    def __init__(self, audit: AuditRepository) -> None:
        self._commits: GroupCommit[AuditRecord, AuditRecord] = GroupCommit(
            audit.add_many, name="hookhub-audit-writer"
        )

    async def _store(self, record: AuditRecord) -> AuditRecord:
        return await self._commits.submit(record)

    async def close(self) -> None:
        """Stop the writer; entries still waiting for a commit are cancelled."""
        await self._commits.close()
