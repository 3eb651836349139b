"""``create_app(settings)``: the FastAPI application and the lifespan that runs its services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hookhub import __version__, heap
from hookhub.automations import wiring as automations
from hookhub.clock import Clock, utc_now
from hookhub.config import Settings
from hookhub.errors import ConfigError
from hookhub.http.errors import install_error_handlers
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

    app = FastAPI(
        title="hookhub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.include_router(system.router)
    app.include_router(events.router)
    app.include_router(admin.router)
    app.include_router(webhooks.router)
    for part in (realtime, automations, inbound, tickets, signals):
        for router in part.ROUTERS:
            app.include_router(router)
    # Added last runs first: the request context wraps everything, including the 413.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=services.metrics)
    return app
