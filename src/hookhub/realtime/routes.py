"""Thin routes of the hub: ``/ws``, the internal broadcast API, admin views, the browser client."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Annotated, Any, cast
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Header, Query, Request, Response, Security
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from hookhub.errors import AuthError, HookhubError, InvalidInputError, MalformedJsonError
from hookhub.events import EVENT_TYPE_PATTERN, MAX_TYPE_CHARS, Channel, UtcDatetime
from hookhub.http.deps import (
    AdminRoute,
    ServicesDep,
    bearer_scheme,
    get_services,
)
from hookhub.http.errors import (
    ADMIN_ERROR_RESPONSES,
    INVALID_REQUEST,
    MALFORMED_JSON,
    ErrorBody,
    error_headers,
    validation_items,
)
from hookhub.http.fast import body_chunks, send_error
from hookhub.http.middleware import send_json
from hookhub.realtime.auth import MAX_PATTERNS, Grant
from hookhub.realtime.protocol import CLOSE_REASONS, MAX_USER_CHARS, CloseCode
from hookhub.realtime.service import BROADCAST_SENT, RealtimeService
from hookhub.services import Services

BEARER_PREFIX = "bearer "
SECRET_HEADER = "x-internal-secret"  # noqa: S105 (a header name)
#: Close code for a failure on the server's side while authenticating (RFC 6455 7.4.1).
INTERNAL_ERROR_CLOSE = 1011
JS_MEDIA_TYPE = "text/javascript; charset=utf-8"

#: Where WebSocket clients connect. Served by :func:`websocket_endpoint` ahead of the FastAPI
#: stack (see :class:`hookhub.app.HookhubApp`), so it is in the API description, not a route.
WS_PATH = "/ws"


def _token(scope: Scope) -> str | None:
    # Seed 004 passes the token as ?token= or ?api_key=; browsers cannot set headers on a
    # WebSocket, other clients may use Authorization. Read straight from the scope: Starlette's
    # query and header views would be cached on the connection for its whole life.
    query_string: bytes = scope.get("query_string", b"")
    query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    token = query.get("token") or query.get("api_key")
    if token:
        return token
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            header = bytes(value).decode("latin-1")
            if header[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
                return header[len(BEARER_PREFIX) :].strip() or None
            return None
    return None


async def _admit(realtime: RealtimeService, scope: Scope, websocket: WebSocket) -> Grant | None:
    """Accept the WebSocket and check its token; None once a refused one has been closed.

    The token lives only in this frame, not in the one that serves the connection for hours.
    """
    token = _token(scope)
    # Nothing reads the request's headers and query string again, and a browser's (cookies,
    # user agent, the token itself) would stay in memory as long as the connection. Dropped
    # before the accept, so the server's "accepted" log line does not show the token either.
    scope["headers"] = []
    scope["query_string"] = b""
    await websocket.accept()
    try:
        return await realtime.authenticate(token)
    except AuthError:
        await websocket.close(CloseCode.UNAUTHORIZED, CLOSE_REASONS[CloseCode.UNAUTHORIZED])
    except HookhubError:
        await websocket.close(INTERNAL_ERROR_CLOSE, "server error")
    return None


async def websocket_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """The hub's WebSocket, as a bare ASGI app: ``scope["app"]`` is the hookhub application.

    A bad or missing token is closed with 4401 and no other message. No FastAPI route and no
    HTTP middleware stays on the stack under a connection that may live for hours.
    """
    services: Services = scope["app"].state.services
    websocket = WebSocket(scope, receive, send)
    grant = await _admit(services.realtime, scope, websocket)
    if grant is not None:
        await services.realtime.hub.serve(websocket, grant)


#: The WebSocket endpoints, by path, that ``create_app`` serves ahead of its middleware.
WEBSOCKETS: dict[str, ASGIApp] = {WS_PATH: websocket_endpoint}


class InternalRoute(APIRoute):
    """Checks ``x-internal-secret`` before FastAPI reads the body, as AdminRoute does for tokens.

    A wrong or missing secret is 401 whatever was sent, and nothing is broadcast.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            get_services(request).realtime.check_internal_secret(request.headers.get(SECRET_HEADER))
            return await handler(request)

        return checked


internal_router = APIRouter(
    route_class=InternalRoute,
    tags=["realtime"],
    responses={
        400: {"model": ErrorBody, "description": "Malformed JSON body"},
        401: {"model": ErrorBody, "description": "Missing or wrong x-internal-secret"},
        409: {"model": ErrorBody, "description": "HOOKHUB_INTERNAL_SECRET is not set"},
        413: {"model": ErrorBody, "description": "Request body over the size limit"},
        422: {"model": ErrorBody, "description": "Not an object with a string type"},
        503: {"model": ErrorBody, "description": "Bus unreachable"},
    },
)


class BroadcastBody(BaseModel):
    """``{type, ...data}``: the message every subscriber receives, as sent (seed 003)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"type": "product_added", "shopId": 123, "productId": 456}]
        },
    )

    type: str = Field(min_length=1, max_length=MAX_TYPE_CHARS, pattern=EVENT_TYPE_PATTERN)


class BroadcastSent(BaseModel):
    success: bool = True
    message: str = BROADCAST_SENT
    type: str


BROADCAST_PATH = "/api/internal/broadcast"
_CHANNEL = TypeAdapter(Channel)


@internal_router.post(
    BROADCAST_PATH,
    response_model=BroadcastSent,
    summary="Broadcast a message to WebSocket clients (seed 003)",
)
async def broadcast(
    body: BroadcastBody,
    request: Request,
    channel: Annotated[
        Channel | None, Query(description="Default: HOOKHUB_REALTIME_BROADCAST_CHANNEL")
    ] = None,
    x_internal_secret: Annotated[str | None, Header(description="HOOKHUB_INTERNAL_SECRET")] = None,
) -> BroadcastSent:
    """Every connection subscribed to the channel receives the body exactly as sent.

    ``create_app`` serves this path with :func:`broadcast_endpoint`, ahead of FastAPI's
    routing; this route describes it in ``/openapi.json`` and serves it in an application
    that includes ``internal_router`` without :class:`hookhub.app.HookhubApp`.
    """
    # The raw body, not the model: subscribers get the caller's fields, order and values.
    message = orjson.loads(await request.body())
    if not isinstance(message, dict):  # the model check above makes this unreachable
        raise InvalidInputError("body must be a JSON object")
    # The services straight from the request, not through a dependency: FastAPI runs a plain
    # (non-async) dependency in a worker thread, a hand-off that cost more than the fan-out
    # to a thousand clients.
    await get_services(request).realtime.broadcast(message, channel=channel)
    return BroadcastSent(type=body.type)


async def broadcast_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /api/internal/broadcast`` as a bare ASGI app, answering as :func:`broadcast` does.

    A bot may broadcast many times a second to thousands of clients; FastAPI's routing,
    dependency solving and response model took more of the server's time than the fan-out
    it started. ``create_app`` runs this behind the request-context and body-limit middleware.
    """
    try:
        answer = await _broadcast(scope, receive)
    except ClientDisconnect:
        return  # nobody to answer; the request context logs 499
    except HookhubError as exc:
        await send_error(
            scope, send, exc.status_code, exc.message, errors=exc.errors, headers=error_headers(exc)
        )
        return
    await send_json(send, 200, answer, [])


async def _broadcast(scope: Scope, receive: Receive) -> bytes:
    """Check, parse and send one broadcast; the answer's body."""
    services: Services = scope["app"].state.services
    secret: str | None = None
    content_type = b""
    for name, value in scope["headers"]:
        if name == b"x-internal-secret":
            secret = bytes(value).decode("latin-1")
        elif name == b"content-type":
            content_type = bytes(value)
    services.realtime.check_internal_secret(secret)
    raw = b"".join([chunk async for chunk in body_chunks(receive)])
    body = _broadcast_body(raw, content_type)
    channel = _query_channel(scope.get("query_string", b""))
    await services.realtime.broadcast(body, channel=channel)
    return orjson.dumps({"success": True, "message": BROADCAST_SENT, "type": body["type"]})


def _broadcast_body(raw: bytes, content_type: bytes) -> dict[str, Any]:
    """The body as sent, once it is a JSON object with a valid ``type``; as FastAPI checks it."""
    media = content_type.split(b";", 1)[0].strip().lower()
    if media and media != b"application/json" and not media.endswith(b"+json"):
        raise InvalidInputError(
            INVALID_REQUEST, errors=[{"path": "body", "message": "a JSON body is required"}]
        )
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedJsonError(MALFORMED_JSON) from None
    try:
        BroadcastBody.model_validate(message)
    except ValidationError as exc:
        raise InvalidInputError(
            INVALID_REQUEST, errors=validation_items(exc.errors(), "body")
        ) from None
    return cast(dict[str, Any], message)


def _query_channel(query_string: bytes) -> str | None:
    given = None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name == "channel":
            given = value
    if given is None:
        return None
    try:
        return _CHANNEL.validate_python(given)
    except ValidationError as exc:
        raise InvalidInputError(
            INVALID_REQUEST, errors=validation_items(exc.errors(), "query", "channel")
        ) from None


#: HTTP endpoints, by method and path, that ``create_app`` serves ahead of FastAPI's routing.
FAST_HTTP: dict[tuple[str, str], ASGIApp] = {("POST", BROADCAST_PATH): broadcast_endpoint}


admin_router = APIRouter(
    prefix="/realtime",
    tags=["realtime"],
    route_class=AdminRoute,
    dependencies=[Security(bearer_scheme)],
    responses=ADMIN_ERROR_RESPONSES,
)


class UserCount(BaseModel):
    user: str
    connections: int


class ChannelPresence(BaseModel):
    channel: str
    connections: int
    users: list[UserCount]


class ChannelList(BaseModel):
    node: str
    connections: int
    channels: list[ChannelPresence]


def _presence(channel: str, connections: int, users: dict[str, int]) -> ChannelPresence:
    return ChannelPresence(
        channel=channel,
        connections=connections,
        users=[UserCount(user=user, connections=count) for user, count in sorted(users.items())],
    )


@admin_router.get(
    "/channels",
    response_model=ChannelList,
    summary="Channels with subscribers, on every node (with Redis); this node's connection count",
)
async def list_channels(services: ServicesDep) -> ChannelList:
    hub = services.realtime.hub
    channels = await services.realtime.channels()
    return ChannelList(
        node=hub.node_id,
        connections=len(hub.connections),
        channels=[_presence(p.channel, p.connections, p.users) for p in channels],
    )


@admin_router.get(
    "/channels/{channel:path}/presence",
    response_model=ChannelPresence,
    summary="Who is connected to a channel: user ids and connection counts",
)
async def channel_presence(channel: str, services: ServicesDep) -> ChannelPresence:
    presence = await services.realtime.presence(channel)
    return _presence(presence.channel, presence.connections, presence.users)


class MintToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(default=None, min_length=1, max_length=MAX_USER_CHARS)
    channels: list[str] = Field(default_factory=list, max_length=MAX_PATTERNS)
    ttl_s: float | None = Field(
        default=None, gt=0, description="Default: HOOKHUB_REALTIME_TOKEN_TTL_S"
    )


class MintedToken(BaseModel):
    token: str
    user: str | None
    channels: list[str]
    expires_at: UtcDatetime


@admin_router.post(
    "/tokens",
    status_code=201,
    response_model=MintedToken,
    summary="Mint a connection token (JWT) for /ws",
    responses={409: {"model": ErrorBody, "description": "HOOKHUB_TOKEN_SECRET is not set"}},
)
async def mint_token(body: MintToken, services: ServicesDep) -> MintedToken:
    token, expires = services.realtime.mint(
        user=body.user, channels=body.channels, ttl_s=body.ttl_s
    )
    return MintedToken(token=token, user=body.user, channels=body.channels, expires_at=expires)


static_router = APIRouter(tags=["realtime"])


@static_router.get(
    "/static/hookhub.js",
    response_class=Response,
    summary="The browser client",
    responses={200: {"content": {JS_MEDIA_TYPE: {}}, "description": "JavaScript"}},
)
async def browser_client() -> Response:
    script = resources.files("hookhub").joinpath("static/hookhub.js").read_bytes()
    return Response(script, media_type=JS_MEDIA_TYPE, headers={"Cache-Control": "max-age=300"})


ROUTERS = [internal_router, admin_router, static_router]
