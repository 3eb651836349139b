"""The audit log as actions write it: concurrent entries share commits, and each is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from hookhub.audit import AuditAction, AuditRecord
from hookhub.services.audit import AuditLog
from tests.outbound.conftest import FakeClock


async def test_concurrent_entries_share_commits_and_all_are_stored(
    make_services: Any, clock: FakeClock
) -> None:
    services = await make_services()
    sizes: list[int] = []
    add_many = services.audit.add_many

    async def counted(records: Sequence[AuditRecord]) -> list[AuditRecord]:
        sizes.append(len(records))
        stored: list[AuditRecord] = await add_many(records)
        return stored

    services.audit.add_many = counted
    audit_log = AuditLog(services.audit)
    try:
        added = await asyncio.gather(
            *(
                audit_log.add(
                    actor="automation:a",
                    action=AuditAction.ACTION_RUN,
                    now=clock.now,
                    target="ping",
                    request_id=f"req-{n}",
                    details={"n": n},
                )
                for n in range(20)
            )
        )
    finally:
        await audit_log.close()
    assert sum(sizes) == 20
    assert len(sizes) < 20  # they queued up while earlier ones were written
    page = await services.audit.list(action=AuditAction.ACTION_RUN, limit=50, offset=0)
    assert sorted(page.items, key=lambda r: r.id) == sorted(added, key=lambda r: r.id)
