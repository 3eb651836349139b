"""``create_app(settings)``: the FastAPI application and the lifespan that runs its services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from hookhub import __version__, heap
from hookhub.automations import wiring as automations
from hookhub.clock import Clock, utc_now
from hookhub.config import Settings
from hookhub.errors import ConfigError
from hookhub.http.errors import install_error_handlers
from hookhub.http.fast import FastRoutes, served_ahead
from hookhub.http.middleware import BodyLimitMiddleware, RequestContextMiddleware
from hookhub.http.routes import admin, events, system, webhooks
from hookhub.inbound import routes as inbound
from hookhub.realtime import routes as realtime
from hookhub.services import Services
from hookhub.signals import routes as signals
from hookhub.tickets import routes as tickets

DESCRIPTION = (
    "Self-hosted webhook and WebSocket gateway for chat bots and their web apps. "
    "Admin endpoints take `Authorization: Bearer <token>`; errors are "
    '`{"success": false, "message": ..., "errors"?: [...]}`. '
    "WebSocket clients connect to `GET /ws?token=...` (not listed here; its protocol and close "
    "codes are in the README)."
)


class HookhubApp(FastAPI):
    """FastAPI, with the endpoints in ``websockets`` and ``fast_http`` served ahead of its stack.

    A WebSocket connection may stay open for hours, and so does every frame on the stack under
    it: FastAPI's route and dependency machinery and the HTTP middleware held about 13 KB of
    each idle ``/ws`` connection. None of it has work to do there (the middleware passes
    WebSocket scopes through), so those paths go straight to their ASGI app.

    ``fast_http`` holds the HTTP endpoints served the same way, behind hookhub's request
    middleware (:mod:`hookhub.http.fast`): the broadcast API and the incoming webhooks.
    """

    websockets: Mapping[str, ASGIApp] = MappingProxyType({})
    fast_http: FastRoutes = FastRoutes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        endpoint = None
        if kind == "websocket":
            endpoint = self.websockets.get(_route_path(scope))
        elif kind == "http" and self.fast_http:
            endpoint = self.fast_http.match(scope, _route_path(scope))
        if endpoint is not None:
            scope["app"] = self
            await endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _route_path(scope: Scope) -> str:
    # As Starlette's router matches: the path below the root path the app is mounted at.
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


def create_app(settings: Settings, *, clock: Clock = utc_now, settle_heap: bool = False) -> FastAPI:
    """Build the application. Services start in the lifespan, in order, and stop in reverse.

    Raises :class:`ConfigError` when no admin token is configured: outside the demo mode of
    ``hookhub serve --demo`` an admin API without a token is refused, never left open.
    ``settle_heap`` tunes the garbage collector once the services have started
    (:func:`hookhub.heap.settle`); only a process that serves until it exits should ask.
    """
    if settings.admin_token is None:
        raise ConfigError("HOOKHUB_ADMIN_TOKEN: required (or run `hookhub serve --demo` locally)")
    services = Services.build(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        if settle_heap:
            heap.settle()
        try:
            yield
        finally:
            await services.stop()

    app = HookhubApp(
        title="hookhub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    app.websockets = realtime.WEBSOCKETS
    install_error_handlers(app)
    # FastAPI tries included routers one by one: the paths senders hit most come first (the
    # broadcast API, incoming webhooks, signals), so they skip the admin routers' matching.
    for part in (realtime, inbound, signals):
        for router in part.ROUTERS:
            app.include_router(router)
    app.include_router(system.router)
    app.include_router(events.router)
    app.include_router(admin.router)
    app.include_router(webhooks.router)
    for part in (automations, tickets):
        for router in part.ROUTERS:
            app.include_router(router)
    # Added last runs first: the request context wraps everything, including the 413.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=services.metrics)
    app.fast_http = served_ahead(
        {**realtime.FAST_HTTP, **inbound.FAST_HTTP},
        [*realtime.ROUTERS, *inbound.ROUTERS],
        max_body_bytes=settings.max_body_bytes,
        metrics=services.metrics,
    )
    return app
