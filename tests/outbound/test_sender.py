"""The HTTP side of one delivery attempt, against a real local receiver."""

from __future__ import annotations

import socket

from hookhub.clock import utc_now
from hookhub.config import Settings
from hookhub.outbound.dispatcher import make_client
from hookhub.outbound.sender import RESPONSE_EXCERPT_CHARS, DeliverySender
from tests.outbound.receiver import Answer, Receiver

HEADERS = {"Content-Type": "application/json", "X-Webhook-Event": "test.event"}


def _sender() -> DeliverySender:
    return DeliverySender(max_connections=4, connect_timeout_s=2.0, timeout_s=5.0)


async def test_posts_body_and_headers_and_reads_the_answer(receiver: Receiver) -> None:
    receiver.script.append(Answer(status=202, body=b"accepted"))
    sender = _sender()
    try:
        exchange = await sender.send(receiver.url, b'{"a": 1}', HEADERS, utc_now, total_timeout_s=5)
    finally:
        await sender.aclose()
    assert exchange.result.status_code == 202
    assert exchange.response_excerpt == "accepted"
    assert exchange.latency_ms is not None
    [request] = receiver.requests
    assert request.body == b'{"a": 1}'
    assert request.headers["x-webhook-event"] == "test.event"


async def test_cookies_one_receiver_sets_are_never_sent_on(receiver: Receiver) -> None:
    # A receiver's cookie must not travel to the next webhook on the same host.
    receiver.script.append(Answer(headers={"set-cookie": "session=abc; Path=/"}))
    sender = _sender()
    try:
        for _ in range(2):
            await sender.send(receiver.url, b"{}", HEADERS, utc_now, total_timeout_s=5)
    finally:
        await sender.aclose()
    assert len(receiver.requests) == 2
    assert "cookie" not in receiver.requests[1].headers


async def test_a_long_answer_is_kept_only_as_an_excerpt(receiver: Receiver) -> None:
    receiver.script.append(Answer(status=500, body=b"x" * (RESPONSE_EXCERPT_CHARS * 10)))
    sender = _sender()
    try:
        exchange = await sender.send(receiver.url, b"{}", HEADERS, utc_now, total_timeout_s=5)
    finally:
        await sender.aclose()
    assert exchange.result.status_code == 500
    assert exchange.response_excerpt == "x" * RESPONSE_EXCERPT_CHARS


async def test_a_refused_connection_is_a_result_not_an_exception() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = _sender()
    try:
        exchange = await sender.send(
            f"http://127.0.0.1:{port}/hook", b"{}", HEADERS, utc_now, total_timeout_s=5
        )
    finally:
        await sender.aclose()
    assert exchange.result.status_code is None
    assert exchange.result.error is not None
    assert exchange.result.error.startswith("ConnectError")


async def test_the_action_client_keeps_no_cookie(receiver: Receiver) -> None:
    receiver.script.append(Answer(headers={"set-cookie": "session=abc; Path=/"}))
    client = make_client(Settings())
    try:
        for _ in range(2):
            (await client.post(receiver.url, content=b"{}")).raise_for_status()
        assert not client.cookies
    finally:
        await client.aclose()
    assert "cookie" not in receiver.requests[1].headers
