"""The automation part as the rest of hookhub sees it: built and started by ``Services``.

Contract with its callers:

- :meth:`AutomationServices.build` takes the shared parts; nothing starts there.
- :meth:`AutomationServices.start` runs after the store is checked and the bus started; it may
  subscribe to events on the bus (event-type triggers) and resume interrupted executions.
  :meth:`AutomationServices.stop` runs before the bus and the store close.
- :meth:`AutomationServices.trigger_endpoint` is called by the incoming-webhook route once a
  request is verified, validated, stored and not a duplicate. It starts every matching active
  automation in the background and returns the id of the first execution started, or ``None``
  when none matched. It never waits for actions to finish.
- :data:`ROUTERS` are included by ``create_app``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

if TYPE_CHECKING:
    # Types only: hookhub.services imports this module to build it.
    import httpx2

    from hookhub.actions import ActionContext
    from hookhub.bus import Bus
    from hookhub.clock import Clock
    from hookhub.config import Settings
    from hookhub.metrics import Metrics
    from hookhub.services.events import EventPublisher
    from hookhub.store.engine import Database
    from hookhub.store.repositories import AuditRepository

ROUTERS: list[APIRouter] = []


@dataclass
class AutomationServices:
    settings: Settings
    db: Database
    publisher: EventPublisher
    audit: AuditRepository
    http_client: httpx2.AsyncClient
    metrics: Metrics
    clock: Clock
    actions: ActionContext

    @classmethod
    def build(
        cls,
        *,
        settings: Settings,
        db: Database,
        publisher: EventPublisher,
        audit: AuditRepository,
        http_client: httpx2.AsyncClient,
        metrics: Metrics,
        clock: Clock,
        actions: ActionContext,
    ) -> AutomationServices:
        return cls(settings, db, publisher, audit, http_client, metrics, clock, actions)

    async def start(self, bus: Bus) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def trigger_endpoint(
        self, *, endpoint_id: str, trigger: dict[str, Any], request_id: str | None
    ) -> str | None:
        return None
