"""Liveness, readiness, metrics, the OpenAPI docs, request ids, the last-resort 500, and logs."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Message
from ulid import ULID

from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.http.errors import INTERNAL_ERROR
from hookhub.http.routes import system as system_routes
from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade

ErrorCheck = Callable[..., dict[str, Any]]
#: The server ``tests/conftest.py`` makes its databases on; its admin database drops them.
POSTGRES_ADMIN_URL = os.environ.get(
    "HOOKHUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
).replace("postgresql+asyncpg://", "postgresql://")
SECRET_MESSAGE = "secret-xyz"


async def migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.close()


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def samples(client: TestClient, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of one metric from ``/metrics``, keyed by their label sets."""
    response = client.get("/metrics")
    assert response.status_code == 200
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name:
                found[frozenset(sample.labels.items())] = sample.value
    return found


def http_count(client: TestClient, method: str, route: str, status: int) -> float:
    labels = frozenset({"method": method, "route": route, "status": str(status)}.items())
    return samples(client, "hookhub_http_requests_total").get(labels, 0.0)


async def asgi_request(
    app: FastAPI, *, method: str, path: str, headers: list[tuple[bytes, bytes]], body: list[Message]
) -> list[Message]:
    """Drive the app with raw ASGI messages, for what an HTTP client refuses to send."""
    pending = list(body)
    sent: list[Message] = []

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()  # nothing more will come
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return sent


# --- liveness and readiness -----------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_on_sqlite_without_redis(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "status": "ready",
        "message": "ready",
        "checks": {"store": "ok", "redis": "not configured"},
    }


def test_readyz_with_redis(make_client: Callable[..., TestClient], redis_url: str) -> None:
    client = make_client(redis_url=redis_url)
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"store": "ok", "redis": "ok"}


def test_readyz_names_the_store_when_the_sqlite_file_is_gone(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    url = f"sqlite:///{folder / 'hookhub.db'}"
    client = make_client(database_url=url)
    assert client.get("/readyz").status_code == 200
    services = client.app.state.services  # type: ignore[attr-defined]

    # The pool's open connections would keep the unlinked file alive; drop them, as a restart
    # of the pool would, and take the folder away (a volume gone).
    client.portal.call(services.db.engine.dispose)  # type: ignore[union-attr]
    shutil.rmtree(folder)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "success": False,
        "status": "not ready",
        "message": "unreachable: store",
        "checks": {"store": "unreachable", "redis": "not configured"},
    }
    assert client.get("/healthz").status_code == 200  # alive, only not ready

    # Not latched: the store coming back makes the service ready again.
    folder.mkdir()
    asyncio.run(migrate(url))
    assert client.get("/readyz").status_code == 200


def test_readyz_names_the_store_when_the_postgres_database_is_dropped(
    make_client: Callable[..., TestClient], postgres_url: str
) -> None:
    client = make_client(database_url=postgres_url)
    assert client.get("/readyz").status_code == 200
    name = postgres_url.rsplit("/", 1)[1]

    async def drop() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        try:
            await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())
    response = client.get("/readyz")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["checks"]["store"] == "unreachable"
    assert body["message"] == "unreachable: store"
    assert postgres_url not in response.text
    assert client.get("/healthz").status_code == 200


def test_app_starts_and_readyz_names_redis_when_redis_is_unreachable(
    make_client: Callable[..., TestClient], admin_headers: dict[str, str]
) -> None:
    begun = time.monotonic()
    client = make_client(redis_url=f"redis://127.0.0.1:{closed_port()}/0")
    assert time.monotonic() - begun < 5, "starting must not wait for Redis"

    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "success": False,
        "status": "not ready",
        "message": "unreachable: redis",
        "checks": {"store": "ok", "redis": "unreachable"},
    }
    # Publishing still stores the event; the bus failure is counted, not raised.
    published = client.post("/events", headers=admin_headers, json={"type": "while.redis.down"})
    assert published.status_code == 201, published.text
    assert samples(client, "hookhub_bus_publish_failures_total") == {frozenset(): 1.0}


def test_readyz_gives_up_on_a_check_that_hangs(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hang() -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(system_routes, "READINESS_CHECK_TIMEOUT_S", 0.05)
    monkeypatch.setattr(client.app.state.services.db, "ping", hang)  # type: ignore[attr-defined]
    begun = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - begun < 2
    assert response.status_code == 503
    assert response.json()["checks"]["store"] == "unreachable"


# --- metrics --------------------------------------------------------------------------------


def test_metrics_use_route_templates_and_count_publishes(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    event = client.post("/events", headers=admin_headers, json={"type": "metric.test"}).json()
    assert client.get(f"/events/{event['id']}", headers=admin_headers).status_code == 200
    assert (
        client.get("/events/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=admin_headers).status_code == 404
    )

    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert event["id"] not in response.text
    assert http_count(client, "POST", "/events", 201) == 1
    assert http_count(client, "GET", "/events/{event_id}", 200) == 1
    assert http_count(client, "GET", "/events/{event_id}", 404) == 1
    published = samples(client, "hookhub_events_published_total")
    assert published == {frozenset({"source": "api"}.items()): 1.0}
    latency = samples(client, "hookhub_http_request_duration_seconds_count")
    assert latency[frozenset({"method": "GET", "route": "/events/{event_id}"}.items())] == 2


def test_every_route_label_is_its_full_path(app: FastAPI) -> None:
    # The metrics label is ``scope["route"].path``, the route's own path. This FastAPI keeps
    # included routers whole, so a router included with ``prefix=`` would be labelled without
    # its prefix (``/items/{id}`` for ``/v2/items/{id}``). Guard that none is.
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(expand(app.routes)) if expand is not None else list(app.routes)
    for route in routes:
        original = getattr(route, "original_route", route)
        assert getattr(original, "path", None) == getattr(route, "path", None), route


def test_metrics_keep_unmatched_paths_in_one_label(client: TestClient) -> None:
    for n in range(3):
        assert client.get(f"/no-such-page-{n}").status_code == 404
    assert http_count(client, "GET", "<unmatched>", 404) == 3


def test_a_client_hanging_up_mid_body_is_not_counted_as_a_server_error(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    token = admin_headers["Authorization"].encode()
    sent = client.portal.call(  # type: ignore[union-attr]
        lambda: asgi_request(
            app,
            method="POST",
            path="/events",
            headers=[(b"authorization", token), (b"content-type", b"application/json")],
            body=[
                {"type": "http.request", "body": b'{"type": ', "more_body": True},
                {"type": "http.disconnect"},
            ],
        )
    )
    assert sent == []
    assert http_count(client, "POST", "<unmatched>", 499) == 1
    assert http_count(client, "POST", "<unmatched>", 500) == 0


# --- OpenAPI and docs -----------------------------------------------------------------------


def routed_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves and means to document."""
    # Newer FastAPI keeps included routers whole in ``app.routes``; expand them when it does.
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(expand(app.routes)) if expand is not None else list(app.routes)
    found = set()
    for route in routes:
        if not getattr(route, "include_in_schema", False):
            continue
        # OpenAPI names a parameter without its converter: {channel:path} is {channel}.
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", getattr(route, "path", ""))
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, path))
    return found


def test_openapi_lists_every_route(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    app: FastAPI = client.app  # type: ignore[assignment]
    routed = routed_operations(app)
    assert {("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/events")} <= routed
    assert documented == routed
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_docs_page(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


# --- request ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["abc-123.DEF_4", "x" * 64, "01ARZ3NDEKTSV4RRFFQ69G5FAV"])
def test_a_plain_request_id_is_kept(client: TestClient, given: str) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"] == given


@pytest.mark.parametrize(
    "given",
    ["x" * 65, "y" * 200, "has spaces", "semi;colon", 'quote"d', "a/b", ""],
    ids=["65-chars", "200-chars", "spaces", "semicolon", "quote", "slash", "empty"],
)
def test_an_unsafe_request_id_is_replaced(client: TestClient, given: str) -> None:
    first = client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"]
    second = client.get("/healthz", headers={"X-Request-ID": given}).headers["x-request-id"]
    assert first != given
    assert str(ULID.from_str(first)) == first
    assert first != second


def test_a_request_id_with_a_trailing_newline_is_replaced(client: TestClient) -> None:
    # An HTTP client will not send this; a raw ASGI call can. It must never reach a header.
    app: FastAPI = client.app  # type: ignore[assignment]
    sent = client.portal.call(  # type: ignore[union-attr]
        lambda: asgi_request(
            app,
            method="GET",
            path="/healthz",
            headers=[(b"x-request-id", b"abc\n")],
            body=[{"type": "http.request", "body": b""}],
        )
    )
    echoed = dict(sent[0]["headers"])[b"x-request-id"]
    assert b"\n" not in echoed
    assert len(echoed) == 26


def test_a_generated_request_id_is_new_each_time(client: TestClient) -> None:
    ids = {client.get("/healthz").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


# --- the last-resort 500 --------------------------------------------------------------------


@pytest.fixture
def crashing_app(make_settings: Callable[..., Settings]) -> FastAPI:
    app = create_app(make_settings())

    @app.get("/test-only/crash")
    async def crash() -> None:
        raise RuntimeError(SECRET_MESSAGE)

    return app


def test_an_unhandled_error_is_a_json_500_without_details(
    crashing_app: FastAPI, admin_headers: dict[str, str], expect_error: ErrorCheck
) -> None:
    with TestClient(crashing_app) as client:
        response = client.get("/test-only/crash", headers={"X-Request-ID": "crash-1"})
        body = expect_error(response, 500, INTERNAL_ERROR)
        assert body == {"success": False, "message": INTERNAL_ERROR, "request_id": "crash-1"}
        assert SECRET_MESSAGE not in response.text
        assert "RuntimeError" not in response.text

        generated = client.get("/test-only/crash")
        assert expect_error(generated, 500)["request_id"] == generated.headers["x-request-id"]

        # The service keeps answering.
        assert client.get("/healthz").status_code == 200
        published = client.post("/events", headers=admin_headers, json={"type": "after.crash"})
        assert published.status_code == 201
        assert http_count(client, "GET", "/test-only/crash", 500) == 2


# --- logs -----------------------------------------------------------------------------------


def test_logs_carry_the_request_id_and_no_secrets(
    make_client: Callable[..., TestClient],
    admin_headers: dict[str, str],
    json_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    client = make_client()
    json_logs()  # start-up lines
    headers = {**admin_headers, "X-Request-ID": "log-check-1"}
    event = client.post("/events?token=in-the-query", headers=headers, json={"type": "log.test"})
    assert event.status_code == 201
    lines = json_logs()

    mine = [line for line in lines if line.get("request_id") == "log-check-1"]
    events = {line["event"] for line in mine}
    assert {"event.published", "http.request"} <= events
    request_line = next(line for line in mine if line["event"] == "http.request")
    assert request_line["route"] == "/events"
    assert request_line["status"] == 201
    assert request_line["path"] == "/events"  # no query string: it may carry a token
    published = next(line for line in mine if line["event"] == "event.published")
    assert published["event_id"] == event.json()["id"]

    # hookhub's own lines (the test client logs its request URL itself).
    ours = [str(line) for line in lines if line.get("logger", "").startswith("hookhub")]
    token = admin_headers["Authorization"].removeprefix("Bearer ")
    assert ours
    assert not [line for line in ours if token in line or "in-the-query" in line]


def test_an_unhandled_error_is_logged_in_full_with_its_request_id(
    crashing_app: FastAPI, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    with TestClient(crashing_app) as client:
        json_logs()
        client.get("/test-only/crash", headers={"X-Request-ID": "crash-log-1"})
        lines = json_logs()
    crash = next(line for line in lines if line["event"] == "http.unhandled_error")
    assert crash["request_id"] == "crash-log-1"
    assert crash["level"] == "error"
    assert SECRET_MESSAGE in crash["exception"]  # operators see what callers do not
    request_line = next(line for line in lines if line["event"] == "http.request")
    assert (request_line["request_id"], request_line["status"]) == ("crash-log-1", 500)
