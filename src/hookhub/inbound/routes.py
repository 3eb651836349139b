"""HTTP routes of this part; ``create_app`` includes every router in :data:`ROUTERS`.

``/endpoints`` is the admin API (admin token, checked before the body is parsed);
``/hooks/{slug}`` is public: what proves a request there is the endpoint's own verification.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request, Response, Security
from pydantic import BaseModel
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from hookhub.http.deps import AdminRoute, Limit, Offset, ServicesDep, bearer_scheme
from hookhub.http.errors import ADMIN_ERROR_RESPONSES, ErrorBody, error_response
from hookhub.http.fast import body_chunks, send_error
from hookhub.http.middleware import send_json
from hookhub.inbound.models import (
    HTTP_METHODS,
    Deleted,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    EndpointWithSecret,
    ReplayResult,
    RequestOut,
    Verdict,
)
from hookhub.inbound.payload import without_nul
from hookhub.inbound.receiver import Incoming
from hookhub.paging import DEFAULT_PAGE_LIMIT, Page
from hookhub.services import Services

admin = APIRouter(
    prefix="/endpoints",
    tags=["incoming endpoints"],
    route_class=AdminRoute,
    dependencies=[Security(bearer_scheme)],
    responses={
        **ADMIN_ERROR_RESPONSES,
        404: {"model": ErrorBody, "description": "Not found"},
        409: {"model": ErrorBody, "description": "Defined in the config file, or not replayable"},
    },
)


@admin.post("", status_code=201, response_model=EndpointWithSecret, summary="Create an endpoint")
async def create_endpoint(body: EndpointCreate, services: ServicesDep) -> EndpointWithSecret:
    """The answer holds the verification secret (given, or generated) this once."""
    return await services.inbound.create(body)


@admin.get("", response_model=Page[EndpointOut], summary="List endpoints")
async def list_endpoints(
    services: ServicesDep,
    is_active: bool | None = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
    offset: Offset = 0,
) -> Page[EndpointOut]:
    return await services.inbound.list(is_active=is_active, limit=limit, offset=offset)


@admin.get("/{endpoint_id}", response_model=EndpointOut, summary="One endpoint")
async def get_endpoint(endpoint_id: str, services: ServicesDep) -> EndpointOut:
    return await services.inbound.get(endpoint_id)


@admin.patch("/{endpoint_id}", response_model=EndpointOut, summary="Change an endpoint")
async def update_endpoint(
    endpoint_id: str, body: EndpointUpdate, services: ServicesDep
) -> EndpointOut:
    """Fields left out keep their value; in ``verification`` and ``dedupe`` too. A new scheme
    needs its secret in the same request. Config-defined endpoints answer 409."""
    return await services.inbound.update(endpoint_id, body)


@admin.delete(
    "/{endpoint_id}", response_model=Deleted, summary="Delete an endpoint and its history"
)
async def delete_endpoint(endpoint_id: str, services: ServicesDep) -> Deleted:
    await services.inbound.delete(endpoint_id)
    return Deleted()


@admin.get(
    "/{endpoint_id}/requests",
    response_model=Page[RequestOut],
    summary="The request history, newest first",
)
async def list_requests(
    endpoint_id: str,
    services: ServicesDep,
    verdict: Verdict | None = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
    offset: Offset = 0,
) -> Page[RequestOut]:
    return await services.inbound.requests(endpoint_id, verdict=verdict, limit=limit, offset=offset)


@admin.get("/{endpoint_id}/requests/{request_id}", response_model=RequestOut, summary="One request")
async def get_request(endpoint_id: str, request_id: str, services: ServicesDep) -> RequestOut:
    return await services.inbound.request(endpoint_id, request_id)


@admin.post(
    "/{endpoint_id}/requests/{request_id}/replay",
    response_model=ReplayResult,
    summary="Run an accepted request's automations again",
)
async def replay_request(endpoint_id: str, request_id: str, services: ServicesDep) -> ReplayResult:
    return await services.inbound.replay(endpoint_id, request_id, services.automations)


public = APIRouter(tags=["incoming webhooks"])


class Accepted(BaseModel):
    """Seed 002's success answer (``duplicate: true`` for a repeated delivery id)."""

    success: bool = True
    message: str
    executionId: str | None = None
    receivedAt: str
    duplicate: bool | None = None


HOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Accepted, "description": "Stored, and handed to the automations"},
    400: {"model": ErrorBody, "description": "Malformed JSON, or `Invalid payload` (schema)"},
    401: {"model": ErrorBody, "description": "`Security validation failed`"},
    404: {"model": ErrorBody, "description": "`Webhook not found` (unknown or inactive)"},
    405: {"model": ErrorBody, "description": "Method not allowed (see `Allow`)"},
    413: {"model": ErrorBody, "description": "Body over the endpoint's limit"},
    415: {"model": ErrorBody, "description": "Content type the endpoint does not take"},
    429: {"model": ErrorBody, "description": "Over the rate limit (see `Retry-After`)"},
}


#: Documented as optional JSON; the route reads the raw bytes itself (verified before parsing).
HOOK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


async def receive(slug: str, request: Request, services: ServicesDep) -> Response:
    """The raw body is read (up to the endpoint's limit) and verified before anything parses it;
    then the media type, JSON, the endpoint's schema and dedupe are checked, the request is
    stored, and the automations start. Errors: ``{"success": false, "message"}``."""
    declared = request.headers.get("content-length")
    incoming = Incoming(
        slug=slug,
        method=request.method,
        headers=[(name, value) for name, value in request.headers.items()],
        query={name: without_nul(value) for name, value in request.query_params.items()},
        peer=request.client.host if request.client else None,
        declared_length=int(declared) if declared and declared.isdigit() else None,
        body=request.stream(),
    )
    answer = await services.inbound.receiver.receive(incoming, services.automations)
    if answer.success:
        return Response(
            orjson.dumps(answer.body()), status_code=answer.status, media_type="application/json"
        )
    request_id = getattr(request.state, "request_id", None)
    return error_response(
        answer.status,
        answer.message,
        errors=answer.errors,
        request_id=request_id if isinstance(request_id, str) else None,
        headers=answer.headers or None,
    )


async def hook_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """``/hooks/{slug}`` as a bare ASGI app, answering as :func:`receive` does.

    ``create_app`` serves it ahead of FastAPI's routing (:mod:`hookhub.http.fast`): on this
    path, FastAPI's request handling cost more than verifying, checking and storing a webhook.
    """
    services: Services = scope["app"].state.services
    headers = [
        (bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in scope["headers"]
    ]
    declared = next((value for name, value in headers if name == "content-length"), None)
    query_string: bytes = scope.get("query_string", b"")
    query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    client = scope.get("client")
    incoming = Incoming(
        slug=scope["path_params"]["slug"],
        method=scope["method"],
        headers=headers,
        query={name: without_nul(value) for name, value in query.items()},
        peer=client[0] if client else None,
        declared_length=int(declared) if declared and declared.isdigit() else None,
        body=body_chunks(receive),
    )
    try:
        answer = await services.inbound.receiver.receive(incoming, services.automations)
    except ClientDisconnect:
        return  # nobody to answer; the request context logs 499
    if answer.success:
        await send_json(send, answer.status, orjson.dumps(answer.body()), [])
        return
    await send_error(
        scope, send, answer.status, answer.message, errors=answer.errors, headers=answer.headers
    )


# One route per method, so each has its own operation id in the OpenAPI schema.
for _method in HTTP_METHODS:
    public.add_api_route(
        "/hooks/{slug}",
        receive,
        methods=[_method],
        operation_id=f"receive_webhook_{_method.lower()}",
        summary="Receive a webhook",
        responses=HOOK_RESPONSES,
        openapi_extra=None if _method in ("GET", "DELETE") else HOOK_BODY,
    )

ROUTERS: list[APIRouter] = [admin, public]
#: HTTP endpoints, by method and path, that ``create_app`` serves ahead of FastAPI's routing.
FAST_HTTP: dict[tuple[str, str], ASGIApp] = {
    (method, "/hooks/{slug}"): hook_endpoint for method in HTTP_METHODS
}
