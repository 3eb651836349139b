"""The message protocol with no server: feed text, assert the command or the error reply."""

from __future__ import annotations

import pytest

from hookhub.realtime import protocol
from hookhub.realtime.protocol import (
    ErrorCode,
    InboundBudget,
    MessageTooBig,
    Ping,
    Pong,
    Position,
    ProtocolError,
    Register,
    Subscribe,
    Unregister,
    Unsubscribe,
)


def _error(text: str) -> dict[str, object]:
    with pytest.raises(ProtocolError) as raised:
        protocol.parse(text)
    return raised.value.reply()


def test_seed_004_ping_and_greeting() -> None:
    assert protocol.parse('{"type": "ping"}') == Ping()
    assert protocol.PONG == {"type": "pong"}
    assert protocol.CONNECTED == {
        "type": "connection",
        "status": "connected",
        "message": "WebSocket connection established",
    }


def test_seed_001_register_and_unregister() -> None:
    command = protocol.parse('{"event": "prijava", "user_uuid": "3f2a-77"}')
    assert command == Register(user="3f2a-77")
    assert protocol.registered("3f2a-77") == {"status": "registered", "uuid": "3f2a-77"}
    assert protocol.parse('{"event": "odjava"}') == Unregister()


def test_subscribe_with_and_without_recovery() -> None:
    assert protocol.parse('{"type":"subscribe","channel":"shop:1"}') == Subscribe("shop:1")
    command = protocol.parse(
        '{"type":"subscribe","channel":"shop:1","since":{"offset":4,"epoch":"ab12"}}'
    )
    assert command == Subscribe("shop:1", since=Position(4, "ab12"), recover=True)
    command = protocol.parse('{"type":"subscribe","channel":"c","recover":true}')
    assert command == Subscribe("c", recover=True)
    assert protocol.parse('{"type":"unsubscribe","channel":"c"}') == Unsubscribe("c")
    assert protocol.parse('{"type":"pong"}') == Pong()


def test_bad_json_and_non_objects() -> None:
    assert _error("{nope")["code"] == "bad_json"
    assert _error("[1, 2]")["code"] == "bad_request"
    assert _error('"ping"')["code"] == "bad_request"
    assert _error("{}")["code"] == "bad_request"
    assert _error('{"type": 5}')["code"] == "bad_request"


def test_unknown_types_are_named_but_clipped() -> None:
    reply = _error('{"type": "' + "x" * 500 + '"}')
    assert reply["type"] == "error"
    assert reply["code"] == "unknown_type"
    assert len(str(reply["message"])) < 100
    assert _error('{"event": "login"}')["code"] == "unknown_type"
    assert _error('{"event": 3}')["code"] == "unknown_type"


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"subscribe"}',
        '{"type":"subscribe","channel":""}',
        '{"type":"subscribe","channel":"has space"}',
        '{"type":"subscribe","channel":"' + "c" * 256 + '"}',
        '{"type":"subscribe","channel":7}',
        '{"type":"subscribe","channel":"c","since":{"offset":-1,"epoch":"e"}}',
        '{"type":"subscribe","channel":"c","since":{"offset":true,"epoch":"e"}}',
        '{"type":"subscribe","channel":"c","since":{"offset":1}}',
        '{"type":"subscribe","channel":"c","since":"1"}',
        '{"type":"subscribe","channel":"c","recover":"yes"}',
        '{"type":"unsubscribe","channel":null}',
        '{"event":"prijava"}',
        '{"event":"prijava","user_uuid":""}',
        '{"event":"prijava","user_uuid":"a b"}',
        '{"event":"prijava","user_uuid":12}',
    ],
)
def test_invalid_fields_are_bad_requests(text: str) -> None:
    reply = _error(text)
    assert reply["code"] == ErrorCode.BAD_REQUEST
    assert reply["message"]


def test_size_limit_counts_bytes_not_characters() -> None:
    protocol.check_size("a" * 100, 100)
    with pytest.raises(MessageTooBig):
        protocol.check_size("a" * 101, 100)
    with pytest.raises(MessageTooBig):
        protocol.check_size("é" * 51, 100)  # 102 bytes in UTF-8
    protocol.check_size("é" * 50, 100)


def test_replies() -> None:
    assert protocol.subscribed("c", Position(3, "e1"), recovered=False) == {
        "type": "subscribed",
        "channel": "c",
        "offset": 3,
        "epoch": "e1",
        "recovered": False,
    }
    assert protocol.subscribed("c", None) == {"type": "subscribed", "channel": "c"}
    assert protocol.unsubscribed("c") == {"type": "unsubscribed", "channel": "c"}
    assert protocol.error(ErrorCode.FORBIDDEN, "no", channel="c") == {
        "type": "error",
        "code": "forbidden",
        "message": "no",
        "channel": "c",
    }
    assert protocol.positioned({"type": "t", "a": 1}, "c", 9) == {
        "type": "t",
        "a": 1,
        "channel": "c",
        "offset": 9,
    }


def test_inbound_budget_refills_with_time() -> None:
    budget = InboundBudget(rate_per_s=2, burst=3, now=100.0)
    assert [budget.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert budget.take(100.4) is False  # 0.8 of a token
    assert budget.take(100.5) is True
    assert budget.take(1000.0) is True  # refilled, but never beyond the burst
    assert [budget.take(1000.0) for _ in range(3)] == [True, True, False]
