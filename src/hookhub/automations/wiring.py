"""The automation part as the rest of hookhub sees it: built and started by ``Services``.

Contract with its callers:

- :meth:`AutomationServices.build` takes the shared parts; nothing starts there. ``registry``
  (default: the global one) is where actions are looked up; ``sleep`` is how retries wait.
- :meth:`AutomationServices.start` runs after the store is checked and the bus started: it
  syncs the config-defined automations, recovers executions a dead process left running, and
  subscribes to events on the bus (event-type triggers).
  :meth:`AutomationServices.stop` runs before the bus and the store close; running executions
  are cancelled and left for recovery.
- :meth:`AutomationServices.plan_endpoint` is called by the incoming-webhook receiver once a
  request is verified and validated. It prepares an execution for every matching active
  automation (``PlannedRuns``: rows and the first one's id, ``None`` when none matched) and
  stores nothing: the receiver stores the rows in the request's own transaction, then calls
  :meth:`AutomationServices.launch` when the request was not a duplicate, which starts them in
  the background. :meth:`AutomationServices.trigger_endpoint` (replay) does all three itself.
  None of them waits for actions to finish.
- :data:`ROUTERS` are included by ``create_app``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from hookhub.actions import DEFAULT_REGISTRY, ActionRegistry
from hookhub.automations.executor import Executor, PlannedRuns
from hookhub.automations.repository import AutomationRepository, ExecutionRepository
from hookhub.automations.runner import Runner, Sleep
from hookhub.automations.service import AutomationService
from hookhub.store.writes import HotWrites

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

#: Loaded on first use (see ``__getattr__``).
ROUTERS: list[APIRouter]


def __getattr__(name: str) -> Any:
    # The routes import the HTTP dependencies, which import hookhub.services, which imports
    # this module: importing them here at load time would be a cycle.
    if name == "ROUTERS":
        from hookhub.automations.routes import router

        return [router]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class AutomationServices:
    settings: Settings
    executor: Executor
    service: AutomationService
    automations: AutomationRepository
    executions: ExecutionRepository
    #: Where the runs write: the writer shared with incoming webhooks, closed by its owner.
    writes: HotWrites

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
        registry: ActionRegistry = DEFAULT_REGISTRY,
        writes: HotWrites,
        sleep: Sleep = asyncio.sleep,
    ) -> AutomationServices:
        automations = AutomationRepository(db)
        executions = ExecutionRepository(db)
        runner_factory = partial(
            Runner,
            writes,
            registry,
            actions,
            clock=clock,
            sleep=sleep,
            step_timeout_s=settings.automations_step_timeout_s,
            result_max_bytes=settings.automations_result_max_bytes,
        )
        executor = Executor(
            automations,
            executions,
            lambda owner: runner_factory(owner=owner),
            clock=clock,
            max_concurrent=settings.automations_max_concurrent,
            lease_s=settings.automations_lease_s,
            max_chain_depth=settings.automations_max_chain_depth,
            trigger_max_bytes=settings.automations_trigger_max_bytes,
        )
        service = AutomationService(automations, executions, executor, registry, clock)
        return cls(settings, executor, service, automations, executions, writes)

    async def start(self, bus: Bus) -> None:
        await self.service.sync_config(self.settings.automations)
        await self.executor.start(bus)

    async def stop(self) -> None:
        await self.executor.stop()

    async def trigger_endpoint(
        self, *, endpoint_id: str, trigger: dict[str, Any], request_id: str | None
    ) -> str | None:
        return await self.executor.trigger_endpoint(
            endpoint_id=endpoint_id, trigger=trigger, request_id=request_id
        )

    async def plan_endpoint(
        self, *, endpoint_id: str, trigger: dict[str, Any], request_id: str | None
    ) -> PlannedRuns:
        return await self.executor.plan_endpoint(
            endpoint_id=endpoint_id, trigger=trigger, request_id=request_id
        )

    def launch(self, planned: PlannedRuns) -> None:
        self.executor.launch(planned)
