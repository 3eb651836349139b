"""Routes of the signal webhook: public ``POST /xc``, and the admin ``/signals/codes`` API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, Security

from hookhub.errors import PayloadTooLargeError
from hookhub.http.deps import AdminRoute, PrincipalDep, RequestIdDep, ServicesDep, bearer_scheme
from hookhub.http.errors import ADMIN_ERROR_RESPONSES, ErrorBody
from hookhub.realtime.protocol import MAX_USER_CHARS
from hookhub.signals.body import JSON, TEXT, media_type
from hookhub.signals.models import (
    OWNER_PATTERN,
    CodeOut,
    CodeRequest,
    ConnectionInfo,
    Revoked,
    SignalAccepted,
)

Owner = Annotated[str, Path(min_length=1, max_length=MAX_USER_CHARS, pattern=OWNER_PATTERN)]

codes_router = APIRouter(
    prefix="/signals/codes",
    tags=["signals"],
    route_class=AdminRoute,
    dependencies=[Security(bearer_scheme)],
    responses={**ADMIN_ERROR_RESPONSES, 404: {"model": ErrorBody, "description": "No code"}},
)


@codes_router.post(
    "",
    response_model=CodeOut,
    status_code=201,
    summary="Get or create an owner's signal code",
    responses={200: {"model": CodeOut, "description": "The owner already had this code"}},
)
async def code_for(
    body: CodeRequest,
    response: Response,
    services: ServicesDep,
    principal: PrincipalDep,
    request_id: RequestIdDep,
) -> CodeOut:
    """Idempotent: 201 with a new code the first time, then 200 with the same code."""
    code, created = await services.signals.code_for(
        body.owner, actor=principal.name, request_id=request_id
    )
    if not created:
        response.status_code = 200
    return code


@codes_router.get(
    "/{owner}/connection-string",
    response_model=ConnectionInfo,
    summary="The connection string and webhook URL to give the owner (seed 001)",
)
async def connection_string(owner: Owner, services: ServicesDep) -> ConnectionInfo:
    return await services.signals.connection(owner)


@codes_router.delete("/{owner}", response_model=Revoked, summary="Revoke an owner's code")
async def revoke(
    owner: Owner, services: ServicesDep, principal: PrincipalDep, request_id: RequestIdDep
) -> Revoked:
    """The code gets 401 from then on; a later ``POST`` makes the owner a new one."""
    await services.signals.revoke(owner, actor=principal.name, request_id=request_id)
    return Revoked()


webhook_router = APIRouter(tags=["signals"])

_EXAMPLE = (
    "code=K strategy_id=MyStrategy demo=YES command=sell exchange=binance "
    "coinmarket=BTCUSDT amount=0.05"
)
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            TEXT: {"schema": {"type": "string"}, "example": _EXAMPLE},
            JSON: {
                "schema": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "object", "additionalProperties": {"type": "string"}},
                    ]
                },
                "example": _EXAMPLE,
            },
        },
    }
}


async def _read_body(request: Request, max_body_bytes: int) -> bytes:
    # The app-wide limit is much larger; a connection string is about 150 bytes.
    declared = request.headers.get("content-length")
    too_large = PayloadTooLargeError(f"Request body exceeds {max_body_bytes} bytes")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@webhook_router.post(
    "/xc",
    response_model=SignalAccepted,
    summary="Receive a trading signal (seed 001's connection string)",
    openapi_extra=_BODY_DOC,
    responses={
        400: {"model": ErrorBody, "description": "Bad fields; `errors` names each"},
        401: {"model": ErrorBody, "description": "Unknown or revoked code"},
        413: {"model": ErrorBody, "description": "Body over HOOKHUB_SIGNALS_MAX_BODY_BYTES"},
        415: {"model": ErrorBody, "description": "Not text/plain or application/json"},
        429: {"model": ErrorBody, "description": "Over the owner's rate limit"},
        503: {"model": ErrorBody, "description": "Store unreachable"},
    },
)
async def receive_signal(
    request: Request, services: ServicesDep, request_id: RequestIdDep
) -> SignalAccepted:
    """Publishes ``signal.received`` to ``user:<owner>``; answers with the event's id."""
    content_type = request.headers.get("content-type")
    media_type(content_type)  # refuse a wrong type before reading the body
    body = await _read_body(request, services.settings.signals_max_body_bytes)
    event = await services.signals.receive(body, content_type, request_id=request_id)
    return SignalAccepted(event_id=event.id, received_at=event.occurred_at)


ROUTERS: list[APIRouter] = [codes_router, webhook_router]
