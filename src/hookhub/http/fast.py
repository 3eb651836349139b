"""HTTP endpoints served ahead of FastAPI's routing, behind the middleware every request gets.

Some paths are hit far more than the admin API and have nothing for FastAPI's routing,
dependency solving and response models to do: the broadcast API (a bot may broadcast many
times a second to thousands of clients) and the incoming webhooks. Their bare ASGI endpoints
are matched here first; their FastAPI routes stay, so ``/openapi.json`` describes them, other
methods get FastAPI's 405, and an application that includes the routers without
:class:`hookhub.app.HookhubApp` still serves them.

A template is a fixed path (``/api/internal/broadcast``) or a fixed prefix and one last
parameter (``/hooks/{slug}``), which lands in ``scope["path_params"]`` as Starlette puts it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from hookhub.http.errors import error_bytes
from hookhub.http.middleware import BodyLimitMiddleware, RequestContextMiddleware, send_json
from hookhub.metrics import Metrics

#: Endpoints by method and path template.
FastEndpoints = Mapping[tuple[str, str], ASGIApp]


class FastRoutes:
    """Finds the endpoint for a request's method and path, or None."""

    def __init__(self) -> None:
        self._exact: dict[tuple[str, str], ASGIApp] = {}
        self._tail: dict[tuple[str, str], tuple[str, ASGIApp]] = {}

    def __bool__(self) -> bool:
        return bool(self._exact or self._tail)

    def add(self, method: str, template: str, app: ASGIApp) -> None:
        head, _, last = template.rpartition("/")
        if last.startswith("{") and last.endswith("}"):
            self._tail[(method, head)] = (last[1:-1], app)
        else:
            self._exact[(method, template)] = app

    def match(self, scope: Scope, path: str) -> ASGIApp | None:
        method = scope["method"]
        found = self._exact.get((method, path))
        if found is not None or not self._tail:
            return found
        head, _, last = path.rpartition("/")
        if not last:
            return None
        tail = self._tail.get((method, head))
        if tail is None:
            return None
        name, app = tail
        scope["path_params"] = {name: last}
        return app


def served_ahead(
    endpoints: FastEndpoints,
    routers: Sequence[APIRouter],
    *,
    max_body_bytes: int,
    metrics: Metrics,
) -> FastRoutes:
    """Each endpoint behind the request-context and body-limit middleware, named by its route."""
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    served = FastRoutes()
    for (method, template), endpoint in endpoints.items():
        route = next(r for r in routes if r.path == template and method in (r.methods or ()))
        limited = BodyLimitMiddleware(_Routed(endpoint, route), max_body_bytes)
        served.add(method, template, RequestContextMiddleware(limited, metrics=metrics))
    return served


class _Routed:
    """Sets ``scope["route"]`` as FastAPI's router would: logs and metrics name the route."""

    def __init__(self, app: ASGIApp, route: APIRoute) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.route
        await self.app(scope, receive, send)


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body as it arrives; raises ``ClientDisconnect`` when the client hangs up."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def send_error(
    scope: Scope,
    send: Send,
    status: int,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """An error answer shaped as :func:`hookhub.http.errors.error_response` shapes it."""
    extra: dict[str, Any] = {} if errors is None else {"errors": errors}
    request_id = scope.get("state", {}).get("request_id")
    if isinstance(request_id, str):
        extra["request_id"] = request_id
    raw_headers = [
        (name.lower().encode(), value.encode()) for name, value in (headers or {}).items()
    ]
    await send_json(send, status, error_bytes(message, **extra), raw_headers)
