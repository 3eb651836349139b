"""Liveness, readiness and metrics: unauthenticated, for load balancers and Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from hookhub.http.deps import ServicesDep

log = structlog.get_logger(__name__)
router = APIRouter(tags=["system"])

CheckResult = Literal["ok", "unreachable", "not configured"]
#: A probe that hangs is as bad as one that fails: load balancers give up after a few seconds.
READINESS_CHECK_TIMEOUT_S = 3.0


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
    checks: dict[str, CheckResult] = {"store": await _check("store", services.db.ping)}
    if services.settings.redis_url:
        checks["redis"] = await _check("redis", services.bus.ping)
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


async def _check(name: str, ping: Callable[[], Awaitable[None]]) -> CheckResult:
    """``ok`` when ``ping`` returns in time; ``unreachable`` on any failure, logged.

    Any exception counts, not only ``HookhubError``: a database dropped under a running app
    surfaces as a driver error the store does not map, and the probe must still answer 503
    naming the part, not crash into a 500 that says nothing.
    """
    try:
        async with asyncio.timeout(READINESS_CHECK_TIMEOUT_S):
            await ping()
    except Exception:
        log.warning("readyz.unreachable", check=name, exc_info=True)
        return "unreachable"
    return "ok"


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}
    },
)
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
