"""Helpers shared by the action tests."""

from __future__ import annotations

from typing import Any

from hookhub.actions import DEFAULT_REGISTRY, ActionCall, ActionRegistry
from hookhub.audit import AuditRecord
from hookhub.services import Services

ACTOR = "automation:test"
EXECUTION_ID = "01JEXECUTION00000000000000"
REQUEST_ID = "req-actions-test"
CALL = ActionCall(actor=ACTOR, request_id=REQUEST_ID, execution_id=EXECUTION_ID)


async def run(
    services: Services,
    name: str,
    params: dict[str, Any],
    *,
    registry: ActionRegistry = DEFAULT_REGISTRY,
    call: ActionCall = CALL,
) -> Any:
    return await registry.run(name, params, services.actions, call)


async def audit_rows(services: Services) -> list[AuditRecord]:
    """The ``action.run`` rows, oldest first."""
    page = await services.audit.list(action="action.run", limit=500, offset=0)
    return list(reversed(page.items))
