"""The signal webhook's routes on a real app: the codes API (both databases) and POST /xc."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hookhub.signals.parser import KEYS, format_connection_string, parse_signal

from .conftest import ADMIN, code_of, mint

EXCHANGES = ["binance", "bybit", "kucoin", "okx"]
TEXT = {"content-type": "text/plain"}
CONNECTED = {
    "type": "connection",
    "status": "connected",
    "message": "WebSocket connection established",
}


def signal_text(code: str, **changes: str) -> str:
    fields = {
        "code": code,
        "strategy_id": "MyStrategy",
        "demo": "YES",
        "command": "sell",
        "exchange": "binance",
        "coinmarket": "BTCUSDT",
        "amount": "0.05",
        **changes,
    }
    return " ".join(f"{key}={value}" for key, value in fields.items())


def post_xc(client: TestClient, body: str | bytes, headers: dict[str, str] | None = None) -> Any:
    return client.post("/xc", content=body, headers=TEXT if headers is None else headers)


# The codes API, on both databases.


def test_a_code_is_made_once_per_owner(both_client: TestClient) -> None:
    first = both_client.post("/signals/codes", json={"owner": "u-42"}, headers=ADMIN)
    assert first.status_code == 201
    body = first.json()
    assert set(body) == {"owner", "code", "created_at"}
    assert body["owner"] == "u-42"
    assert re.fullmatch(r"[A-Za-z0-9_\-]{43}", body["code"])  # 256 random bits
    assert body["created_at"].endswith("Z")
    again = both_client.post("/signals/codes", json={"owner": "u-42"}, headers=ADMIN)
    assert again.status_code == 200
    assert again.json() == body
    other = code_of(both_client, "u-43")
    assert other != body["code"]


def test_the_connection_string_is_what_the_seeds_bot_sent(both_client: TestClient) -> None:
    code = code_of(both_client, "u-42")
    answer = both_client.get("/signals/codes/u-42/connection-string", headers=ADMIN)
    assert answer.status_code == 200
    assert answer.json() == {
        "owner": "u-42",
        "code": code,
        "connection_string": format_connection_string(code),
        "webhook_url": "http://127.0.0.1:8000/xc",
    }
    assert parse_signal(answer.json()["connection_string"], exchanges=EXCHANGES).code == code


def test_the_webhook_url_uses_the_public_url(make_client: Callable[..., TestClient]) -> None:
    client = make_client(public_url="https://hooks.example.com/base/")
    code_of(client, "u-1")
    info = client.get("/signals/codes/u-1/connection-string", headers=ADMIN).json()
    assert info["webhook_url"] == "https://hooks.example.com/base/xc"


def test_the_connection_string_names_the_first_configured_exchange(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(signals_exchanges=["deribit", "okx"])
    code_of(client, "u-1")
    info = client.get("/signals/codes/u-1/connection-string", headers=ADMIN).json()
    assert " exchange=deribit " in info["connection_string"]


def test_revoking_a_code(both_client: TestClient) -> None:
    code = code_of(both_client, "u-42")
    answer = both_client.delete("/signals/codes/u-42", headers=ADMIN)
    assert answer.status_code == 200
    assert answer.json() == {"success": True, "message": "Signal code revoked"}
    missing = both_client.get("/signals/codes/u-42/connection-string", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.json() == {
        "success": False,
        "message": "No signal code for this owner",
        "request_id": missing.headers["x-request-id"],
    }
    assert both_client.delete("/signals/codes/u-42", headers=ADMIN).status_code == 404
    assert post_xc(both_client, signal_text(code)).status_code == 401
    assert code_of(both_client, "u-42") != code


def test_code_changes_are_audited_without_the_code(signal_client: TestClient) -> None:
    code = code_of(signal_client, "u-42")
    code_of(signal_client, "u-42")
    signal_client.delete("/signals/codes/u-42", headers=ADMIN)
    audit = signal_client.get("/audit", headers=ADMIN).json()
    entries = [e for e in audit["items"] if e["action"].startswith("signal_code.")]
    assert sorted(e["action"] for e in entries) == ["signal_code.created", "signal_code.revoked"]
    assert all(e["target"] == "u-42" for e in entries)
    assert code not in json.dumps(audit)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/signals/codes", {"owner": "u-1"}),
        ("POST", "/signals/codes", "not even json"),
        ("GET", "/signals/codes/u-1/connection-string", None),
        ("DELETE", "/signals/codes/u-1", None),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}])
def test_the_codes_api_needs_the_admin_token(
    signal_client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    code_of(signal_client, "u-1")
    content = body if isinstance(body, str) else json.dumps(body) if body else None
    answer = signal_client.request(method, path, content=content, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["success"] is False
    # Nothing changed: the code is still there, unrevoked.
    assert signal_client.get("/signals/codes/u-1/connection-string", headers=ADMIN).is_success


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"owner": ""},
        {"owner": "has space"},
        {"owner": "a" * 129},
        {"owner": 7},
        {"owner": "u-1", "extra": 1},
    ],
)
def test_bad_owners_are_422(signal_client: TestClient, body: dict[str, Any]) -> None:
    answer = signal_client.post("/signals/codes", json=body, headers=ADMIN)
    assert answer.status_code == 422
    assert answer.json()["errors"]


def test_a_bad_owner_in_the_path_is_422(signal_client: TestClient) -> None:
    answer = signal_client.get("/signals/codes/a%20b/connection-string", headers=ADMIN)
    assert answer.status_code == 422


# POST /xc.


@pytest.fixture
def owner_ws(signal_client: TestClient) -> Iterator[Any]:
    """A dashboard connection registered as user u-42 the seed's way (``prijava``)."""
    with signal_client.websocket_connect(f"/ws?token={mint(channels=['user:*'])}") as ws:
        assert ws.receive_json() == CONNECTED
        ws.send_json({"event": "prijava", "user_uuid": "u-42"})
        assert ws.receive_json() == {"status": "registered", "uuid": "u-42"}
        yield ws


def test_a_signal_reaches_the_owners_dashboard(signal_client: TestClient, owner_ws: Any) -> None:
    code = code_of(signal_client, "u-42")
    answer = post_xc(signal_client, signal_text(code))
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True
    assert body["message"] == "Signal received"
    payload = {
        "owner": "u-42",
        "strategy_id": "MyStrategy",
        "demo": True,
        "command": "sell",
        "exchange": "binance",
        "coinmarket": "BTCUSDT",
        "amount": "0.05",
    }
    assert owner_ws.receive_json() == {
        "type": "signal.received",
        "payload": payload,
        "timestamp": body["received_at"],
        "id": body["event_id"],
        "channel": "user:u-42",
    }
    stored = signal_client.get(f"/events/{body['event_id']}", headers=ADMIN).json()
    assert (stored["type"], stored["source"], stored["channel"]) == (
        "signal.received",
        "signal",
        "user:u-42",
    )
    assert stored["payload"] == payload


def test_another_users_signal_does_not_reach_this_dashboard(
    signal_client: TestClient, owner_ws: Any
) -> None:
    other = code_of(signal_client, "u-7")
    assert post_xc(signal_client, signal_text(other)).status_code == 200
    mine = code_of(signal_client, "u-42")
    assert post_xc(signal_client, signal_text(mine, command="buy")).status_code == 200
    # The first message this dashboard gets is its own owner's signal.
    message = owner_ws.receive_json()
    assert (message["payload"]["owner"], message["payload"]["command"]) == ("u-42", "buy")


@pytest.mark.parametrize(
    ("content_type", "shape"),
    [
        (None, "text"),
        ("text/plain; charset=utf-8", "text"),
        ("application/json", "string"),
        ("application/json", "object"),
    ],
)
def test_accepted_body_shapes(
    signal_client: TestClient, content_type: str | None, shape: str
) -> None:
    code = code_of(signal_client, "u-42")
    text = signal_text(code, amount="0.0000001")
    if shape == "text":
        body = text.encode()
    elif shape == "string":
        body = json.dumps(text).encode()
    else:
        body = json.dumps(dict(pair.split("=", 1) for pair in text.split())).encode()
    headers = {} if content_type is None else {"content-type": content_type}
    answer = signal_client.post("/xc", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    event = signal_client.get(f"/events/{answer.json()['event_id']}", headers=ADMIN).json()
    assert event["payload"]["amount"] == "0.0000001"


def errors_of(answer: Any) -> list[str]:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["success"] is False
    assert body["message"] == "Invalid connection string"
    return [error["path"] for error in body["errors"]]


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "application/xml", "text/plain; charset=latin-1"],
)
def test_a_wrong_content_type_is_415(signal_client: TestClient, content_type: str) -> None:
    code = code_of(signal_client, "u-42")
    answer = post_xc(signal_client, signal_text(code), {"content-type": content_type})
    assert answer.status_code == 415
    assert answer.json()["success"] is False
    assert (
        answer.json()["message"].startswith("Content-Type must be")
        or "charset" in (answer.json()["message"])
    )


def test_an_empty_body_names_every_field(signal_client: TestClient) -> None:
    assert errors_of(post_xc(signal_client, b"")) == list(KEYS)


def test_an_oversized_body_is_413(make_client: Callable[..., TestClient]) -> None:
    client = make_client(signals_max_body_bytes=200)
    code = code_of(client, "u-42")
    padded = signal_text(code) + " " * 200
    answer = post_xc(client, padded)
    assert answer.status_code == 413
    assert answer.json()["message"] == "Request body exceeds 200 bytes"

    def chunked() -> Iterator[bytes]:  # no Content-Length: refused while reading
        yield signal_text(code).encode()
        yield b" " * 200

    assert client.post("/xc", content=chunked(), headers=TEXT).status_code == 413
    assert post_xc(client, signal_text(code)).status_code == 200


def test_unknown_and_duplicate_keys_are_named(signal_client: TestClient) -> None:
    code = code_of(signal_client, "u-42")
    answer = post_xc(signal_client, signal_text(code) + " leverage=10 command=buy")
    assert errors_of(answer) == ["leverage", "command"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("strategy_id", "a/b"),
        ("demo", "yes"),
        ("command", "hold"),
        ("exchange", "ftx"),
        ("coinmarket", "btcusdt"),
        ("amount", "-1"),
        ("amount", "1e3"),
        ("amount", "0"),
    ],
)
def test_each_bad_field_is_named(signal_client: TestClient, field: str, value: str) -> None:
    code = code_of(signal_client, "u-42")
    assert errors_of(post_xc(signal_client, signal_text(code, **{field: value}))) == [field]


def test_every_bad_field_is_named_at_once(signal_client: TestClient) -> None:
    code = code_of(signal_client, "u-42")
    text = signal_text(code, demo="maybe", command="hold", amount="-1")
    assert errors_of(post_xc(signal_client, text)) == ["demo", "command", "amount"]


def test_a_malformed_code_is_a_400(signal_client: TestClient) -> None:
    assert errors_of(post_xc(signal_client, signal_text("not?a?code"))) == ["code"]


@pytest.mark.parametrize("changes", [{}, {"amount": "-1", "demo": "maybe"}])
def test_an_unknown_code_is_401_whatever_else_is_wrong(
    signal_client: TestClient, changes: dict[str, str]
) -> None:
    code_of(signal_client, "u-42")
    answer = post_xc(signal_client, signal_text("A" * 43, **changes))
    assert answer.status_code == 401
    assert answer.json()["message"] == "Invalid code"
    assert "errors" not in answer.json()


def test_unknown_and_revoked_codes_get_the_same_answer(signal_client: TestClient) -> None:
    revoked = code_of(signal_client, "u-42")
    signal_client.delete("/signals/codes/u-42", headers=ADMIN)
    answers = [post_xc(signal_client, signal_text(code)) for code in (revoked, "B" * 43)]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json()["message"] == answers[1].json()["message"] == "Invalid code"


def test_over_the_rate_limit_is_429_and_nothing_is_published(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(signals_rate_per_minute=2)
    code = code_of(client, "u-42")
    other = code_of(client, "u-7")
    assert [post_xc(client, signal_text(code)).status_code for _ in range(2)] == [200, 200]
    refused = post_xc(client, signal_text(code))
    assert refused.status_code == 429
    assert refused.json()["message"] == "Too many signals; retry later"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # The limit is per owner: another owner's code still works.
    assert post_xc(client, signal_text(other)).status_code == 200
    events = client.get("/events?type=signal.received", headers=ADMIN).json()
    assert events["total"] == 3


def test_the_code_never_reaches_the_log(
    signal_client: TestClient, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    code = code_of(signal_client, "u-42")
    post_xc(signal_client, signal_text(code))
    post_xc(signal_client, signal_text(code, amount="-1"))
    post_xc(signal_client, signal_text(code[::-1]))
    lines = json_logs()
    events = [line["event"] for line in lines]
    assert "signal.received" in events
    assert "signal.invalid" in events
    assert "signal.refused" in events
    assert code not in json.dumps(lines)
    assert code[::-1] not in json.dumps(lines)


def test_xc_is_in_the_openapi_schema(signal_client: TestClient) -> None:
    schema = signal_client.get("/openapi.json").json()
    operation = schema["paths"]["/xc"]["post"]
    assert set(operation["requestBody"]["content"]) == {"text/plain", "application/json"}
    assert "security" not in operation


@pytest.mark.redis
def test_with_redis_the_signal_and_the_limit_go_through_redis(
    make_client: Callable[..., TestClient], redis_url: str
) -> None:
    prefix = f"hookhub-test-{secrets.token_hex(4)}:"
    client = make_client(redis_url=redis_url, redis_key_prefix=prefix, signals_rate_per_minute=1)
    code = code_of(client, "u-42")
    with client.websocket_connect(f"/ws?token={mint('u-42')}") as ws:
        assert ws.receive_json() == CONNECTED
        answer = post_xc(client, signal_text(code))
        assert answer.status_code == 200
        message = ws.receive_json()
        assert (message["type"], message["id"]) == ("signal.received", answer.json()["event_id"])
    assert post_xc(client, signal_text(code)).status_code == 429
