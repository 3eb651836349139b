"""Liveness, readiness and metrics: unauthenticated, for load balancers and Prometheus."""

from __future__ import annotations

from typing import Literal

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from hookhub.errors import HookhubError
from hookhub.http.deps import ServicesDep

log = structlog.get_logger(__name__)
router = APIRouter(tags=["system"])

CheckResult = Literal["ok", "unreachable", "not configured"]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    success: bool
    status: Literal["ready", "not ready"]
    message: str
    checks: dict[str, CheckResult]


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the store and, when configured, Redis answer",
    responses={503: {"model": Readiness, "description": "A part named in checks is down"}},
)
async def readyz(services: ServicesDep) -> Response:
    checks: dict[str, CheckResult] = {}
    try:
        await services.db.ping()
        checks["store"] = "ok"
    except HookhubError:
        log.warning("readyz.store_unreachable", exc_info=True)
        checks["store"] = "unreachable"
    if services.settings.redis_url:
        try:
            await services.bus.ping()
            checks["redis"] = "ok"
        except HookhubError:
            log.warning("readyz.redis_unreachable", exc_info=True)
            checks["redis"] = "unreachable"
    else:
        checks["redis"] = "not configured"
    failing = [name for name, result in checks.items() if result == "unreachable"]
    body = Readiness(
        success=not failing,
        status="not ready" if failing else "ready",
        message=f"unreachable: {', '.join(failing)}" if failing else "ready",
        checks=checks,
    )
    return JSONResponse(body.model_dump(), status_code=503 if failing else 200)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
