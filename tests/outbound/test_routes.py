"""``/webhooks`` over HTTP: seed 004's API, delivery end to end on both databases, the SSRF
guard at creation, and the bad input this API refuses."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from hookhub.clock import isoformat_z
from tests.http import conftest as http_fixtures
from tests.outbound.conftest import FakeClock
from tests.outbound.receiver import Answer, Receiver

# The HTTP shell's fixtures; this directory's conftest does not see tests/http/conftest.py.
make_client = http_fixtures.make_client
expect_error = http_fixtures.expect_error

ErrorCheck = Callable[..., dict[str, Any]]
Headers = dict[str, str]
T = TypeVar("T")

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
#: A public address: accepted by the SSRF guard without DNS (tests have none), never sent to
#: (the dispatcher is off wherever it is used).
PUBLIC_URL = "https://93.184.215.14/webhook"
SEED_SECRET = "optional-secret-for-signing"
PAYLOAD = {"user_id": 123, "username": "testuser", "referred_by_id": None}
#: How long to wait for the background dispatcher; a run takes milliseconds.
WAIT_S = 10.0
POLL_S = 0.02
#: A short poll, so retries that came due under a moved clock go out at once.
FAST_POLL_S = 0.05
UNKNOWN_ID = "01J00000000000000000000000"


def wait_for(probe: Callable[[], T | None], what: str) -> T:
    """Poll ``probe`` until it gives something other than None or False; fail at the deadline."""
    deadline = time.monotonic() + WAIT_S
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def create(client: TestClient, headers: Headers, **fields: Any) -> dict[str, Any]:
    body = {"name": "hook", "url": PUBLIC_URL, "event_type": "user.created", **fields}
    created: dict[str, Any] = ok(client.post("/webhooks", headers=headers, json=body), 201)
    return created


def publish(client: TestClient, headers: Headers, type: str = "user.created") -> dict[str, Any]:
    event: dict[str, Any] = ok(
        client.post("/events", headers=headers, json={"type": type, "payload": PAYLOAD}), 201
    )
    return event


def deliveries(client: TestClient, headers: Headers, webhook_id: str, **params: Any) -> Any:
    return ok(client.get(f"/webhooks/{webhook_id}/deliveries", headers=headers, params=params))


def only_delivery(
    client: TestClient, headers: Headers, webhook_id: str, status: str
) -> dict[str, Any] | None:
    """The webhook's one delivery once it is in ``status``; None before."""
    page = deliveries(client, headers, webhook_id)
    if len(page["items"]) == 1 and page["items"][0]["status"] == status:
        found: dict[str, Any] = page["items"][0]
        return found
    return None


def seed_verifies(body: bytes, header: str, secret: str) -> bool:
    # Seed 004's receiver check: re-serialise with sort_keys, HMAC-SHA256, compare.
    payload_json = json.dumps(json.loads(body), sort_keys=True)
    expected = hmac.new(secret.encode(), payload_json.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


@pytest.fixture
def api(make_client: Callable[..., TestClient]) -> TestClient:
    """An app on SQLite with the dispatcher off: deliveries stay as the API left them."""
    return make_client(dispatcher_enabled=False)


@pytest.fixture
def local_api(make_client: Callable[..., TestClient]) -> TestClient:
    """As ``api``, but the receiver on loopback may be sent to (test sends only)."""
    return make_client(dispatcher_enabled=False, outbound_allow_private=True)


# -- seed 004 compatibility -------------------------------------------------------------------


def test_create_answers_the_stored_webhook_with_the_given_secret_this_once(
    api: TestClient, admin_headers: Headers
) -> None:
    response = api.post(
        "/webhooks",
        headers=admin_headers,
        json={
            "name": "My Webhook",
            "url": PUBLIC_URL,
            "event_type": "user.created",
            "secret": SEED_SECRET,
            "description": "Webhook для новых пользователей",
        },
    )
    created = ok(response, 201)
    assert created["secret"] == SEED_SECRET
    assert len(created["id"]) == 26
    assert created["name"] == "My Webhook"
    assert created["url"] == PUBLIC_URL
    assert created["event_type"] == "user.created"
    assert created["description"] == "Webhook для новых пользователей"
    assert created["is_active"] is True
    assert created["disabled_reason"] is None
    assert ISO_Z.match(created["created_at"])
    assert ISO_Z.match(created["updated_at"])
    prefix = created["secret_prefix"]
    assert SEED_SECRET.startswith(prefix.removesuffix("…"))
    assert len(prefix) < len(SEED_SECRET)

    webhook_id = created["id"]
    shown = [
        api.get(f"/webhooks/{webhook_id}", headers=admin_headers),
        api.get("/webhooks", headers=admin_headers),
        api.patch(f"/webhooks/{webhook_id}", headers=admin_headers, json={"name": "Renamed"}),
        api.get("/webhooks/stats", headers=admin_headers),
    ]
    for response in shown:
        assert response.status_code == 200, response.text
        assert SEED_SECRET not in response.text
    one = shown[0].json()
    assert "secret" not in one
    assert "previous_secret" not in one
    assert one["secret_prefix"] == prefix
    assert {k: v for k, v in one.items() if k != "updated_at"} == {
        k: v for k, v in created.items() if k not in ("secret", "updated_at")
    }
    assert "secret" not in shown[1].json()["items"][0]
    assert "secret" not in shown[2].json()


def test_create_without_a_secret_generates_a_whsec_one(
    api: TestClient, admin_headers: Headers
) -> None:
    created = create(api, admin_headers)
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > len("whsec_") + 20
    assert created["description"] is None
    assert created["is_active"] is True
    again = api.get(f"/webhooks/{created['id']}", headers=admin_headers)
    assert secret not in again.text
    assert "secret" not in again.json()
    assert secret.startswith(again.json()["secret_prefix"].removesuffix("…"))


def test_list_filters_by_event_type_and_state_and_pages(
    api: TestClient, admin_headers: Headers
) -> None:
    users = [create(api, admin_headers, name=f"user {n}")["id"] for n in range(3)]
    tickets = create(api, admin_headers, name="tickets", event_type="ticket.*")["id"]
    ok(api.patch(f"/webhooks/{users[1]}", headers=admin_headers, json={"is_active": False}))

    def listed(**params: Any) -> Any:
        return ok(api.get("/webhooks", headers=admin_headers, params=params))

    everything = listed()
    assert everything["total"] == 4
    assert everything["limit"] == 50
    assert everything["offset"] == 0
    assert sorted(w["id"] for w in everything["items"]) == sorted([*users, tickets])

    by_type = listed(event_type="user.created")
    assert by_type["total"] == 3
    assert {w["id"] for w in by_type["items"]} == set(users)
    assert [w["id"] for w in listed(event_type="ticket.*")["items"]] == [tickets]
    assert listed(event_type="payment.completed") == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }

    inactive = listed(is_active="false")
    assert [w["id"] for w in inactive["items"]] == [users[1]]
    active_users = listed(event_type="user.created", is_active="true", limit=50, offset=0)
    assert {w["id"] for w in active_users["items"]} == {users[0], users[2]}
    assert active_users["total"] == 2

    first = listed(limit=3, offset=0)
    rest = listed(limit=3, offset=3)
    assert (first["total"], rest["total"]) == (4, 4)
    assert (len(first["items"]), len(rest["items"])) == (3, 1)
    assert (first["limit"], rest["offset"]) == (3, 3)
    assert {w["id"] for w in first["items"] + rest["items"]} == {*users, tickets}
    assert listed(limit=2, offset=10)["items"] == []


def test_patch_changes_any_field_and_keeps_those_left_out(
    api: TestClient, admin_headers: Headers
) -> None:
    created = create(api, admin_headers, description="before", secret=SEED_SECRET)
    webhook_id = created["id"]
    changes = {
        "name": "Updated Name",
        "url": "https://93.184.215.15/other",
        "event_type": "ticket.*",
        "description": "after",
        "retry_schedule_s": [1, 60],
        "rate_limit_per_s": 2.5,
        "max_concurrency": 2,
    }
    for field, value in changes.items():
        response = api.patch(f"/webhooks/{webhook_id}", headers=admin_headers, json={field: value})
        assert ok(response)[field] == value
    stored = ok(api.get(f"/webhooks/{webhook_id}", headers=admin_headers))
    assert {field: stored[field] for field in changes} == changes
    assert stored["secret_prefix"] == created["secret_prefix"]
    assert stored["created_at"] == created["created_at"]
    assert stored["is_active"] is True

    # The nullable fields go back to "none" / the default with an explicit null.
    cleared = ok(
        api.patch(
            f"/webhooks/{webhook_id}",
            headers=admin_headers,
            json={"description": None, "retry_schedule_s": None, "rate_limit_per_s": None},
        )
    )
    assert (cleared["description"], cleared["retry_schedule_s"], cleared["rate_limit_per_s"]) == (
        None,
        None,
        None,
    )
    assert cleared["name"] == "Updated Name"


def test_disable_then_enable_by_patch(api: TestClient, admin_headers: Headers) -> None:
    webhook_id = create(api, admin_headers)["id"]
    path = f"/webhooks/{webhook_id}"
    off = ok(api.patch(path, headers=admin_headers, json={"is_active": False}))
    assert off["is_active"] is False
    assert off["disabled_reason"] is None  # turned off by hand: no reason recorded
    publish(api, admin_headers)
    assert deliveries(api, admin_headers, webhook_id)["total"] == 0  # inactive: nothing owed
    on = ok(api.patch(path, headers=admin_headers, json={"is_active": True}))
    assert on["is_active"] is True
    publish(api, admin_headers)
    assert deliveries(api, admin_headers, webhook_id)["total"] == 1


def test_reenabling_clears_the_reason_it_was_disabled(
    receiver: Receiver, local_api: TestClient, admin_headers: Headers
) -> None:
    webhook_id = create(local_api, admin_headers, url=receiver.url)["id"]
    receiver.default = Answer(410)  # "gone": hookhub disables the webhook
    attempt = ok(local_api.post(f"/webhooks/{webhook_id}/test", headers=admin_headers))
    assert attempt["status"] == "failed"
    assert attempt["attempt_log"][0]["status_code"] == 410

    disabled = ok(local_api.get(f"/webhooks/{webhook_id}", headers=admin_headers))
    assert disabled["is_active"] is False
    assert "410" in disabled["disabled_reason"]
    enabled = ok(
        local_api.patch(f"/webhooks/{webhook_id}", headers=admin_headers, json={"is_active": True})
    )
    assert enabled["is_active"] is True
    assert enabled["disabled_reason"] is None
    assert enabled["failing_since"] is None


def test_delete_then_get_is_not_found(
    api: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    webhook_id = create(api, admin_headers)["id"]
    publish(api, admin_headers)
    deleted = ok(api.delete(f"/webhooks/{webhook_id}", headers=admin_headers))
    assert deleted == {"success": True, "message": "Webhook deleted"}

    gone = api.get(f"/webhooks/{webhook_id}", headers=admin_headers)
    body = expect_error(gone, 404, "Webhook not found")
    assert body["success"] is False
    expect_error(api.delete(f"/webhooks/{webhook_id}", headers=admin_headers), 404)
    assert ok(api.get("/webhooks", headers=admin_headers))["total"] == 0
    stats = ok(api.get("/webhooks/stats", headers=admin_headers))
    assert (stats["webhooks"], stats["total"]) == (0, 0)  # its delivery log went with it


def test_stats_count_webhooks_and_deliveries(api: TestClient, admin_headers: Headers) -> None:
    empty = ok(api.get("/webhooks/stats", headers=admin_headers))
    assert empty == {
        "total": 0,
        "pending": 0,
        "success": 0,
        "failed": 0,
        "success_rate": None,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
        "last_success_at": None,
        "last_failure_at": None,
        "webhooks": 0,
        "active_webhooks": 0,
    }
    active = create(api, admin_headers)["id"]
    create(api, admin_headers, event_type="*")
    inactive = create(api, admin_headers, is_active=False)["id"]
    publish(api, admin_headers)
    publish(api, admin_headers, type="ticket.created")

    stats = ok(api.get("/webhooks/stats", headers=admin_headers))
    assert (stats["webhooks"], stats["active_webhooks"]) == (3, 2)
    assert (stats["total"], stats["pending"], stats["success"], stats["failed"]) == (3, 3, 0, 0)
    assert stats["success_rate"] is None
    one = ok(api.get(f"/webhooks/{active}/stats", headers=admin_headers))
    assert (one["total"], one["pending"]) == (1, 1)
    assert "webhooks" not in one
    assert ok(api.get(f"/webhooks/{inactive}/stats", headers=admin_headers))["total"] == 0


def test_deliveries_list_pending_ones_with_next_retry_at_newest_first(
    make_client: Callable[..., TestClient], admin_headers: Headers
) -> None:
    # A clock that steps on every read: ids (and so the order) differ by whole seconds.
    client = make_client(dispatcher_enabled=False, clock=http_fixtures.SteppingClock())
    webhook_id = create(client, admin_headers)["id"]
    events = [publish(client, admin_headers)["id"] for _ in range(3)]

    page = deliveries(client, admin_headers, webhook_id, status="pending")
    assert page["total"] == 3
    assert [d["event_id"] for d in page["items"]] == events[::-1]
    for delivery in page["items"]:
        assert delivery["status"] == "pending"
        assert delivery["webhook_id"] == webhook_id
        assert delivery["event_type"] == "user.created"
        assert delivery["attempts"] == 0
        assert ISO_Z.match(delivery["next_retry_at"])
        assert ISO_Z.match(delivery["created_at"])
        assert delivery["completed_at"] is None
    for status in ("success", "failed"):
        assert deliveries(client, admin_headers, webhook_id, status=status)["total"] == 0

    second = deliveries(client, admin_headers, webhook_id, limit=2, offset=2)
    assert (second["total"], second["limit"], second["offset"]) == (3, 2, 2)
    assert [d["event_id"] for d in second["items"]] == [events[0]]


# -- end to end, on SQLite and PostgreSQL -----------------------------------------------------
# ``database_url`` and ``receiver`` come before ``make_client`` in these signatures: fixtures
# are torn down in reverse, so the app stops before its database is dropped and its receiver
# goes away (the other way round, its dispatcher spends seconds on a vanished database).


def test_published_event_is_delivered_logged_and_resent(
    database_url: str,
    receiver: Receiver,
    make_client: Callable[..., TestClient],
    admin_headers: Headers,
) -> None:
    client = make_client(
        database_url=database_url,
        outbound_allow_private=True,
        outbound_poll_interval_s=FAST_POLL_S,
    )
    webhook_id = create(client, admin_headers, url=receiver.url, secret=SEED_SECRET)["id"]
    event = publish(client, admin_headers)

    delivered = wait_for(
        lambda: only_delivery(client, admin_headers, webhook_id, "success"), "the delivery"
    )
    [request] = receiver.requests
    assert request.headers["x-webhook-event"] == "user.created"
    assert request.headers["x-webhook-id"] == webhook_id
    assert request.headers["webhook-id"] == delivered["id"]
    assert json.loads(request.body) == PAYLOAD
    assert seed_verifies(request.body, request.headers["x-webhook-signature"], SEED_SECRET)
    assert delivered["event_id"] == event["id"]
    assert delivered["attempts"] == 1
    assert delivered["last_status_code"] == 200
    assert delivered["next_retry_at"] is None
    assert ISO_Z.match(delivered["completed_at"])

    path = f"/webhooks/{webhook_id}/deliveries/{delivered['id']}"
    detail = ok(client.get(path, headers=admin_headers))
    assert detail["payload"] == PAYLOAD
    [attempt] = detail["attempt_log"]
    assert attempt["status_code"] == 200
    assert attempt["response_excerpt"] == "ok"
    assert attempt["error"] is None
    assert ISO_Z.match(attempt["attempted_at"])

    resent = ok(client.post(f"{path}/resend", headers=admin_headers))
    assert resent["id"] == delivered["id"]
    assert resent["status"] == "pending"
    wait_for(lambda: len(receiver.requests) == 2, "the resend")
    assert receiver.requests[1].headers["webhook-id"] == delivered["id"]
    again = wait_for(
        lambda: only_delivery(client, admin_headers, webhook_id, "success"), "the resend's log"
    )
    assert again["attempts"] == 2
    detail = ok(client.get(path, headers=admin_headers))
    assert [a["status_code"] for a in detail["attempt_log"]] == [200, 200]
    stats = ok(client.get(f"/webhooks/{webhook_id}/stats", headers=admin_headers))
    assert (stats["total"], stats["success"], stats["success_rate"]) == (1, 1, 1.0)


def test_resending_a_delivery_in_flight_is_a_conflict(
    receiver: Receiver,
    make_client: Callable[..., TestClient],
    admin_headers: Headers,
    expect_error: ErrorCheck,
) -> None:
    client = make_client(outbound_allow_private=True, outbound_poll_interval_s=FAST_POLL_S)
    webhook_id = create(client, admin_headers, url=receiver.url)["id"]
    receiver.gate = threading.Event()  # holds the request open: the delivery stays leased
    try:
        publish(client, admin_headers)
        wait_for(lambda: receiver.in_flight == 1, "the request in flight")
        [delivery] = deliveries(client, admin_headers, webhook_id)["items"]
        path = f"/webhooks/{webhook_id}/deliveries/{delivery['id']}/resend"
        expect_error(client.post(path, headers=admin_headers), 409)
    finally:
        receiver.gate.set()
    wait_for(lambda: only_delivery(client, admin_headers, webhook_id, "success"), "the send")
    assert len(receiver.requests) == 1
    assert receiver.overlaps == []


def test_failed_deliveries_are_recovered_since_a_moment(
    database_url: str,
    receiver: Receiver,
    make_client: Callable[..., TestClient],
    admin_headers: Headers,
    clock: FakeClock,
    expect_error: ErrorCheck,
) -> None:
    client = make_client(
        clock=clock,
        database_url=database_url,
        outbound_allow_private=True,
        outbound_poll_interval_s=FAST_POLL_S,
    )
    webhook_id = create(client, admin_headers, url=receiver.url, retry_schedule_s=[1])["id"]
    receiver.default = Answer(500, body=b"down")
    started = clock.now
    publish(client, admin_headers)

    retrying = wait_for(
        lambda: next(
            (d for d in deliveries(client, admin_headers, webhook_id)["items"] if d["attempts"]),
            None,
        ),
        "the first attempt",
    )
    assert retrying["status"] == "pending"
    assert retrying["last_status_code"] == 500
    assert ISO_Z.match(retrying["next_retry_at"])
    clock.advance(2)  # past the one retry's wait, jitter included
    failed = wait_for(
        lambda: only_delivery(client, admin_headers, webhook_id, "failed"), "the failure"
    )
    assert failed["attempts"] == 2
    assert failed["next_retry_at"] is None
    assert deliveries(client, admin_headers, webhook_id, status="failed")["total"] == 1
    assert deliveries(client, admin_headers, webhook_id, status="pending")["total"] == 0

    recover = f"/webhooks/{webhook_id}/recover"
    later = isoformat_z(clock.now + timedelta(minutes=1))
    expect_error(client.post(recover, headers=admin_headers, params={"since": later}), 422)
    before = isoformat_z(started - timedelta(minutes=10))
    empty_window = {"since": before, "until": isoformat_z(started - timedelta(minutes=5))}
    assert ok(client.post(recover, headers=admin_headers, params=empty_window)) == {"requeued": 0}

    receiver.default = Answer(200)
    since = isoformat_z(started - timedelta(seconds=1))
    assert ok(client.post(recover, headers=admin_headers, params={"since": since})) == {
        "requeued": 1
    }
    recovered = wait_for(
        lambda: only_delivery(client, admin_headers, webhook_id, "success"), "the recovery"
    )
    assert recovered["attempts"] == 3
    assert len(receiver.requests) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests} == {recovered["id"]}
    assert ok(client.post(recover, headers=admin_headers, params={"since": since})) == {
        "requeued": 0
    }


def test_test_send_and_secret_rotation(
    database_url: str,
    receiver: Receiver,
    make_client: Callable[..., TestClient],
    admin_headers: Headers,
) -> None:
    # The dispatcher loop is off: the test send is made on the spot, by the request itself.
    client = make_client(
        database_url=database_url, outbound_allow_private=True, dispatcher_enabled=False
    )
    created = create(client, admin_headers, url=receiver.url)
    webhook_id, old_secret = created["id"], created["secret"]

    attempt = ok(client.post(f"/webhooks/{webhook_id}/test", headers=admin_headers))
    assert attempt["status"] == "success"
    assert attempt["event_type"] == "webhook.test"
    assert attempt["webhook_id"] == webhook_id
    assert attempt["attempts"] == 1
    assert attempt["payload"]["test"] is True
    assert attempt["attempt_log"][0]["status_code"] == 200
    [request] = receiver.requests
    assert request.headers["x-webhook-event"] == "webhook.test"
    assert request.headers["webhook-id"] == attempt["id"]
    assert seed_verifies(request.body, request.headers["x-webhook-signature"], old_secret)
    assert deliveries(client, admin_headers, webhook_id)["items"][0]["id"] == attempt["id"]

    rotated = ok(
        client.post(f"/webhooks/{webhook_id}/rotate-secret", headers=admin_headers, json={})
    )
    new_secret = rotated["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != old_secret
    assert new_secret.startswith(rotated["secret_prefix"].removesuffix("…"))
    assert ISO_Z.match(rotated["previous_secret_expires_at"])
    shown = client.get(f"/webhooks/{webhook_id}", headers=admin_headers)
    assert new_secret not in shown.text
    assert old_secret not in shown.text

    audit = ok(client.get("/audit", headers=admin_headers, params={"action": "secret.rotated"}))
    [entry] = audit["items"]
    assert entry["action"] == "secret.rotated"
    assert entry["target"] == webhook_id
    assert entry["actor"] == "admin"
    assert new_secret not in json.dumps(audit)

    # During the overlap both secrets sign: the receiver may not have switched yet.
    ok(client.post(f"/webhooks/{webhook_id}/test", headers=admin_headers))
    headers = receiver.requests[1].headers
    assert seed_verifies(receiver.requests[1].body, headers["x-webhook-signature"], new_secret)
    previous = headers["x-webhook-signature-previous"]
    assert seed_verifies(receiver.requests[1].body, previous, old_secret)

    given = ok(
        client.post(
            f"/webhooks/{webhook_id}/rotate-secret",
            headers=admin_headers,
            json={"secret": SEED_SECRET},
        )
    )
    assert given["secret"] == SEED_SECRET


# -- the SSRF guard ---------------------------------------------------------------------------
# Each case is a loop over one app, not a parameter: a new app costs a migrated database.

FORBIDDEN_URLS = {
    "http://127.0.0.1/x": "127.0.0.1",
    "http://10.0.0.1/x": "10.0.0.1",
    "http://169.254.169.254/latest": "169.254.169.254",
    "http://[::1]/x": "::1",
    "http://[::ffff:127.0.0.1]/x": "127.0.0.1",
    "http://192.168.1.10:8080/x": "192.168.1.10",
    "http://0.0.0.0/x": "0.0.0.0",
    "http://localhost/x": "127.0.0.1",  # a name: refused for what it resolves to
}
NOT_HTTP_URLS = ["ftp://93.184.215.14/x", "file:///etc/passwd", "http:///x", "https://", "/x"]
#: urlsplit drops these characters, httpx does not: the URL checked would not be the one sent.
UNSENDABLE_URLS = [
    " http://127.0.0.1/x",
    "http://93.184.215.14/x\r\nX-Evil: 1",
    "http://1.2.3.4\t/",
]


def test_private_addresses_are_refused_at_creation(
    api: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    for url, address in FORBIDDEN_URLS.items():
        body = {"name": "x", "url": url, "event_type": "*"}
        message = expect_error(api.post("/webhooks", headers=admin_headers, json=body), 422)[
            "message"
        ]
        assert "forbidden address" in message, url
        assert address in message, url
    assert "'localhost'" in message
    assert ok(api.get("/webhooks", headers=admin_headers))["total"] == 0


def test_other_schemes_hostless_and_unsendable_urls_are_refused(
    api: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    for url in NOT_HTTP_URLS + UNSENDABLE_URLS:
        body = {"name": "x", "url": url, "event_type": "*"}
        error = expect_error(api.post("/webhooks", headers=admin_headers, json=body), 422)
        assert [item["path"] for item in error["errors"]] == ["body.url"], url
    assert ok(api.get("/webhooks", headers=admin_headers))["total"] == 0


def test_patching_the_url_to_a_forbidden_one_keeps_the_old(
    api: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    webhook_id = create(api, admin_headers)["id"]
    path = f"/webhooks/{webhook_id}"
    for url in ("http://169.254.169.254/latest", "http://localhost/x", "http://[::1]/x"):
        response = api.patch(path, headers=admin_headers, json={"url": url, "name": "changed"})
        assert "forbidden address" in expect_error(response, 422)["message"], url
    expect_error(api.patch(path, headers=admin_headers, json={"url": "ftp://host/x"}), 422)
    stored = ok(api.get(path, headers=admin_headers))
    assert (stored["url"], stored["name"]) == (PUBLIC_URL, "hook")


def test_allowed_cidrs_let_a_private_range_through(
    make_client: Callable[..., TestClient], admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    client = make_client(dispatcher_enabled=False, outbound_allowed_cidrs=["127.0.0.0/8"])
    assert create(client, admin_headers, url="http://127.0.0.1:9/x")["url"] == (
        "http://127.0.0.1:9/x"
    )
    assert create(client, admin_headers, url="http://localhost:9/x")["url"] == (
        "http://localhost:9/x"
    )
    body = {"name": "x", "url": "http://10.0.0.1/x", "event_type": "*"}
    response = client.post("/webhooks", headers=admin_headers, json=body)
    assert "10.0.0.1" in expect_error(response, 422)["message"]


# -- bad input --------------------------------------------------------------------------------

#: Fields that make a creation 422, with the error path each one must be reported under.
BAD_CREATE_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"event_type": "ticket*"}, "body.event_type"),
    ({"event_type": "*.x"}, "body.event_type"),
    ({"event_type": "ticket.*.x"}, "body.event_type"),
    ({"event_type": ""}, "body.event_type"),
    ({"retry_schedule_s": [0]}, "body.retry_schedule_s.0"),
    ({"retry_schedule_s": [5, -1]}, "body.retry_schedule_s.1"),
    ({"retry_schedule_s": []}, "body.retry_schedule_s"),
    ({"max_concurrency": 0}, "body.max_concurrency"),
    ({"rate_limit_per_s": 0}, "body.rate_limit_per_s"),
    ({"secret": "short"}, "body.secret"),
    ({"name": ""}, "body.name"),
    ({"name": None}, "body.name"),
    ({"unknown": 1}, "body.unknown"),
]
BAD_PATCHES: list[dict[str, Any]] = [
    {"name": None},
    {"url": None},
    {"event_type": None},
    {"is_active": None},
    {"max_concurrency": None},
    {"event_type": "ticket*"},
    {"event_type": "*.x"},
    {"max_concurrency": 0},
    {"retry_schedule_s": [0]},
    {"retry_schedule_s": [-5]},
    {"secret": None},
    {"secret": "short"},
]


def test_create_refuses_bad_fields(
    api: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    for fields, path in BAD_CREATE_FIELDS:
        body = {"name": "x", "url": PUBLIC_URL, "event_type": "user.created", **fields}
        error = expect_error(api.post("/webhooks", headers=admin_headers, json=body), 422)
        assert error["message"] == "Invalid request"
        assert path in [item["path"] for item in error["errors"]], fields
    malformed = {"name": "x", "url": PUBLIC_URL, "event_type": "*", "secret": "whsec_no base64!"}
    response = api.post("/webhooks", headers=admin_headers, json=malformed)
    assert "base64" in expect_error(response, 422)["message"]
    assert ok(api.get("/webhooks", headers=admin_headers))["total"] == 0


def test_patch_refuses_bad_fields_and_changes_nothing(
    api: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    created = create(api, admin_headers)
    path = f"/webhooks/{created['id']}"
    for fields in BAD_PATCHES:
        response = api.patch(path, headers=admin_headers, json=fields)
        error = expect_error(response, 422)
        assert any(field in json.dumps(error) for field in fields), (fields, error)
    assert ok(api.get(path, headers=admin_headers)) == {
        k: v for k, v in created.items() if k != "secret"
    }


def test_patch_with_a_secret_rotates_it(api: TestClient, admin_headers: Headers) -> None:
    created = create(api, admin_headers)
    path = f"/webhooks/{created['id']}"
    patched = ok(api.patch(path, headers=admin_headers, json={"secret": "a-new-secret-here"}))
    assert "secret" not in patched
    assert patched["secret_prefix"] == "a-ne…"
    assert patched["previous_secret_expires_at"] is not None  # the old one signs for a while
    audit = ok(api.get("/audit", headers=admin_headers, params={"action": "secret.rotated"}))
    assert [entry["target"] for entry in audit["items"]] == [created["id"]]


def test_recover_needs_an_aware_since_not_after_until(
    api: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    path = f"/webhooks/{create(api, admin_headers)['id']}/recover"
    expect_error(api.post(path, headers=admin_headers), 422)
    naive = api.post(path, headers=admin_headers, params={"since": "2024-01-15T10:30:00"})
    assert [item["path"] for item in expect_error(naive, 422)["errors"]] == ["query.since"]
    expect_error(api.post(path, headers=admin_headers, params={"since": "yesterday"}), 422)
    reversed_window = {"since": "2024-01-15T10:30:00Z", "until": "2024-01-15T10:00:00Z"}
    response = api.post(path, headers=admin_headers, params=reversed_window)
    assert "since" in expect_error(response, 422)["message"]
    naive_until = {"since": "2024-01-15T10:30:00Z", "until": "2024-01-16T10:30:00"}
    expect_error(api.post(path, headers=admin_headers, params=naive_until), 422)
    # Another zone is fine: 13:30+03:00 is 10:30Z, so this window is one instant wide.
    other_zone = {"since": "2024-01-15T13:30:00+03:00", "until": "2024-01-15T10:30:00Z"}
    assert ok(api.post(path, headers=admin_headers, params=other_zone)) == {"requeued": 0}


#: Every route under ``/webhooks/{id}`` that names a webhook, with a body it accepts.
WEBHOOK_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("PATCH", "", {"name": "x"}),
    ("DELETE", "", None),
    ("GET", "/stats", None),
    ("POST", "/rotate-secret", {}),
    ("POST", "/test", None),
    ("POST", "/recover?since=2024-01-15T10:30:00Z", None),
    ("GET", "/deliveries", None),
]


def test_unknown_ids_are_not_found_on_every_route(
    api: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    for method, suffix, body in WEBHOOK_ROUTES:
        path = f"/webhooks/{UNKNOWN_ID}{suffix}"
        response = api.request(method, path, headers=admin_headers, json=body)
        assert response.status_code == 404, (method, path)
        expect_error(response, 404, "Webhook not found")

    webhook_id = create(api, admin_headers)["id"]
    other_id = create(api, admin_headers, name="other")["id"]
    publish(api, admin_headers)
    [delivery] = deliveries(api, admin_headers, webhook_id)["items"]
    for owner, delivery_id, missing in [
        (webhook_id, UNKNOWN_ID, "Delivery not found"),
        # A delivery is reached only under its own webhook.
        (other_id, delivery["id"], "Delivery not found"),
        (UNKNOWN_ID, delivery["id"], "Webhook not found"),
    ]:
        path = f"/webhooks/{owner}/deliveries/{delivery_id}"
        expect_error(api.get(path, headers=admin_headers), 404, missing)
        expect_error(api.post(f"{path}/resend", headers=admin_headers), 404, missing)
    assert only_delivery(api, admin_headers, webhook_id, "pending") is not None


def test_listings_refuse_a_bogus_status_and_bad_paging(
    api: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    path = f"/webhooks/{create(api, admin_headers)['id']}/deliveries"
    for params in ({"status": "bogus"}, {"limit": 0}, {"limit": 501}, {"offset": -1}):
        error = expect_error(api.get(path, headers=admin_headers, params=params), 422)
        assert [item["path"] for item in error["errors"]] == [f"query.{next(iter(params))}"]
    for params in ({"event_type": "ticket*"}, {"is_active": "maybe"}, {"limit": 0}):
        expect_error(api.get("/webhooks", headers=admin_headers, params=params), 422)


def test_webhook_routes_need_the_admin_token(api: TestClient, expect_error: ErrorCheck) -> None:
    expect_error(api.get("/webhooks"), 401)
    expect_error(api.post("/webhooks", json={"name": "x"}), 401)
    expect_error(api.get(f"/webhooks/{UNKNOWN_ID}/deliveries"), 401)
    expect_error(api.post(f"/webhooks/{UNKNOWN_ID}/test"), 401)
