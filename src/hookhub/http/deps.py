"""Request-scoped dependencies and the admin route class.

The dependencies are ``async def`` although they never wait: FastAPI runs a plain ``def``
dependency in a worker thread, a thread hop on every request for a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hookhub.paging import MAX_PAGE_LIMIT
from hookhub.services import Services
from hookhub.tokens import Principal

#: Declared on admin routers so the OpenAPI schema shows the bearer scheme; the check itself
#: runs in :class:`AdminRoute`, before the body is parsed.
bearer_scheme = HTTPBearer(auto_error=False, description="HOOKHUB_ADMIN_TOKEN or an API token")
BEARER_PREFIX = "bearer "


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def services_dependency(request: Request) -> Services:
    return get_services(request)


async def request_id(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[: len(BEARER_PREFIX)].lower() != BEARER_PREFIX:
        return None
    return header[len(BEARER_PREFIX) :].strip() or None


class AdminRoute(APIRoute):
    """A route that authenticates the caller before FastAPI reads or validates the body.

    So an unauthenticated caller gets 401 whatever it sent, and learns nothing about the
    shape the endpoint expects. The principal lands in ``request.state.principal``.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            services = get_services(request)
            request.state.principal = await services.tokens.authenticate(_bearer_token(request))
            return await handler(request)

        return authenticated


async def current_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    principal: Principal = request.state.principal
    return principal


ServicesDep = Annotated[Services, Depends(services_dependency)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
RequestIdDep = Annotated[str | None, Depends(request_id)]
#: The paging query parameters of every admin listing.
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)]
Offset = Annotated[int, Query(ge=0)]
