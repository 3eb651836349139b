"""``/automations``: definitions, execution history, stats and manual runs (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Response, Security

from hookhub.automations.models import (
    AutomationCreate,
    AutomationOut,
    AutomationStats,
    AutomationStatus,
    AutomationUpdate,
    Deleted,
    ExecutionDetail,
    ExecutionOut,
    ManualRun,
    RunResult,
)
from hookhub.automations.states import ExecutionStatus
from hookhub.http.deps import AdminRoute, Limit, Offset, RequestIdDep, ServicesDep, bearer_scheme
from hookhub.http.errors import ADMIN_ERROR_RESPONSES, ErrorBody
from hookhub.paging import DEFAULT_PAGE_LIMIT, Page

router = APIRouter(
    prefix="/automations",
    tags=["automations"],
    route_class=AdminRoute,
    dependencies=[Security(bearer_scheme)],
    responses={
        **ADMIN_ERROR_RESPONSES,
        404: {"model": ErrorBody, "description": "Not found"},
        409: {"model": ErrorBody, "description": "Defined in the config file"},
    },
)


@router.post("", status_code=201, response_model=AutomationOut, summary="Create an automation")
async def create_automation(body: AutomationCreate, services: ServicesDep) -> AutomationOut:
    """Refused with 422 naming each path: an unknown action, a template that does not parse,
    a filter with an unknown operator, a parameter the action does not take."""
    return await services.automations.service.create(body)


@router.get("", response_model=Page[AutomationOut], summary="List automations")
async def list_automations(
    services: ServicesDep,
    status: AutomationStatus | None = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
    offset: Offset = 0,
) -> Page[AutomationOut]:
    return await services.automations.service.list(status=status, limit=limit, offset=offset)


@router.get("/{automation_id}", response_model=AutomationOut, summary="One automation")
async def get_automation(automation_id: str, services: ServicesDep) -> AutomationOut:
    return await services.automations.service.get(automation_id)


@router.patch(
    "/{automation_id}", response_model=AutomationOut, summary="Change fields of an automation"
)
async def update_automation(
    automation_id: str, body: AutomationUpdate, services: ServicesDep
) -> AutomationOut:
    """Executions already running keep the actions they started with."""
    return await services.automations.service.update(automation_id, body)


@router.delete(
    "/{automation_id}", response_model=Deleted, summary="Delete an automation and its history"
)
async def delete_automation(automation_id: str, services: ServicesDep) -> Deleted:
    await services.automations.service.delete(automation_id)
    return Deleted()


@router.get(
    "/{automation_id}/executions",
    response_model=Page[ExecutionOut],
    summary="Execution history, newest first",
)
async def list_executions(
    automation_id: str,
    services: ServicesDep,
    status: ExecutionStatus | None = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
    offset: Offset = 0,
) -> Page[ExecutionOut]:
    return await services.automations.service.executions(
        automation_id, status=status, limit=limit, offset=offset
    )


@router.get(
    "/{automation_id}/executions/{execution_id}",
    response_model=ExecutionDetail,
    summary="One execution with its trigger and every step",
)
async def get_execution(
    automation_id: str, execution_id: str, services: ServicesDep
) -> ExecutionDetail:
    return await services.automations.service.execution(automation_id, execution_id)


@router.get("/{automation_id}/stats", response_model=AutomationStats, summary="Execution stats")
async def automation_stats(automation_id: str, services: ServicesDep) -> AutomationStats:
    return await services.automations.service.stats(automation_id)


@router.post(
    "/{automation_id}/run",
    status_code=202,
    response_model=RunResult,
    summary="Run now on a trigger given by hand",
    responses={200: {"model": RunResult, "description": "Finished (with wait: true)"}},
)
async def run_automation(
    automation_id: str,
    body: ManualRun,
    services: ServicesDep,
    request_id: RequestIdDep,
    response: Response,
) -> RunResult:
    """202 with the execution id; with ``"wait": true``, 200 with the execution once it is
    finished (or still running, after 30 s)."""
    result = await services.automations.service.run(automation_id, body, request_id=request_id)
    if result.execution is not None or not result.matched:
        response.status_code = 200
    return result
