"""The hub's routes in process (Starlette TestClient): seed shapes, auth, broadcast, events."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from hookhub.http.fast import FastRoutes
from tests.conftest import ADMIN_TOKEN

from .conftest import INTERNAL_SECRET, mint

CONNECTED = {
    "type": "connection",
    "status": "connected",
    "message": "WebSocket connection established",
}
SECRET = {"x-internal-secret": INTERNAL_SECRET}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def connect(client: TestClient, token: str) -> Any:
    return client.websocket_connect(f"/ws?token={token}")


def greeted(ws: WebSocketTestSession) -> WebSocketTestSession:
    assert ws.receive_json() == CONNECTED
    return ws


def test_seed_004_connect_ping_and_event(hub_client: TestClient) -> None:
    with hub_client.websocket_connect(f"/ws?api_key={ADMIN_TOKEN}") as ws:
        assert ws.receive_json() == CONNECTED
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
        published = hub_client.post(
            "/events", json={"type": "user.created", "payload": {"user_id": 123}}, headers=ADMIN
        ).json()
        message = ws.receive_json()
    assert message == {
        "type": "user.created",
        "payload": {"user_id": 123},
        "timestamp": published["occurred_at"],
        "id": published["id"],
        "channel": "user.created",
    }


def test_an_api_token_connects_as_admin(hub_client: TestClient) -> None:
    token = hub_client.post("/tokens", json={"name": "dash"}, headers=ADMIN).json()["token"]
    with connect(hub_client, token) as ws:
        greeted(ws)


@pytest.mark.parametrize("url", ["/ws", "/ws?token=nope", "/ws?api_key=hh_nope", "/ws?token=a.b.c"])
def test_a_bad_or_missing_token_closes_with_4401_and_nothing_else(
    hub_client: TestClient, url: str
) -> None:
    with hub_client.websocket_connect(url) as ws, pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    assert closed.value.code == 4401


def test_an_expired_or_foreign_token_is_4401(hub_client: TestClient) -> None:
    for token in (mint(ttl_s=-3600), mint().rsplit(".", 1)[0] + ".forged"):
        with connect(hub_client, token) as ws, pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401


def test_token_in_the_authorization_header(hub_client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {mint('u1')}"}
    with hub_client.websocket_connect("/ws", headers=headers) as ws:
        greeted(ws)


@pytest.mark.parametrize(
    "headers", [{"Authorization": "Basic dTE6cHc="}, {"Authorization": "Bearer "}, {}]
)
def test_an_authorization_header_without_a_bearer_token_is_4401(
    hub_client: TestClient, headers: dict[str, str]
) -> None:
    with (
        hub_client.websocket_connect("/ws", headers=headers) as ws,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        ws.receive_json()
    assert closed.value.code == 4401


def test_the_query_token_wins_over_the_header(hub_client: TestClient) -> None:
    headers = {"Authorization": "Bearer nope"}
    with hub_client.websocket_connect(f"/ws?api_key={ADMIN_TOKEN}", headers=headers) as ws:
        greeted(ws)


def test_a_connection_keeps_neither_the_token_nor_the_headers(hub_client: TestClient) -> None:
    headers = {"Cookie": "session=" + "x" * 100, "User-Agent": "browser"}
    with hub_client.websocket_connect(f"/ws?token={mint('u1')}", headers=headers) as ws:
        greeted(ws)
        hub = hub_client.app.state.services.realtime.hub  # type: ignore[attr-defined]
        (connection,) = hub.connections.values()
        scope = connection.websocket.scope
        assert scope["headers"] == [] and scope["query_string"] == b""
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_ws_is_served_ahead_of_the_routes_and_documented_in_the_description(
    hub_client: TestClient,
) -> None:
    app = hub_client.app
    assert all(getattr(route, "path", None) != "/ws" for route in app.routes)  # type: ignore[attr-defined]
    document = hub_client.get("/openapi.json").json()
    assert "/ws" not in document["paths"]
    assert "/ws?token=" in document["info"]["description"]
    # Not an upgrade: no HTTP route answers there.
    assert hub_client.get("/ws").status_code == 404
    # Other WebSocket paths still go through the app's router, which has none.
    with pytest.raises(WebSocketDisconnect), hub_client.websocket_connect("/elsewhere") as ws:
        ws.receive_json()


def test_ws_below_a_root_path(hub_client: TestClient) -> None:
    mounted = TestClient(hub_client.app, root_path="/hub")
    with mounted.websocket_connect(f"/hub/ws?token={mint('u1')}") as ws:
        greeted(ws)


def test_seed_003_broadcast_reaches_subscribers_as_sent(hub_client: TestClient) -> None:
    body = {"type": "product_added", "shopId": 123, "productId": 456}
    with connect(hub_client, mint(channels=["broadcast"])) as ws:
        greeted(ws)
        answer = hub_client.post("/api/internal/broadcast", json=body, headers=SECRET)
        assert answer.status_code == 200
        assert answer.json() == {
            "success": True,
            "message": "Broadcast sent",
            "type": "product_added",
        }
        assert ws.receive_json() == body


@pytest.mark.parametrize("headers", [{}, {"x-internal-secret": "wrong"}])
def test_broadcast_with_a_wrong_secret_is_401_and_sends_nothing(
    hub_client: TestClient, headers: dict[str, str]
) -> None:
    with connect(hub_client, mint(channels=["broadcast"])) as ws:
        greeted(ws)
        answer = hub_client.post("/api/internal/broadcast", content=b"{oops", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["success"] is False
        assert INTERNAL_SECRET not in answer.text
        # The next thing this client gets is the answer to its own ping, not a broadcast.
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


BAD_BROADCASTS = [
    ("", b"{oops", "application/json", 400),
    ("", b"[1]", "application/json", 422),
    ("", b"{}", "application/json", 422),
    ("", b'{"type": 5}', "application/json", 422),
    ("", b'{"type": ""}', "application/json", 422),
    ("", b'{"type": "x"}', "text/plain", 422),
    ("?channel=a%20b", b'{"type": "x"}', "application/json", 422),
]


@pytest.mark.parametrize("served", ["ahead of FastAPI", "by the FastAPI route"])
@pytest.mark.parametrize(("query", "body", "media", "status"), BAD_BROADCASTS)
def test_both_broadcast_paths_refuse_the_same_bodies(
    hub_client: TestClient, served: str, query: str, body: bytes, media: str, status: int
) -> None:
    client = hub_client
    if served == "by the FastAPI route":
        client.app.fast_http = FastRoutes()  # type: ignore[attr-defined]
    with connect(hub_client, mint(channels=["broadcast"])) as ws:
        greeted(ws)
        answer = client.post(
            f"/api/internal/broadcast{query}",
            content=body,
            headers={**SECRET, "content-type": media},
        )
        assert answer.status_code == status
        assert answer.json()["success"] is False
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}  # nothing was broadcast


def test_broadcast_answers_carry_the_request_id_and_are_counted(hub_client: TestClient) -> None:
    sent = hub_client.post(
        "/api/internal/broadcast", json={"type": "x"}, headers={**SECRET, "x-request-id": "r-1"}
    )
    assert sent.headers["x-request-id"] == "r-1"
    refused = hub_client.post(
        "/api/internal/broadcast?channel=a%20b", json={"type": "x"}, headers=SECRET
    )
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert [item["path"] for item in refused.json()["errors"]] == ["query.channel"]
    unauthorized = hub_client.post("/api/internal/broadcast", json={"type": "x"})
    assert unauthorized.headers["www-authenticate"] == "Bearer"
    metrics = hub_client.get("/metrics").text
    assert 'route="/api/internal/broadcast",status="200"' in metrics
    assert 'route="/api/internal/broadcast",status="401"' in metrics


def test_broadcast_body_over_the_limit_is_413(make_hub_client) -> None:  # type: ignore[no-untyped-def]
    client = make_hub_client(max_body_bytes=1024)
    answer = client.post(
        "/api/internal/broadcast", json={"type": "x", "pad": "y" * 2000}, headers=SECRET
    )
    assert answer.status_code == 413
    assert client.get("/api/internal/broadcast").status_code == 405


def test_broadcast_is_off_without_a_secret(make_hub_client) -> None:  # type: ignore[no-untyped-def]
    client = make_hub_client(internal_secret=None)
    answer = client.post("/api/internal/broadcast", json={"type": "x"}, headers=SECRET)
    assert answer.status_code == 409
    assert "HOOKHUB_INTERNAL_SECRET" in answer.json()["message"]


def test_broadcast_to_a_named_channel(hub_client: TestClient) -> None:
    with connect(hub_client, mint(channels=["shop:*"])) as ws:
        greeted(ws)
        ws.send_json({"type": "subscribe", "channel": "shop:7"})
        assert ws.receive_json()["type"] == "subscribed"
        hub_client.post(
            "/api/internal/broadcast?channel=shop:7", json={"type": "x"}, headers=SECRET
        )
        assert ws.receive_json() == {"type": "x"}


def test_events_reach_their_channel_or_the_channel_named_after_their_type(
    hub_client: TestClient,
) -> None:
    with connect(hub_client, mint(channels=["ticket.*", "support"])) as ws:
        greeted(ws)
        ws.send_json({"type": "subscribe", "channel": "ticket.created"})
        assert ws.receive_json()["type"] == "subscribed"
        ws.send_json({"type": "subscribe", "channel": "support"})
        assert ws.receive_json()["type"] == "subscribed"
        hub_client.post("/events", json={"type": "ticket.created"}, headers=ADMIN)
        first = ws.receive_json()
        assert (first["type"], first["channel"]) == ("ticket.created", "ticket.created")
        hub_client.post(
            "/events", json={"type": "ticket.closed", "channel": "support"}, headers=ADMIN
        )
        second = ws.receive_json()
        assert (second["type"], second["channel"]) == ("ticket.closed", "support")


def test_seed_001_register_then_user_pushes(hub_client: TestClient) -> None:
    with connect(hub_client, mint(channels=["user:*"])) as ws:
        greeted(ws)
        ws.send_json({"event": "prijava", "user_uuid": "u-42"})
        assert ws.receive_json() == {"status": "registered", "uuid": "u-42"}
        hub_client.post(
            "/events", json={"type": "order.filled", "channel": "user:u-42"}, headers=ADMIN
        )
        assert ws.receive_json()["type"] == "order.filled"
        presence = hub_client.get("/realtime/channels/user:u-42/presence", headers=ADMIN).json()
        assert presence == {
            "channel": "user:u-42",
            "connections": 1,
            "users": [{"user": "u-42", "connections": 1}],
        }
        ws.send_json({"event": "odjava"})
        assert ws.receive_json() == {"status": "unregistered", "uuid": "u-42"}
        ws.send_json({"event": "odjava"})
        assert ws.receive_json()["code"] == "not_registered"


def test_register_needs_a_token_for_that_user(hub_client: TestClient) -> None:
    with connect(hub_client, mint("alice")) as ws:
        greeted(ws)
        ws.send_json({"event": "prijava", "user_uuid": "bob"})
        assert ws.receive_json()["code"] == "forbidden"
        ws.send_json({"event": "prijava", "user_uuid": "alice"})
        assert ws.receive_json() == {"status": "registered", "uuid": "alice"}


def test_jwt_users_get_their_own_channel_without_subscribing(hub_client: TestClient) -> None:
    with connect(hub_client, mint("alice")) as ws:
        greeted(ws)
        hub_client.post("/events", json={"type": "hi", "channel": "user:alice"}, headers=ADMIN)
        assert ws.receive_json()["type"] == "hi"


def test_subscribe_errors_keep_the_connection_open(hub_client: TestClient) -> None:
    with connect(hub_client, mint(channels=["shop:*"])) as ws:
        greeted(ws)
        ws.send_json({"type": "subscribe", "channel": "admin"})
        assert ws.receive_json() == {
            "type": "error",
            "code": "forbidden",
            "message": "this token does not allow that channel",
            "channel": "admin",
        }
        ws.send_text("{not json")
        assert ws.receive_json()["code"] == "bad_json"
        ws.send_json({"type": "dance"})
        assert ws.receive_json()["code"] == "unknown_type"
        ws.send_bytes(b'{"type":"ping"}')
        assert ws.receive_json()["code"] == "binary_frame"
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_oversized_frames_are_refused_with_1009(hub_client: TestClient) -> None:
    with connect(hub_client, mint()) as ws:
        greeted(ws)
        ws.send_text('{"type":"ping","pad":"' + "x" * 64 * 1024 + '"}')
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1009


def test_admin_views_channels_and_presence(hub_client: TestClient) -> None:
    assert hub_client.get("/realtime/channels").status_code == 401
    with connect(hub_client, mint("alice", ["broadcast"])) as ws:
        greeted(ws)
        listing = hub_client.get("/realtime/channels", headers=ADMIN).json()
        assert listing["connections"] == 1
        channels = {item["channel"]: item for item in listing["channels"]}
        assert channels["broadcast"]["users"] == [{"user": "alice", "connections": 1}]
        assert set(channels) == {"broadcast", "user:alice"}
    empty = hub_client.get("/realtime/channels/nobody/presence", headers=ADMIN).json()
    assert empty == {"channel": "nobody", "connections": 0, "users": []}


def test_admin_mints_connection_tokens(hub_client: TestClient) -> None:
    answer = hub_client.post(
        "/realtime/tokens", json={"user": "u1", "channels": ["shop:*"]}, headers=ADMIN
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["user"] == "u1" and body["channels"] == ["shop:*"]
    assert body["expires_at"].endswith("Z")
    with connect(hub_client, body["token"]) as ws:
        greeted(ws)
        ws.send_json({"type": "subscribe", "channel": "shop:1"})
        assert ws.receive_json()["type"] == "subscribed"
    bad = hub_client.post("/realtime/tokens", json={"channels": ["a b"]}, headers=ADMIN)
    assert bad.status_code == 422
    assert hub_client.post("/realtime/tokens", json={}).status_code == 401


def test_minting_needs_a_token_secret(make_hub_client) -> None:  # type: ignore[no-untyped-def]
    client = make_hub_client(token_secret=None)
    answer = client.post("/realtime/tokens", json={}, headers=ADMIN)
    assert answer.status_code == 409


def test_browser_client_and_openapi(hub_client: TestClient) -> None:
    script = hub_client.get("/static/hookhub.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    paths = hub_client.get("/openapi.json").json()["paths"]
    assert {
        "/api/internal/broadcast",
        "/realtime/channels",
        "/realtime/channels/{channel}/presence",
        "/realtime/tokens",
        "/static/hookhub.js",
    } <= set(paths)


def test_metrics_count_connections(hub_client: TestClient) -> None:
    with connect(hub_client, mint()) as ws:
        greeted(ws)
        text = hub_client.get("/metrics").text
        assert "hookhub_realtime_connections 1.0" in text
