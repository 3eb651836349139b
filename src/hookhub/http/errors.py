"""Every error answer hookhub's HTTP API gives, shaped in one place.

Body: ``{"success": false, "message": ..., "errors"?: [...], "request_id"?: ...}``. Messages
come from :class:`HookhubError` (safe by contract) or are fixed here; exception details never
reach a caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from hookhub.errors import AuthError, HookhubError, RateLimitedError

MALFORMED_JSON = "Malformed JSON body"
INVALID_REQUEST = "Invalid request"
INTERNAL_ERROR = "Internal server error"


class ErrorItem(BaseModel):
    path: str
    message: str


class ErrorBody(BaseModel):
    """The JSON body of every error answer."""

    success: bool = False
    message: str
    errors: list[ErrorItem] | None = None
    request_id: str | None = None


def error_response(
    status_code: int,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"success": False, "message": message}
    if errors is not None:
        body["errors"] = errors
    if request_id is not None:
        body["request_id"] = request_id
    return Response(
        orjson.dumps(body), status_code=status_code, media_type="application/json", headers=headers
    )


def error_bytes(message: str, **extra: Any) -> bytes:
    """An error body as bytes, for the ASGI middleware that answers before any route runs."""
    return orjson.dumps({"success": False, "message": message, **extra})


def validation_items(errors: Iterable[Mapping[str, Any]], *prefix: str) -> list[dict[str, Any]]:
    """Pydantic's (or FastAPI's) errors as ``{path, message}`` items, paths under ``prefix``."""
    items = []
    for error in errors:
        path = ".".join([*prefix, *(str(part) for part in error.get("loc", ()))])
        items.append({"path": path, "message": str(error.get("msg", "invalid"))})
    return items


def error_headers(exc: HookhubError) -> dict[str, str] | None:
    """The headers an error's answer carries: a challenge for 401, when to retry for 429."""
    if isinstance(exc, RateLimitedError):
        return {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, AuthError):
        return {"WWW-Authenticate": "Bearer"}
    return None


def _request_id(request: Request) -> str | None:
    # Set by RequestContextMiddleware; echoed so a caller can quote it when reporting a problem.
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


async def _hookhub_error(request: Request, error: Exception) -> Response:
    exc = cast(HookhubError, error)  # registered for HookhubError only
    return error_response(
        exc.status_code,
        exc.message,
        errors=exc.errors,
        request_id=_request_id(request),
        headers=error_headers(exc),
    )


async def _validation_error(request: Request, error: Exception) -> Response:
    exc = cast(RequestValidationError, error)  # registered for RequestValidationError only
    if any(error.get("type") == "json_invalid" for error in exc.errors()):
        return error_response(400, MALFORMED_JSON, request_id=_request_id(request))
    return error_response(
        422, INVALID_REQUEST, errors=validation_items(exc.errors()), request_id=_request_id(request)
    )


async def _http_error(request: Request, error: Exception) -> Response:
    exc = cast(StarletteHTTPException, error)  # registered for HTTPException only
    message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
    return error_response(
        exc.status_code, message, request_id=_request_id(request), headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HookhubError, _hookhub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


#: Documented on every admin route, so ``/docs`` shows what a caller may get back.
ADMIN_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Malformed JSON body"},
    401: {"model": ErrorBody, "description": "Missing or invalid admin token"},
    413: {"model": ErrorBody, "description": "Request body over the size limit"},
    422: {"model": ErrorBody, "description": "Well-formed but invalid request"},
    503: {"model": ErrorBody, "description": "Store unreachable"},
}
