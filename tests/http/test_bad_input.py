"""Bad input on every admin endpoint: missing or wrong credentials, bad JSON, bad query, big bodies.

The endpoints are read from the OpenAPI schema (every operation that declares the bearer
scheme), so an admin endpoint added later is covered without touching this file.

The documented order of refusals: the body limit (413) is checked by middleware before any
route runs, so it comes first, even for an unauthenticated caller; authentication (401) comes
before the body is parsed, so an unauthenticated caller never learns the body's expected shape;
then malformed JSON (400), then validation (422).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.http.errors import INVALID_REQUEST, MALFORMED_JSON
from hookhub.paging import MAX_PAGE_LIMIT
from hookhub.services.tokens import AUTH_FAILED

#: The ``expect_error`` fixture of ``tests/http/conftest.py``.
ErrorCheck = Callable[..., dict[str, Any]]
MAX_BODY_BYTES = 1024
#: Stands in for every path parameter: a well-formed id that names nothing.
PATH_PARAM_VALUE = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
KNOWN_ADMIN_OPERATIONS = {
    ("POST", "/events"),
    ("GET", "/events"),
    ("GET", "/events/{event_id}"),
    ("POST", "/tokens"),
    ("GET", "/tokens"),
    ("DELETE", "/tokens/{token_id}"),
    ("GET", "/audit"),
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    body_schema: dict[str, Any] | None
    query_params: frozenset[str]

    @property
    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", PATH_PARAM_VALUE, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = document
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return found


def admin_operations(app: FastAPI) -> list[Operation]:
    """Every operation in the app's OpenAPI schema that declares an HTTP bearer scheme."""
    document = app.openapi()
    schemes = document.get("components", {}).get("securitySchemes", {})
    bearer = {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and scheme.get("scheme", "").lower() == "bearer"
    }
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not any(bearer & set(need) for need in operation.get("security", [])):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    body_schema=_resolve(body, document) if body is not None else None,
                    query_params=frozenset(query),
                )
            )
    return found


def _schema_only_app() -> FastAPI:
    # Building the app opens nothing (the engine connects lazily), so collection stays I/O free.
    settings = Settings(admin_token="x" * 40, database_url="sqlite:///schema-only.db")
    return create_app(settings)


OPERATIONS = admin_operations(_schema_only_app())
BODY_OPERATIONS = [op for op in OPERATIONS if op.body_schema is not None]
PAGED_OPERATIONS = [op for op in OPERATIONS if {"limit", "offset"} <= op.query_params]


@pytest.fixture
def app(make_settings: Callable[..., Settings]) -> FastAPI:
    return create_app(make_settings(max_body_bytes=MAX_BODY_BYTES))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def _send(
    client: TestClient,
    op: Operation,
    *,
    headers: dict[str, str] | None = None,
    content: Any = None,
    params: dict[str, str] | None = None,
) -> Any:
    return client.request(op.method, op.url, headers=headers, content=content, params=params)


def test_discovery_finds_the_known_admin_endpoints(app: FastAPI) -> None:
    found = {(op.method, op.path) for op in admin_operations(app)}
    assert found
    assert found >= KNOWN_ADMIN_OPERATIONS
    assert {(op.method, op.path) for op in BODY_OPERATIONS} >= {
        ("POST", "/events"),
        ("POST", "/tokens"),
    }
    assert {(op.method, op.path) for op in PAGED_OPERATIONS} >= {
        ("GET", "/events"),
        ("GET", "/audit"),
    }


def test_public_endpoints_are_not_admin(app: FastAPI) -> None:
    paths = {op.path for op in admin_operations(app)}
    assert not paths & {"/healthz", "/readyz", "/metrics"}


# --- authentication, on every admin endpoint ------------------------------------------------


def _assert_auth_refused(response: Any, expect_error: ErrorCheck) -> None:
    expect_error(response, 401, AUTH_FAILED)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_without_token_is_401(client: TestClient, op: Operation, expect_error: ErrorCheck) -> None:
    _assert_auth_refused(_send(client, op), expect_error)


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token-" + "b" * 32,
        "Bearer hh_" + "c" * 43,
        "Bearer",
        "Bearer ",
        "",
    ],
    ids=["wrong", "unknown-api-token", "scheme-only", "empty-token", "empty-header"],
)
def test_with_wrong_token_is_401(
    client: TestClient, op: Operation, authorization: str, expect_error: ErrorCheck
) -> None:
    response = _send(client, op, headers={"Authorization": authorization})
    _assert_auth_refused(response, expect_error)


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_basic_scheme_with_the_admin_token_is_401(
    client: TestClient, op: Operation, admin_headers: dict[str, str], expect_error: ErrorCheck
) -> None:
    token = admin_headers["Authorization"].removeprefix("Bearer ")
    for credentials in (token, base64.b64encode(f"admin:{token}".encode()).decode()):
        response = _send(client, op, headers={"Authorization": f"Basic {credentials}"})
        _assert_auth_refused(response, expect_error)


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_admin_token_is_accepted_with_any_scheme_case(
    client: TestClient, op: Operation, admin_headers: dict[str, str]
) -> None:
    token = admin_headers["Authorization"].removeprefix("Bearer ")
    response = _send(client, op, headers={"Authorization": f"bearer {token}"})
    assert response.status_code != 401


# --- JSON bodies ----------------------------------------------------------------------------


def _string_fields(op: Operation) -> list[str]:
    assert op.body_schema is not None
    properties = op.body_schema.get("properties", {})

    def takes_string(field: dict[str, Any]) -> bool:
        # Optional fields are ``anyOf: [{type: string}, {type: null}]``.
        options = field.get("anyOf", [field])
        return any(option.get("type") == "string" for option in options)

    return [name for name, field in properties.items() if takes_string(field)]


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=str)
@pytest.mark.parametrize("raw", [b"{bad", b'{"type": "a",}', b"[1, 2", b"\xff\xfe"])
def test_malformed_json_is_400(
    client: TestClient,
    op: Operation,
    raw: bytes,
    admin_headers: dict[str, str],
    expect_error: ErrorCheck,
) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}
    body = expect_error(_send(client, op, headers=headers, content=raw), 400, MALFORMED_JSON)
    assert "errors" not in body


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=str)
def test_wrong_type_is_422_naming_the_field(
    client: TestClient, op: Operation, admin_headers: dict[str, str], expect_error: ErrorCheck
) -> None:
    fields = _string_fields(op)
    assert fields, f"{op} has no string field to send a number in"
    for field in fields:
        response = client.request(op.method, op.url, headers=admin_headers, json={field: 5})
        body = expect_error(response, 422, INVALID_REQUEST)
        paths = [item["path"] for item in body["errors"]]
        assert f"body.{field}" in paths
        assert all(isinstance(item["message"], str) and item["message"] for item in body["errors"])


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=str)
def test_unknown_field_is_422(
    client: TestClient, op: Operation, admin_headers: dict[str, str], expect_error: ErrorCheck
) -> None:
    response = client.request(
        op.method, op.url, headers=admin_headers, json={"surprise_field": True}
    )
    body = expect_error(response, 422, INVALID_REQUEST)
    assert "body.surprise_field" in [item["path"] for item in body["errors"]]


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=str)
@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"5", b"null"])
def test_json_that_is_not_an_object_is_422(
    client: TestClient,
    op: Operation,
    raw: bytes,
    admin_headers: dict[str, str],
    expect_error: ErrorCheck,
) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}
    expect_error(_send(client, op, headers=headers, content=raw), 422, INVALID_REQUEST)


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=str)
@pytest.mark.parametrize("raw", [b"{bad", b'{"type": 5, "name": 5}', b'{"surprise_field": 1}'])
def test_unauthenticated_bad_body_is_401_not_400_or_422(
    client: TestClient, op: Operation, raw: bytes, expect_error: ErrorCheck
) -> None:
    headers = {"Content-Type": "application/json"}
    body = expect_error(_send(client, op, headers=headers, content=raw), 401, AUTH_FAILED)
    assert "errors" not in body


# --- body size ------------------------------------------------------------------------------

TOO_BIG = b"x" * (MAX_BODY_BYTES + 1)
LIMIT_MESSAGE = f"Request body exceeds {MAX_BODY_BYTES} bytes"


def _chunks(data: bytes, size: int = 100) -> Iterator[bytes]:
    # A generator body has no length, so httpx sends it chunked, without Content-Length.
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=str)
@pytest.mark.parametrize("authenticated", [True, False], ids=["admin", "anonymous"])
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_oversized_body_is_413(
    client: TestClient,
    op: Operation,
    authenticated: bool,
    framing: str,
    admin_headers: dict[str, str],
    expect_error: ErrorCheck,
) -> None:
    headers = {"Content-Type": "application/json", **(admin_headers if authenticated else {})}
    content = TOO_BIG if framing == "content-length" else _chunks(TOO_BIG)
    response = _send(client, op, headers=headers, content=content)
    expect_error(response, 413, LIMIT_MESSAGE)
    assert response.headers["connection"] == "close"
    assert ("content-length" in response.request.headers) == (framing == "content-length")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_at_the_limit_passes_and_one_byte_more_does_not(
    client: TestClient, framing: str, admin_headers: dict[str, str], expect_error: ErrorCheck
) -> None:
    def body_of(size: int) -> bytes:
        skeleton = orjson.dumps({"type": "size.test", "payload": {"pad": ""}})
        return orjson.dumps({"type": "size.test", "payload": {"pad": "p" * (size - len(skeleton))}})

    headers = {**admin_headers, "Content-Type": "application/json"}
    exact, over = body_of(MAX_BODY_BYTES), body_of(MAX_BODY_BYTES + 1)
    assert (len(exact), len(over)) == (MAX_BODY_BYTES, MAX_BODY_BYTES + 1)

    def post(raw: bytes) -> Any:
        content = raw if framing == "content-length" else _chunks(raw)
        return client.post("/events", headers=headers, content=content)

    accepted = post(exact)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["payload"]["pad"] == orjson.loads(exact)["payload"]["pad"]
    expect_error(post(over), 413, LIMIT_MESSAGE)


def test_chunked_body_under_the_limit_is_handed_on_whole(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    raw = orjson.dumps({"type": "chunked.ok", "payload": {"n": list(range(50))}})
    headers = {**admin_headers, "Content-Type": "application/json"}
    response = client.post("/events", headers=headers, content=_chunks(raw, size=7))
    assert response.status_code == 201, response.text
    assert response.json()["payload"] == {"n": list(range(50))}


def test_oversized_body_is_refused_on_any_path(
    client: TestClient, expect_error: ErrorCheck
) -> None:
    # The limit is middleware: it holds before routing, for routes that take no body at all.
    expect_error(client.post("/healthz", content=TOO_BIG), 413, LIMIT_MESSAGE)
    expect_error(client.post("/no-such-route", content=_chunks(TOO_BIG)), 413, LIMIT_MESSAGE)


# --- query parameters -----------------------------------------------------------------------


@pytest.mark.parametrize("op", PAGED_OPERATIONS, ids=str)
@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "-1"}, "query.limit"),
        ({"limit": "abc"}, "query.limit"),
        ({"limit": str(MAX_PAGE_LIMIT + 1)}, "query.limit"),
        ({"offset": "-1"}, "query.offset"),
        ({"offset": "1.5"}, "query.offset"),
    ],
    ids=["limit=0", "limit=-1", "limit=abc", "limit>max", "offset=-1", "offset=1.5"],
)
def test_bad_paging_query_is_422(
    client: TestClient,
    op: Operation,
    params: dict[str, str],
    path: str,
    admin_headers: dict[str, str],
    expect_error: ErrorCheck,
) -> None:
    response = _send(client, op, headers=admin_headers, params=params)
    body = expect_error(response, 422, INVALID_REQUEST)
    assert [item["path"] for item in body["errors"]] == [path]


@pytest.mark.parametrize("op", PAGED_OPERATIONS, ids=str)
def test_bad_paging_query_unauthenticated_is_401(
    client: TestClient, op: Operation, expect_error: ErrorCheck
) -> None:
    expect_error(_send(client, op, params={"limit": "abc"}), 401, AUTH_FAILED)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/events?type=not%20a%20type", "query.type"),
        ("/events?type=" + "a" * 200, "query.type"),
        ("/tokens?include_revoked=maybe", "query.include_revoked"),
        ("/audit?action=" + "a" * 101, "query.action"),
    ],
)
def test_other_bad_query_values_are_422(
    client: TestClient,
    url: str,
    path: str,
    admin_headers: dict[str, str],
    expect_error: ErrorCheck,
) -> None:
    body = expect_error(client.get(url, headers=admin_headers), 422, INVALID_REQUEST)
    assert [item["path"] for item in body["errors"]] == [path]


# --- the error shape outside admin routes ---------------------------------------------------


def test_unknown_route_and_wrong_method_are_json(
    client: TestClient, expect_error: ErrorCheck
) -> None:
    expect_error(client.get("/no-such-route"), 404)
    response = client.delete("/healthz")
    expect_error(response, 405)
    assert response.headers["allow"] == "GET"
