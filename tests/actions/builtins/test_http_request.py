"""``http_request`` against a real local receiver, and the SSRF guard in front of it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from hookhub.actions import ActionError, ActionFailed
from hookhub.actions.builtins.http_request import MAX_RESPONSE_BODY_BYTES, MAX_TIMEOUT_S
from hookhub.services import Services
from tests.actions.support import audit_rows, run
from tests.outbound.receiver import Answer, Receiver

API_KEY = "key_live_0123456789abcdef"


class MethodReceiver(Receiver):
    """The outgoing-webhook receiver, also noting each request's method and query."""

    def __init__(self) -> None:
        super().__init__()
        self.methods: list[str] = []
        self.queries: list[bytes] = []

    async def _app(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            self.methods.append(scope["method"])
            self.queries.append(scope["query_string"])
        await super()._app(scope, receive, send)


@pytest.fixture
def server() -> Iterator[MethodReceiver]:
    receiver = MethodReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        if receiver.gate is not None:
            receiver.gate.set()
        receiver.stop()


async def test_a_json_post_and_its_answer(make_services: Any, server: MethodReceiver) -> None:
    services: Services = await make_services()
    server.default = Answer(
        status=201,
        headers={"content-type": "application/json", "set-cookie": "session=abc", "x-other": "1"},
        body=b'{"created": true, "id": 9}',
    )
    result = await run(
        services,
        "http_request",
        {
            "method": "post",
            "url": server.url + "?q=1",
            "headers": {"X-Api-Key": API_KEY},
            "json": {"title": "Login not working", "priority": 2},
        },
    )
    assert result["ok"] is True
    assert result["status"] == 201
    assert result["json"] == {"created": True, "id": 9}
    assert result["body"] == '{"created": true, "id": 9}'
    assert result["truncated"] is False
    assert result["headers"] == {"content-type": "application/json", "content-length": "26"}
    assert result["duration_ms"] >= 0

    [request] = server.requests
    assert server.methods == ["POST"]
    assert server.queries == [b"q=1"]
    assert json.loads(request.body) == {"title": "Login not working", "priority": 2}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    assert request.headers["user-agent"].startswith("hookhub/")
    [row] = await audit_rows(services)
    assert row.details["ok"] is True
    assert API_KEY not in str(row.details)


async def test_a_text_body_and_other_methods(make_services: Any, server: MethodReceiver) -> None:
    services: Services = await make_services()
    await run(
        services,
        "http_request",
        {
            "method": "PUT",
            "url": server.url,
            "body": "plain",
            "headers": {"Content-Type": "text/plain"},
        },
    )
    await run(services, "http_request", {"url": server.url})
    await run(services, "http_request", {"method": "DELETE", "url": server.url})
    assert server.methods == ["PUT", "GET", "DELETE"]
    assert server.requests[0].body == b"plain"
    assert server.requests[0].headers["content-type"] == "text/plain"
    assert server.requests[1].body == b""


async def test_a_non_2xx_answer_fails_unless_asked_not_to(
    make_services: Any, server: MethodReceiver
) -> None:
    services: Services = await make_services()
    server.default = Answer(status=503, headers={"retry-after": "30"}, body=b"busy")
    with pytest.raises(ActionFailed, match=r"^GET 127\.0\.0\.1 answered 503$"):
        await run(services, "http_request", {"url": server.url})
    result = await run(services, "http_request", {"url": server.url, "fail_on_status": False})
    assert (result["ok"], result["status"], result["body"]) == (False, 503, "busy")
    assert result["headers"]["retry-after"] == "30"
    assert [row.details["ok"] for row in await audit_rows(services)] == [False, True]


async def test_redirects_are_not_followed(make_services: Any, server: MethodReceiver) -> None:
    services: Services = await make_services()
    server.default = Answer(status=302, headers={"location": "http://169.254.169.254/latest"})
    result = await run(services, "http_request", {"url": server.url, "fail_on_status": False})
    assert (result["status"], result["headers"]["location"]) == (
        302,
        "http://169.254.169.254/latest",
    )
    assert len(server.requests) == 1


async def test_a_large_answer_is_cut(make_services: Any, server: MethodReceiver) -> None:
    services: Services = await make_services()
    server.default = Answer(
        headers={"content-type": "application/json"},
        body=b'["' + b"x" * (MAX_RESPONSE_BODY_BYTES * 2) + b'"]',
    )
    result = await run(services, "http_request", {"url": server.url})
    assert result["truncated"] is True
    assert len(result["body"]) == MAX_RESPONSE_BODY_BYTES
    assert "json" not in result  # half a document is not parsed


async def test_no_answer_within_the_timeout_fails(
    make_services: Any, server: MethodReceiver
) -> None:
    services: Services = await make_services()
    server.gate = threading.Event()  # held open until the test is done
    with pytest.raises(ActionFailed, match=r"^GET 127\.0\.0\.1: no answer within 0\.2 s$"):
        await run(services, "http_request", {"url": server.url, "timeout_s": 0.2})


async def test_a_refused_connection_fails_with_a_safe_message(make_services: Any) -> None:
    services: Services = await make_services()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook?token={API_KEY}"
    with pytest.raises(ActionFailed) as failed:
        await run(services, "http_request", {"url": url})
    assert failed.value.message == "GET 127.0.0.1: ConnectError"
    [row] = await audit_rows(services)
    assert API_KEY not in str(row.details)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://10.0.0.1/internal",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
    ],
)
async def test_private_and_metadata_addresses_are_refused(
    make_services: Any, server: MethodReceiver, url: str
) -> None:
    services: Services = await make_services(outbound_allow_private=False)
    with pytest.raises(ActionFailed, match=r"URL refused: .*forbidden address"):
        await run(services, "http_request", {"url": url.format(port=server.port)})
    assert server.requests == []
    [row] = await audit_rows(services)
    assert row.details["ok"] is False
    assert "URL refused" in row.details["error"]


async def test_allowed_cidrs_open_a_private_network(
    make_services: Any, server: MethodReceiver
) -> None:
    services: Services = await make_services(
        outbound_allow_private=False, outbound_allowed_cidrs=["127.0.0.0/8"]
    )
    result = await run(services, "http_request", {"url": server.url})
    assert result["status"] == 200


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://example.com/ x"}, "url"),
        ({"url": "http://example.com", "method": "TRACE"}, "method"),
        ({"url": "http://example.com", "timeout_s": MAX_TIMEOUT_S + 1}, "timeout_s"),
        ({"url": "http://example.com", "timeout_s": 0}, "timeout_s"),
        ({"url": "http://example.com", "headers": {"Host": "inside"}}, "headers"),
        ({"url": "http://example.com", "headers": {"X-A": "a\r\nX-B: b"}}, "headers"),
        ({"url": "http://example.com", "headers": {"bad name": "a"}}, "headers"),
        ({"url": "http://example.com", "json": {"a": 1}, "body": "b"}, ""),
        ({"url": "http://example.com", "body": "x" * (1024 * 1024 + 1)}, ""),
        ({"url": "http://example.com", "headers": {"X-A": 1}}, "headers.X-A"),
    ],
)
async def test_bad_parameters_are_refused_before_anything_is_sent(
    make_services: Any, params: dict[str, Any], path: str
) -> None:
    services = await make_services()
    with pytest.raises(ActionError) as refused:
        await run(services, "http_request", params)
    assert path in [item["path"] for item in refused.value.errors or []]
