"""``http_request``: one HTTP request to an outside service, behind the outgoing SSRF guard.

- The URL's host is resolved and checked by ``context.url_guard`` (the policy of outgoing
  webhooks: no private, loopback, link-local or metadata addresses unless the settings allow
  them), and the request connects to exactly the addresses checked, so a name re-pointed
  inside between the check and the connection (DNS rebinding) gets nowhere.
- Redirects are not followed (a redirect could point inside); a 3xx is an answer like any other.
- ``timeout_s`` bounds the whole exchange and is capped at :data:`MAX_TIMEOUT_S`; the answer's
  body is read up to :data:`MAX_RESPONSE_BODY_BYTES` and the rest dropped (``truncated``).
- **Non-2xx answers fail the action** (:class:`ActionFailed` naming the status), so an
  automation's execution shows the error and its retries apply. With ``fail_on_status: false``
  every answer is a result and ``ok`` tells 2xx from the rest. No answer at all (refused,
  timed out) always fails.

Result: ``{"ok", "status", "headers" (a safe subset), "body" (text), "json" (when the answer
is JSON and whole), "truncated", "duration_ms"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import httpx2
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)

from hookhub import __version__
from hookhub.actions.registry import ActionCall, ActionContext, ActionFailed, ActionRegistry
from hookhub.outbound.models import HttpUrl
from hookhub.outbound.sender import pinned
from hookhub.outbound.ssrf import IPAddress, UnsafeURLError, split_url

NAME = "http_request"
DEFAULT_TIMEOUT_S = 10.0
#: The longest a request may take: an automation step must not hold a worker for minutes.
MAX_TIMEOUT_S = 30.0
MAX_REQUEST_BODY_BYTES = 1024 * 1024
MAX_RESPONSE_BODY_BYTES = 64 * 1024
MAX_HEADERS = 50
MAX_HEADER_VALUE_CHARS = 8192
USER_AGENT = f"hookhub/{__version__}"
#: Answer headers worth giving back; cookies and the like stay out of results and history.
RESPONSE_HEADERS = (
    "content-type",
    "content-length",
    "location",
    "retry-after",
    "etag",
    "last-modified",
)
#: Set by hookhub (``Host`` carries the name while the connection goes to a checked address)
#: or by the transport; a caller's value would break the pinning or the framing.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class HttpRequestParams(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: Annotated[Method, BeforeValidator(_upper)] = "GET"
    url: HttpUrl
    headers: dict[str, str] = Field(default_factory=dict, max_length=MAX_HEADERS)
    #: A JSON body (sent with ``Content-Type: application/json`` unless a header says else).
    json_body: JsonValue = Field(default=None, alias="json")
    #: A text body, sent as UTF-8; give ``json`` or ``body``, not both.
    body: str | None = None
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S)
    fail_on_status: bool = True

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"header name {name!r} is not a valid token")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by hookhub")
            # A line break would let a templated value add headers of its own (splitting).
            if "\r" in value or "\n" in value or "\0" in value:
                raise ValueError(f"header {name!r} has a line break or NUL in its value")
            if len(value) > MAX_HEADER_VALUE_CHARS:
                raise ValueError(f"header {name!r} is over {MAX_HEADER_VALUE_CHARS} characters")
        return headers

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestParams:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give json or body, not both")
        if len(self.content()) > MAX_REQUEST_BODY_BYTES:
            raise ValueError(f"the request body is over {MAX_REQUEST_BODY_BYTES} bytes")
        return self

    def content(self) -> bytes:
        if self.json_body is not None:
            return json.dumps(self.json_body, separators=(",", ":")).encode()
        return (self.body or "").encode()

    def request_headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        if self.json_body is not None:
            headers["Content-Type"] = "application/json"
        present = {name.lower() for name in self.headers}
        headers = {k: v for k, v in headers.items() if k.lower() not in present}
        return {**headers, **self.headers}


async def http_request(
    params: HttpRequestParams, context: ActionContext, call: ActionCall
) -> dict[str, Any]:
    _scheme, host, _port = split_url(params.url)
    # Messages name the method and host only: a URL's path or query may carry a token.
    where = f"{params.method} {host}"
    try:
        addresses = await context.url_guard.check(params.url)
    except UnsafeURLError as exc:
        raise ActionFailed(f"{where}: URL refused: {exc.message}") from None
    begun = time.perf_counter()
    try:
        async with asyncio.timeout(params.timeout_s):
            result = await _exchange(context.http_client, params, addresses)
    except (TimeoutError, httpx2.TimeoutException):
        raise ActionFailed(f"{where}: no answer within {params.timeout_s:g} s") from None
    except httpx2.HTTPError as exc:
        raise ActionFailed(f"{where}: {type(exc).__name__}") from None
    result["duration_ms"] = round((time.perf_counter() - begun) * 1000, 3)
    if params.fail_on_status and not result["ok"]:
        raise ActionFailed(f"{where} answered {result['status']}")
    return result


async def _exchange(
    client: httpx2.AsyncClient, params: HttpRequestParams, addresses: Sequence[IPAddress]
) -> dict[str, Any]:
    """Connect to the checked addresses in turn (moving on only when one refuses)."""
    targets = [pinned(params.url, address) for address in addresses] or [(params.url, {}, {})]
    for index, (url, host_header, extensions) in enumerate(targets):
        # A Request of its own, not client.build_request: that would add the shared client's
        # cookie jar to a request whose URL comes from a template.
        request = httpx2.Request(
            params.method,
            url,
            headers={**params.request_headers(), **host_header},
            content=params.content(),
            extensions={
                **extensions,
                "timeout": httpx2.Timeout(params.timeout_s).as_dict(),
            },
        )
        try:
            response = await client.send(request, stream=True)
        except httpx2.ConnectError:
            if index == len(targets) - 1:
                raise
            continue
        try:
            return await _read(response)
        finally:
            await response.aclose()
    raise AssertionError("unreachable: the last target returns or raises")


async def _read(response: httpx2.Response) -> dict[str, Any]:
    data = b""
    truncated = False
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > MAX_RESPONSE_BODY_BYTES:
            data, truncated = data[:MAX_RESPONSE_BODY_BYTES], True
            break
    status = response.status_code
    result: dict[str, Any] = {
        "ok": 200 <= status < 300,
        "status": status,
        "headers": {
            name: response.headers[name] for name in RESPONSE_HEADERS if name in response.headers
        },
        "body": _text(data, response.encoding),
        "truncated": truncated,
    }
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not truncated and (content_type == "application/json" or content_type.endswith("+json")):
        # Not JSON after all: the text is in "body"; a wrong content type is the server's affair.
        with contextlib.suppress(ValueError):
            result["json"] = json.loads(data, parse_constant=_not_json)
    return result


def _text(data: bytes, encoding: str | None) -> str:
    try:
        return data.decode(encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", errors="replace")


def _not_json(constant: str) -> None:
    # Python's json reads NaN and Infinity; JSON has neither, and results must be JSON.
    raise ValueError(f"{constant} is not JSON")


def register(registry: ActionRegistry) -> None:
    registry.register(NAME, http_request, HttpRequestParams)
