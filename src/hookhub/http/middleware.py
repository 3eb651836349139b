"""Pure ASGI middleware: request context (id, log line, metrics, last-resort 500) and body limit.

Both run before any route, so they see every request, including those no route matches.
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hookhub.events import new_id
from hookhub.http.errors import INTERNAL_ERROR, error_bytes
from hookhub.metrics import Metrics

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
#: A caller's own request id is kept only when it is short and plain, so it is safe in logs.
#: Used with ``fullmatch``: a ``$`` anchor would also accept a trailing newline, which would
#: then be echoed into a response header.
_SAFE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._\-]{1,64}")
UNMATCHED_ROUTE = "<unmatched>"
#: Recorded when the app returned without answering: the client went away first (nginx's
#: code). Counting those as 500 would page someone for a caller hanging up mid-upload.
CLIENT_CLOSED_STATUS = 499


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Gives each request an id, logs it once, counts it, and turns a crash into a JSON 500.

    The id comes from a plain ``X-Request-ID`` header or is generated; it is echoed in the
    response, bound to every log line of the request and kept in ``request.state.request_id``.
    An unhandled exception is logged in full here and never reaches the caller.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER)
        request_id = given.decode() if given and _SAFE_REQUEST_ID.fullmatch(given) else new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        status = CLIENT_CLOSED_STATUS
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        begun = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("http.unhandled_error", method=scope["method"], path=scope["path"])
                if not started:
                    status = 500
                    body = error_bytes(INTERNAL_ERROR, request_id=request_id)
                    await send_json(send, 500, body, [(REQUEST_ID_HEADER, request_id.encode())])
            finally:
                elapsed_s = time.perf_counter() - begun
                route = _route_template(scope)
                self.metrics.http_requests.labels(scope["method"], route, str(status)).inc()
                self.metrics.http_latency.labels(scope["method"], route).observe(elapsed_s)
                log.info(
                    "http.request",
                    method=scope["method"],
                    path=scope["path"],  # without the query string, which may carry a token
                    route=route,
                    status=status,
                    duration_ms=round(elapsed_s * 1000, 2),
                )


def _route_template(scope: Scope) -> str:
    # The template (``/events/{event_id}``), not the path, keeps the metric's labels bounded.
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class BodyLimitMiddleware:
    """Answers 413 to a body over ``max_body_bytes`` without reading it whole.

    A declared ``Content-Length`` over the limit is refused before a byte of body is read. A
    body without one (chunked) is read up to the limit and refused as soon as it passes it;
    otherwise the buffered body is handed on unchanged.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_body_bytes:
                await self._refuse(scope, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        request_id = scope.get("state", {}).get("request_id")
        extra = {"request_id": request_id} if isinstance(request_id, str) else {}
        body = error_bytes(f"Request body exceeds {self.max_body_bytes} bytes", **extra)
        await send_json(send, 413, body, [(b"connection", b"close")])
