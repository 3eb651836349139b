"""``/hooks/{slug}`` over HTTP: seed 002's answers, the order of checks, and what runs.

Every refusal is checked three ways: the exact answer, the request history's verdict and
reason, and that nothing was handed to the automations.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hookhub.inbound.headers import MASK
from tests.inbound.conftest import (
    BEARER,
    SEED_BODY,
    SEED_SCHEMA,
    SEED_VERIFICATION,
    Api,
    Headers,
    seed_headers,
    sign,
)

ErrorCheck = Callable[..., dict[str, Any]]
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SEED_PATH = "/hooks/discord-ticket"


def seed_endpoint(api: Api, **fields: Any) -> dict[str, Any]:
    return api.create(**{"verification": SEED_VERIFICATION, "json_schema": SEED_SCHEMA, **fields})


def post(api: Api, body: bytes, headers: Headers, path: str = SEED_PATH, **kwargs: Any) -> Any:
    return api.client.post(path, content=body, headers=headers, **kwargs)


def encoded(value: Any) -> bytes:
    return json.dumps(value).encode()


def only_request(api: Api, endpoint_id: str) -> dict[str, Any]:
    page = api.history(endpoint_id)
    assert page["total"] == 1, page
    found: dict[str, Any] = page["items"][0]
    return found


# --- success ---------------------------------------------------------------------------------


def test_seed_request_is_stored_and_starts_the_automations_with_the_exact_trigger(
    api: Api,
) -> None:
    endpoint = seed_endpoint(api)
    body = encoded(SEED_BODY)
    response = post(api, body, seed_headers(body, **{"X-Custom": "kept"}), params={"src": "bot"})

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == {
        "success": True,
        "message": "Webhook processed successfully",
        "executionId": "exec-1",
        "receivedAt": answer["receivedAt"],
    }
    assert ISO_Z.match(answer["receivedAt"])

    stored = only_request(api, endpoint["id"])
    [call] = api.automations.calls
    assert call["endpoint_id"] == endpoint["id"]
    assert call["request_id"] == stored["id"]
    trigger = call["trigger"]
    assert set(trigger) == {
        "body",
        "query",
        "headers",
        "method",
        "endpoint",
        "request_id",
        "received_at",
    }
    assert trigger["body"] == SEED_BODY
    assert trigger["query"] == {"src": "bot"}
    assert trigger["method"] == "POST"
    assert trigger["endpoint"] == {
        "id": endpoint["id"],
        "slug": "discord-ticket",
        "name": "Discord tickets",
    }
    assert trigger["request_id"] == stored["id"]
    assert trigger["received_at"] == answer["receivedAt"]
    assert trigger["headers"]["authorization"] == MASK
    assert trigger["headers"]["x-webhook-signature"] == MASK
    assert trigger["headers"]["x-custom"] == "kept"
    assert trigger["headers"]["content-type"] == "application/json"
    assert all(name == name.lower() for name in trigger["headers"])

    assert stored["verdict"] == "accepted"
    assert stored["status_code"] == 200
    assert stored["execution_id"] == "exec-1"
    assert stored["reason"] is None
    assert stored["headers"] == trigger["headers"]
    assert json.loads(stored["body"]) == SEED_BODY
    assert stored["body_bytes"] == len(body)
    assert stored["query"] == {"src": "bot"}
    assert BEARER not in json.dumps(stored)


def test_public_hooks_need_no_admin_token_and_ignore_a_wrong_one(lite_api: Api) -> None:
    seed_endpoint(lite_api)
    body = encoded(SEED_BODY)
    # The endpoint's own bearer token is the one checked, not the admin token.
    response = post(lite_api, body, seed_headers(body))
    assert response.status_code == 200
    admin_only = lite_api.client.post(SEED_PATH, content=body, headers=lite_api.admin)
    assert admin_only.status_code == 401  # the admin token is no endpoint credential
    assert lite_api.client.get("/endpoints").status_code == 401  # the admin API still wants it


def test_sha256_prefixed_signature_and_a_fresh_timestamp_pass(lite_api: Api) -> None:
    seed_endpoint(lite_api, verification={**SEED_VERIFICATION, "replay_protection": True})
    body = encoded(SEED_BODY)
    timestamp = str(int(lite_api.clock.now.timestamp()))
    headers = seed_headers(body, **{"X-Webhook-Timestamp": timestamp})
    headers["X-Webhook-Signature"] = "sha256=" + headers["X-Webhook-Signature"]
    assert post(lite_api, body, headers).status_code == 200


def test_automations_that_start_nothing_give_a_null_execution_id(lite_api: Api) -> None:
    endpoint = seed_endpoint(lite_api)
    lite_api.automations.answer_none = True
    body = encoded(SEED_BODY)
    answer = post(lite_api, body, seed_headers(body)).json()
    assert answer["success"] is True
    assert answer["executionId"] is None
    assert only_request(lite_api, endpoint["id"])["execution_id"] is None


def test_an_endpoint_without_verification_or_schema_takes_any_json(lite_api: Api) -> None:
    lite_api.create(slug="open")
    response = post(lite_api, b"[1, 2, 3]", {"Content-Type": "application/json"}, "/hooks/open")
    assert response.status_code == 200
    assert lite_api.automations.calls[0]["trigger"]["body"] == [1, 2, 3]


def test_other_content_types_when_allowed_reach_the_automations_without_a_body(
    lite_api: Api,
) -> None:
    lite_api.create(slug="text", content_types=["application/json", "text/plain"])
    response = post(lite_api, b"code=K command=sell", {"Content-Type": "text/plain"}, "/hooks/text")
    assert response.status_code == 200
    assert lite_api.automations.calls[0]["trigger"]["body"] is None


def test_get_without_a_body_when_the_endpoint_takes_get(lite_api: Api) -> None:
    lite_api.create(slug="ping", methods=["GET", "POST"])
    response = lite_api.client.get("/hooks/ping", params={"a": "1"})
    assert response.status_code == 200
    trigger = lite_api.automations.calls[0]["trigger"]
    assert (trigger["method"], trigger["body"], trigger["query"]) == ("GET", None, {"a": "1"})


# --- refusals --------------------------------------------------------------------------------


@pytest.fixture
def refused(expect_error: ErrorCheck) -> Callable[..., dict[str, Any]]:
    def check(api: Api, response: Any, status: int, message: str, verdict: str) -> dict[str, Any]:
        body = expect_error(response, status, message)
        assert api.automations.calls == []
        requests = api.history(
            api.client.get("/endpoints", headers=api.admin).json()["items"][0]["id"]
        )
        assert requests["items"][0]["verdict"] == verdict
        assert requests["items"][0]["status_code"] == status
        return body

    return check


def test_unknown_and_inactive_slugs_are_not_found(api: Api, expect_error: ErrorCheck) -> None:
    endpoint = seed_endpoint(api)
    body = encoded(SEED_BODY)
    answer = expect_error(post(api, body, seed_headers(body), "/hooks/nope"), 404)
    assert answer == {
        "success": False,
        "message": "Webhook not found",
        "request_id": answer["request_id"],
    }
    api.client.patch(f"/endpoints/{endpoint['id']}", headers=api.admin, json={"is_active": False})
    expect_error(post(api, body, seed_headers(body)), 404, "Webhook not found")
    expect_error(post(api, body, seed_headers(body), "/hooks/Not%20A%20Slug"), 404)
    assert api.automations.calls == []
    assert api.history(endpoint["id"])["total"] == 0  # nothing to file them under


def test_wrong_method_is_405_with_allow(lite_api: Api, refused: Callable[..., Any]) -> None:
    seed_endpoint(lite_api, methods=["POST", "PUT"])
    response = lite_api.client.delete(SEED_PATH)
    refused(lite_api, response, 405, "Method not allowed", "method_not_allowed")
    assert response.headers["allow"] == "POST, PUT"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Authorization": None}, "missing bearer token"),
        ({"Authorization": "Bearer wrong-token"}, "wrong bearer token"),
        ({"X-Webhook-Signature": None}, "missing x-webhook-signature header"),
        ({"X-Webhook-Signature": sign(b"tampered")}, "signature mismatch"),
        ({"X-Webhook-Signature": sign(encoded(SEED_BODY), "wrong-secret")}, "signature mismatch"),
    ],
    ids=["no-bearer", "wrong-bearer", "no-signature", "tampered", "wrong-secret"],
)
def test_failed_verification_is_401_and_the_reason_only_in_the_history(
    api: Api, refused: Callable[..., Any], change: dict[str, str | None], reason: str
) -> None:
    endpoint = seed_endpoint(api)
    body = encoded(SEED_BODY)
    headers = {**seed_headers(body), **change}
    sent = {name: value for name, value in headers.items() if value is not None}
    answer = refused(api, post(api, body, sent), 401, "Security validation failed", "unverified")
    assert set(answer) == {"success", "message", "request_id"}
    stored = only_request(api, endpoint["id"])
    assert stored["reason"] == reason
    assert json.loads(stored["body"]) == SEED_BODY  # kept for whoever investigates


def test_old_future_and_missing_timestamps_are_401(
    lite_api: Api, refused: Callable[..., Any]
) -> None:
    endpoint = seed_endpoint(
        lite_api, verification={**SEED_VERIFICATION, "replay_protection": True}
    )
    body = encoded(SEED_BODY)
    now_s = int(lite_api.clock.now.timestamp())
    for extra in (
        {},
        {"X-Webhook-Timestamp": str(now_s - 301)},
        {"X-Webhook-Timestamp": str(now_s + 301)},
        {"X-Timestamp": str((now_s - 301) * 1000)},
    ):
        refused(
            lite_api,
            post(lite_api, body, seed_headers(body, **extra)),
            401,
            "Security validation failed",
            "unverified",
        )
    reasons = sorted(item["reason"] for item in lite_api.history(endpoint["id"])["items"])
    assert reasons == [
        "missing timestamp header",
        "timestamp in the future (301 s)",
        "timestamp too old (301 s)",
        "timestamp too old (301 s)",
    ]


def test_the_signature_is_checked_before_the_body_is_parsed(
    lite_api: Api, refused: Callable[..., Any]
) -> None:
    seed_endpoint(lite_api)
    body = b"{not json"
    headers = seed_headers(body)
    headers["X-Webhook-Signature"] = sign(b"something else")
    refused(
        lite_api, post(lite_api, body, headers), 401, "Security validation failed", "unverified"
    )


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(
    api: Api, refused: Callable[..., Any], content_type: str | None
) -> None:
    seed_endpoint(api)
    body = encoded(SEED_BODY)
    headers = seed_headers(body)
    if content_type is None:
        del headers["Content-Type"]
    else:
        headers["Content-Type"] = content_type
    answer = refused(
        api, post(api, body, headers), 415, "Unsupported content type", "unsupported_type"
    )
    assert answer["errors"][0]["path"] == "headers.content-type"


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b'{"title": "x",}'], ids=["garbage", "empty", "trailing-comma"]
)
def test_invalid_json_is_400(api: Api, refused: Callable[..., Any], body: bytes) -> None:
    seed_endpoint(api)
    answer = refused(
        api, post(api, body, seed_headers(body)), 400, "Malformed JSON body", "invalid"
    )
    assert answer["errors"][0]["path"] == "body"


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"description": "d", "teamId": "t"},
            [{"path": "body", "message": "'title' is a required property"}],
        ),
        (
            {**SEED_BODY, "title": "", "priority": 7},
            [
                {"path": "body.priority", "message": "7 is greater than the maximum of 3"},
                {"path": "body.title", "message": "'' should be non-empty"},
            ],
        ),
        (
            {**SEED_BODY, "teamId": 42},
            [{"path": "body.teamId", "message": "42 is not of type 'string'"}],
        ),
        ([SEED_BODY], [{"path": "body", "message": f"{[SEED_BODY]!r} is not of type 'object'"}]),
    ],
    ids=["missing-field", "two-problems", "wrong-type", "not-an-object"],
)
def test_schema_violations_are_400_invalid_payload_with_each_problem(
    api: Api, refused: Callable[..., Any], payload: Any, errors: list[dict[str, str]]
) -> None:
    endpoint = seed_endpoint(api)
    body = encoded(payload)
    answer = refused(api, post(api, body, seed_headers(body)), 400, "Invalid payload", "invalid")
    assert answer["errors"] == errors
    assert only_request(api, endpoint["id"])["reason"].startswith("Invalid payload: ")


def test_a_schema_needs_a_json_body(lite_api: Api, refused: Callable[..., Any]) -> None:
    lite_api.create(
        slug="mixed", content_types=["application/json", "text/plain"], json_schema=SEED_SCHEMA
    )
    response = post(lite_api, b"hello", {"Content-Type": "text/plain"}, "/hooks/mixed")
    refused(lite_api, response, 400, "Invalid payload", "invalid")


def test_oversize_bodies_are_413_declared_or_streamed(
    api: Api, refused: Callable[..., Any]
) -> None:
    endpoint = seed_endpoint(api, max_body_bytes=200)
    body = encoded({**SEED_BODY, "description": "x" * 300})
    response = post(api, body, seed_headers(body))
    refused(api, response, 413, "Request body exceeds 200 bytes", "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: read until past the limit
        yield body[:150]
        yield body[150:]

    streamed = api.client.post(SEED_PATH, content=chunks(), headers=seed_headers(body))
    refused(api, streamed, 413, "Request body exceeds 200 bytes", "too_large")
    assert api.history(endpoint["id"], verdict="too_large")["total"] == 2


def test_flood_past_the_rate_limit_is_429_and_runs_nothing_more(
    api: Api, expect_error: ErrorCheck
) -> None:
    endpoint = seed_endpoint(api, rate_limit="3/minute")
    body = encoded(SEED_BODY)
    answers = [post(api, body, seed_headers(body)) for _ in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429, 429]
    for answer in answers[3:]:
        expect_error(answer, 429, "Too many requests")
        # Within two windows: a full window still weighs on the next one as it slides out.
        assert 1 <= int(answer.headers["retry-after"]) <= 120
    assert len(api.automations.calls) == 3
    assert api.history(endpoint["id"], verdict="rate_limited")["total"] == 3


def test_rate_limit_counts_per_client_ip_behind_a_trusted_proxy(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(peer=("10.0.0.2", 40000), inbound_trusted_proxies="10.0.0.0/8")
    endpoint = seed_endpoint(api, rate_limit="1/minute")
    body = encoded(SEED_BODY)

    def send(forwarded_for: str) -> int:
        headers = seed_headers(body, **{"X-Forwarded-For": forwarded_for})
        status: int = post(api, body, headers).status_code
        return status

    assert [send("198.51.100.1"), send("198.51.100.2"), send("6.6.6.6, 198.51.100.1")] == [
        200,
        200,
        429,  # the spoofed leftmost entry is not the client
    ]
    addresses = {item["client_ip"] for item in api.history(endpoint["id"])["items"]}
    assert addresses == {"198.51.100.1", "198.51.100.2"}


def test_forwarded_for_from_an_untrusted_peer_is_ignored(make_api: Callable[..., Api]) -> None:
    api = make_api(inbound_trusted_proxies="10.0.0.0/8")
    endpoint = seed_endpoint(api, rate_limit="1/minute")
    body = encoded(SEED_BODY)
    first = post(api, body, seed_headers(body, **{"X-Forwarded-For": "198.51.100.1"}))
    second = post(api, body, seed_headers(body, **{"X-Forwarded-For": "198.51.100.2"}))
    assert (first.status_code, second.status_code) == (200, 429)
    addresses = {item["client_ip"] for item in api.history(endpoint["id"])["items"]}
    assert addresses == {"203.0.113.7"}


def test_no_rate_limit_when_set_to_null(lite_api: Api) -> None:
    seed_endpoint(lite_api, rate_limit=None, dedupe={"enabled": False})
    body = encoded(SEED_BODY)
    assert {post(lite_api, body, seed_headers(body)).status_code for _ in range(5)} == {200}


# --- dedupe ----------------------------------------------------------------------------------


def test_a_repeated_delivery_id_is_answered_duplicate_and_runs_nothing(api: Api) -> None:
    endpoint = seed_endpoint(api)
    body = encoded(SEED_BODY)
    first = post(api, body, seed_headers(body, **{"webhook-id": "msg_1"}))
    again = post(api, body, seed_headers(body, **{"webhook-id": "msg_1"}))
    other = post(api, body, seed_headers(body, **{"webhook-id": "msg_2"}))
    assert first.json()["executionId"] == "exec-1"
    assert again.status_code == 200
    repeat = again.json()
    assert repeat == {
        "success": True,
        "message": "Webhook processed successfully",
        "executionId": "exec-1",  # the first delivery's
        "receivedAt": repeat["receivedAt"],
        "duplicate": True,
    }
    assert other.json()["executionId"] == "exec-2"
    assert len(api.automations.calls) == 2
    duplicates = api.history(endpoint["id"], verdict="duplicate")
    assert duplicates["total"] == 1
    assert duplicates["items"][0]["delivery_id"] == "msg_1"


def test_the_dedupe_window_ends(lite_api: Api) -> None:
    seed_endpoint(lite_api, dedupe={"window_s": 60})
    body = encoded(SEED_BODY)
    headers = seed_headers(body, **{"Idempotency-Key": "k1"})
    assert "duplicate" not in post(lite_api, body, headers).json()
    lite_api.clock.advance(59)
    assert post(lite_api, body, headers).json()["duplicate"] is True
    lite_api.clock.advance(2)
    assert "duplicate" not in post(lite_api, body, headers).json()
    assert len(lite_api.automations.calls) == 2


def test_dedupe_by_a_json_path_and_off(lite_api: Api) -> None:
    seed_endpoint(lite_api, dedupe={"id_path": "$.discordUserId"})
    lite_api.create(slug="nodedupe", dedupe={"enabled": False})
    body = encoded(SEED_BODY)
    post(lite_api, body, seed_headers(body))
    assert post(lite_api, body, seed_headers(body)).json()["duplicate"] is True
    plain = {"Content-Type": "application/json", "webhook-id": "same"}
    for _ in range(2):
        assert "duplicate" not in post(lite_api, body, plain, "/hooks/nodedupe").json()
    assert len(lite_api.automations.calls) == 3


def test_a_failed_hand_over_frees_the_delivery_id_for_the_retry(lite_api: Api) -> None:
    endpoint = seed_endpoint(lite_api)
    body = encoded(SEED_BODY)
    headers = seed_headers(body, **{"webhook-id": "msg_9"})
    lite_api.automations.fail_with = RuntimeError("automations down")
    failed = post(lite_api, body, headers)
    assert failed.status_code == 500
    assert "automations down" not in failed.text
    lite_api.automations.fail_with = None
    retried = post(lite_api, body, headers)
    assert retried.json() == {**retried.json(), "executionId": "exec-1"}
    assert "duplicate" not in retried.json()
    reasons = [r["reason"] for r in lite_api.history(endpoint["id"])["items"]]
    assert "starting the automations failed: RuntimeError" in reasons


def test_a_request_whose_executions_are_refused_is_kept_unclaimed(api: Api) -> None:
    endpoint = seed_endpoint(api)
    body = encoded(SEED_BODY)
    headers = seed_headers(body, **{"webhook-id": "msg_9"})
    api.automations.plan_orphans = True
    assert post(api, body, headers).status_code == 500
    [kept] = api.history(endpoint["id"])["items"]
    assert kept["reason"] == "starting the automations failed: IntegrityError"
    assert (kept["status_code"], kept["execution_id"]) == (500, None)
    assert api.automations.calls == []
    api.automations.plan_orphans = False
    retried = post(api, body, headers).json()
    assert (retried["executionId"], "duplicate" in retried) == ("exec-1", False)


def test_an_accepted_request_stores_its_executions_and_a_duplicate_none(
    database_url: str, make_api: Callable[..., Api]
) -> None:
    api = make_api(database_url=database_url, real_automations=True)
    endpoint = seed_endpoint(api)
    automation = api.client.post(
        "/automations",
        headers=api.admin,
        json={
            "name": "ping",
            "trigger": {"endpoint": "discord-ticket"},
            "actions": [{"name": "ping", "action": "ping", "params": {}}],
        },
    ).json()
    body = encoded(SEED_BODY)
    headers = seed_headers(body, **{"webhook-id": "msg_1"})
    first, again = post(api, body, headers).json(), post(api, body, headers).json()
    api.client.portal.call(api.services.automations.executor.drain)  # type: ignore[union-attr]

    assert again["duplicate"] is True
    assert again["executionId"] == first["executionId"]
    executions = api.client.get(
        f"/automations/{automation['id']}/executions", headers=api.admin
    ).json()
    [execution] = executions["items"]
    accepted = api.history(endpoint["id"], verdict="accepted")["items"][0]
    assert execution["id"] == first["executionId"] == accepted["execution_id"]
    assert execution["request_id"] == accepted["id"]
    assert execution["status"] == "complete"


@pytest.mark.redis
def test_two_processes_on_one_redis_share_the_rate_limit(
    make_api: Callable[..., Api], redis_url: str, sqlite_url: str
) -> None:
    """Two apps (as two processes behind a load balancer) on one store and one Redis."""
    prefix = f"hookhub-test-{secrets.token_hex(6)}:"
    shared = {"database_url": sqlite_url, "redis_url": redis_url, "redis_key_prefix": prefix}
    first, second = make_api(**shared), make_api(**shared)
    seed_endpoint(first, rate_limit="3/minute", dedupe={"enabled": False})
    body = encoded(SEED_BODY)
    try:
        statuses = [post(api, body, seed_headers(body)).status_code for api in (first, second) * 3]
    finally:
        first.client.portal.call(first.services.inbound.limiter.reset)  # type: ignore[union-attr]
    assert statuses == [200, 200, 200, 429, 429, 429]
    assert len(first.automations.calls) + len(second.automations.calls) == 3


def test_nul_characters_never_break_storing_the_request(
    api: Api, refused: Callable[..., Any]
) -> None:
    """PostgreSQL cannot hold NUL in text or JSON: such requests are answered, not crashed on."""
    endpoint = seed_endpoint(api, json_schema=None)
    body = b'{"title": "a\\u0000b"}'
    answer = refused(
        api, post(api, body, seed_headers(body)), 400, "Malformed JSON body", "invalid"
    )
    assert "NUL" in answer["errors"][0]["message"]

    garbage = b"\x00\xff binary"
    headers = seed_headers(garbage)
    headers["X-Webhook-Signature"] = sign(b"other")
    assert post(api, garbage, headers).status_code == 401

    ok_body = encoded(SEED_BODY)
    accepted = post(api, ok_body, seed_headers(ok_body), params={"q": "a\x00b"})
    assert accepted.status_code == 200
    assert api.automations.calls[0]["trigger"]["query"] == {"q": "a\ufffdb"}
    verdicts = sorted(item["verdict"] for item in api.history(endpoint["id"])["items"])
    assert verdicts == ["accepted", "invalid", "unverified"]
