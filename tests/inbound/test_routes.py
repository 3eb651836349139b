"""``/endpoints`` over HTTP: CRUD with secrets shown once, paging, the request history and
replay, and the bad input this API refuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from hookhub.http.fast import FastRoutes
from tests.inbound.conftest import (
    HMAC_SECRET,
    SEED_BODY,
    SEED_SCHEMA,
    SEED_VERIFICATION,
    Api,
    seed_headers,
)

ErrorCheck = Callable[..., dict[str, Any]]
UNKNOWN_ID = "01J00000000000000000000000"


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_create_shows_the_secret_once_then_only_its_prefix(api: Api) -> None:
    created = api.create(verification=SEED_VERIFICATION, json_schema=SEED_SCHEMA)
    assert created["secret"] == HMAC_SECRET
    assert created["slug"] == "discord-ticket"
    assert created["url_path"] == "/hooks/discord-ticket"
    assert created["methods"] == ["POST"]
    assert created["content_types"] == ["application/json"]
    assert created["verification"] == {
        "scheme": "hmac",
        "secret_prefix": "seed…",
        "bearer_token_prefix": "seed…",
        "replay_protection": False,
        "tolerance_s": 300.0,
    }
    assert created["rate_limit"] == "100/minute"
    assert created["dedupe"] == {"enabled": True, "window_s": 86400.0, "id_path": None}
    assert created["json_schema"] == SEED_SCHEMA
    assert (created["managed_by"], created["is_active"]) == ("api", True)

    shown = ok(api.client.get(f"/endpoints/{created['id']}", headers=api.admin))
    listed = ok(api.client.get("/endpoints", headers=api.admin))
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    assert listed["items"] == [shown]
    for text in (json.dumps(shown), json.dumps(listed)):
        assert HMAC_SECRET not in text
        assert "seed-bearer-token" not in text


def test_a_scheme_without_a_secret_gets_a_generated_one(lite_api: Api) -> None:
    created = lite_api.create(verification={"scheme": "hmac"})
    assert created["secret"].startswith("whsec_")
    assert created["verification"]["secret_prefix"] == created["secret"][:10] + "…"
    # And the generated secret is the one that verifies.
    lite_api.client.patch(
        f"/endpoints/{created['id']}", headers=lite_api.admin, json={"json_schema": None}
    )
    body = json.dumps(SEED_BODY).encode()
    headers = seed_headers(body)
    del headers["Authorization"]
    headers["X-Webhook-Signature"] = _sign(body, created["secret"])
    response = lite_api.client.post("/hooks/discord-ticket", content=body, headers=headers)
    assert response.status_code == 200, response.text


def _sign(body: bytes, secret: str) -> str:
    import hashlib
    import hmac

    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_list_filters_by_state_and_pages(api: Api) -> None:
    ids = []
    for n in range(4):
        ids.append(api.create(slug=f"hook-{n}", is_active=n != 1)["id"])
        api.clock.advance(1)  # ids, and so the order, follow the creation time

    def listed(**params: Any) -> Any:
        return ok(api.client.get("/endpoints", headers=api.admin, params=params))

    assert [e["id"] for e in listed(is_active="false")["items"]] == [ids[1]]
    assert listed(is_active="true")["total"] == 3
    first, rest = listed(limit=3, offset=0), listed(limit=3, offset=3)
    assert (first["total"], len(first["items"]), len(rest["items"])) == (4, 3, 1)
    assert [e["id"] for e in first["items"] + rest["items"]] == ids


def test_patch_changes_fields_and_keeps_the_rest(api: Api) -> None:
    created = api.create(verification=SEED_VERIFICATION)
    path = f"/endpoints/{created['id']}"
    changes: dict[str, Any] = {
        "name": "Renamed",
        "slug": "renamed",
        "description": "after",
        "methods": ["PUT", "POST"],
        "content_types": ["text/plain", "application/json"],
        "json_schema": {"type": "object"},
        "rate_limit": "10/second",
        "max_body_bytes": 4096,
    }
    for field, value in changes.items():
        ok(api.client.patch(path, headers=api.admin, json={field: value}))
    stored = ok(api.client.get(path, headers=api.admin))
    assert stored["methods"] == ["POST", "PUT"]
    assert stored["content_types"] == ["application/json", "text/plain"]
    assert stored["url_path"] == "/hooks/renamed"
    assert {f: stored[f] for f in ("name", "description", "rate_limit", "max_body_bytes")} == {
        "name": "Renamed",
        "description": "after",
        "rate_limit": "10/second",
        "max_body_bytes": 4096,
    }
    # Nested objects change only the fields named; the secrets stay.
    tuned = ok(
        api.client.patch(
            path,
            headers=api.admin,
            json={"verification": {"replay_protection": True}, "dedupe": {"window_s": 60}},
        )
    )
    assert tuned["verification"] == {**created["verification"], "replay_protection": True}
    assert tuned["dedupe"] == {"enabled": True, "window_s": 60.0, "id_path": None}
    cleared = ok(api.client.patch(path, headers=api.admin, json={"rate_limit": None}))
    assert cleared["rate_limit"] is None
    off = ok(api.client.patch(path, headers=api.admin, json={"verification": {"scheme": None}}))
    assert off["verification"]["scheme"] is None
    assert off["verification"]["secret_prefix"] is None
    assert off["verification"]["bearer_token_prefix"] is None


def test_patch_refuses_what_create_would(api: Api, expect_error: ErrorCheck) -> None:
    first = api.create(verification=SEED_VERIFICATION)
    api.create(slug="taken")
    path = f"/endpoints/{first['id']}"
    expect_error(api.client.patch(path, headers=api.admin, json={"slug": "taken"}), 409)
    for bad in (
        {"verification": {"scheme": "bearer"}},  # a new scheme without its secret
        {"verification": {"secret": None}},
        {"name": None},
        {"methods": []},
        {"json_schema": {"type": "nonsense"}},
        {"dedupe": {"id_path": "a..b"}},
    ):
        expect_error(api.client.patch(path, headers=api.admin, json=bad), 422)
    assert ok(api.client.get(path, headers=api.admin)) == {
        k: v for k, v in first.items() if k != "secret"
    }


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"slug": "Has Spaces"}, "slug"),
        ({"slug": "-leading"}, "slug"),
        ({"verification": {"scheme": "nope"}}, "unknown scheme"),
        ({"verification": {"secret": "long-enough"}}, "needs a scheme"),
        (
            {"verification": {"scheme": "bearer", "secret": "x" * 8, "bearer_token": "y" * 8}},
            "bearer",
        ),
        ({"verification": {"scheme": "hmac", "secret": "short"}}, "secret"),
        ({"verification": {"scheme": "hmac", "tolerance_s": 0}}, "tolerance_s"),
        ({"json_schema": {"type": 12}}, "JSON Schema"),
        ({"json_schema": {"minLength": -1}}, "JSON Schema"),
        ({"rate_limit": "lots"}, "rate_limit"),
        ({"dedupe": {"window_s": -1}}, "window_s"),
        ({"dedupe": {"id_path": "a b"}}, "JSON path"),
        ({"methods": ["TRACE"]}, "methods"),
        ({"content_types": []}, "content_types"),
        ({"max_body_bytes": 0}, "max_body_bytes"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_create_refuses_bad_fields(
    lite_api: Api, expect_error: ErrorCheck, fields: dict[str, Any], fragment: str
) -> None:
    body = {"name": "x", "slug": "ok", **fields}
    answer = expect_error(
        lite_api.client.post("/endpoints", headers=lite_api.admin, json=body), 422
    )
    assert fragment in json.dumps(answer["errors"])
    assert ok(lite_api.client.get("/endpoints", headers=lite_api.admin))["total"] == 0


def test_a_taken_slug_is_a_conflict(api: Api, expect_error: ErrorCheck) -> None:
    api.create(slug="one")
    body = {"name": "again", "slug": "one"}
    expect_error(api.client.post("/endpoints", headers=api.admin, json=body), 409)


def test_delete_removes_the_endpoint_and_its_history(api: Api, expect_error: ErrorCheck) -> None:
    created = api.create(dedupe={"enabled": True})
    body = json.dumps(SEED_BODY).encode()
    headers = {"Content-Type": "application/json", "webhook-id": "d1"}
    assert (
        api.client.post("/hooks/discord-ticket", content=body, headers=headers).status_code == 200
    )
    deleted = ok(api.client.delete(f"/endpoints/{created['id']}", headers=api.admin))
    assert deleted == {"success": True, "message": "Endpoint deleted"}
    expect_error(api.client.get(f"/endpoints/{created['id']}", headers=api.admin), 404)
    expect_error(api.client.post("/hooks/discord-ticket", content=body, headers=headers), 404)
    # The slug is free again, and so is the delivery id.
    api.create()
    assert (
        "duplicate"
        not in api.client.post("/hooks/discord-ticket", content=body, headers=headers).json()
    )


def test_unknown_ids_are_not_found_on_every_route(api: Api, expect_error: ErrorCheck) -> None:
    known = api.create()["id"]
    for method, path in (
        ("GET", f"/endpoints/{UNKNOWN_ID}"),
        ("PATCH", f"/endpoints/{UNKNOWN_ID}"),
        ("DELETE", f"/endpoints/{UNKNOWN_ID}"),
        ("GET", f"/endpoints/{UNKNOWN_ID}/requests"),
        ("GET", f"/endpoints/{known}/requests/{UNKNOWN_ID}"),
        ("POST", f"/endpoints/{UNKNOWN_ID}/requests/{UNKNOWN_ID}/replay"),
        ("POST", f"/endpoints/{known}/requests/{UNKNOWN_ID}/replay"),
    ):
        kwargs = {"json": {"name": "x"}} if method == "PATCH" else {}
        response = api.client.request(method, path, headers=api.admin, **kwargs)
        expect_error(response, 404)


def test_history_filters_by_verdict_and_pages_newest_first(api: Api) -> None:
    created = api.create(verification=SEED_VERIFICATION, json_schema=SEED_SCHEMA)
    body = json.dumps(SEED_BODY).encode()
    sent = []
    for headers in (seed_headers(body), {"Content-Type": "application/json"}, seed_headers(body)):
        sent.append(api.client.post("/hooks/discord-ticket", content=body, headers=headers))
        api.clock.advance(1)  # ids, and so the order, follow the receipt time
    assert [r.status_code for r in sent] == [200, 401, 200]

    everything = api.history(created["id"])
    assert [r["verdict"] for r in everything["items"]] == ["accepted", "unverified", "accepted"]
    accepted = api.history(created["id"], verdict="accepted", limit=1)
    assert (accepted["total"], len(accepted["items"]), accepted["limit"]) == (2, 1, 1)
    assert (
        api.history(created["id"], verdict="accepted", limit=1, offset=1)["items"][0]["id"]
        == (everything["items"][2]["id"])
    )
    one = everything["items"][1]
    assert (
        ok(api.client.get(f"/endpoints/{created['id']}/requests/{one['id']}", headers=api.admin))
        == one
    )


def test_history_refuses_a_bogus_verdict_and_bad_paging(
    lite_api: Api, expect_error: ErrorCheck
) -> None:
    endpoint_id = lite_api.create()["id"]
    path = f"/endpoints/{endpoint_id}/requests"
    for params in ({"verdict": "maybe"}, {"limit": 0}, {"limit": 501}, {"offset": -1}):
        expect_error(lite_api.client.get(path, headers=lite_api.admin, params=params), 422)


def test_body_kept_in_the_history_is_capped(make_api: Callable[..., Api]) -> None:
    api = make_api(inbound_history_body_bytes=16)
    created = api.create()
    body = json.dumps(SEED_BODY).encode()
    api.client.post(
        "/hooks/discord-ticket", content=body, headers={"Content-Type": "application/json"}
    )
    [stored] = api.history(created["id"])["items"]
    assert stored["body"] == body[:16].decode()
    assert (stored["body_bytes"], stored["body_truncated"]) == (len(body), True)
    # The automations had it whole.
    assert api.automations.calls[0]["trigger"]["body"] == SEED_BODY


def test_replay_runs_an_accepted_request_again(api: Api, expect_error: ErrorCheck) -> None:
    created = api.create(verification=SEED_VERIFICATION)
    body = json.dumps(SEED_BODY).encode()
    api.client.post("/hooks/discord-ticket", content=body, headers=seed_headers(body))
    api.clock.advance(1)
    api.client.post("/hooks/discord-ticket", content=body, headers={"Content-Type": "text/plain"})
    refused, accepted = api.history(created["id"])["items"]
    path = f"/endpoints/{created['id']}/requests"

    replayed = ok(api.client.post(f"{path}/{accepted['id']}/replay", headers=api.admin))
    assert replayed == {
        "success": True,
        "message": "Request replayed",
        "request_id": accepted["id"],
        "execution_id": "exec-2",
    }
    first, again = api.automations.calls
    assert again == first  # the same trigger, the same request id
    expect_error(api.client.post(f"{path}/{refused['id']}/replay", headers=api.admin), 409)
    assert len(api.automations.calls) == 2

    api.client.patch(f"/endpoints/{created['id']}", headers=api.admin, json={"is_active": False})
    expect_error(api.client.post(f"{path}/{accepted['id']}/replay", headers=api.admin), 409)
    assert api.history(created["id"])["total"] == 2  # replays are not new requests


def test_endpoint_routes_need_the_admin_token(lite_api: Api, expect_error: ErrorCheck) -> None:
    created = lite_api.create()
    for method, path in (
        ("GET", "/endpoints"),
        ("POST", "/endpoints"),
        ("GET", f"/endpoints/{created['id']}"),
        ("DELETE", f"/endpoints/{created['id']}"),
        ("GET", f"/endpoints/{created['id']}/requests"),
    ):
        expect_error(lite_api.client.request(method, path), 401)
    assert ok(lite_api.client.get(f"/endpoints/{created['id']}", headers=lite_api.admin))


def test_openapi_documents_the_endpoints_and_the_public_hook(lite_api: Api) -> None:
    document = ok(lite_api.client.get("/openapi.json"))
    paths = document["paths"]
    assert set(paths["/endpoints"]) == {"get", "post"}
    assert set(paths["/endpoints/{endpoint_id}"]) == {"get", "patch", "delete"}
    assert "post" in paths["/endpoints/{endpoint_id}/requests/{request_id}/replay"]
    hook = paths["/hooks/{slug}"]
    assert set(hook) == {"get", "post", "put", "patch", "delete"}
    assert "security" not in hook["post"]
    assert {"200", "401", "404", "405", "413", "415", "429"} <= set(hook["post"]["responses"])


def _hook_cases() -> list[tuple[str, str, bytes, dict[str, str]]]:
    body = json.dumps(SEED_BODY).encode()
    unschematic = json.dumps({"title": ""}).encode()
    return [
        ("POST", "/hooks/discord-ticket", body, seed_headers(body)),
        ("POST", "/hooks/nowhere", body, seed_headers(body)),
        ("GET", "/hooks/discord-ticket", b"", {}),
        ("POST", "/hooks/discord-ticket", body, seed_headers(body, **{"X-Webhook-Signature": "0"})),
        ("POST", "/hooks/discord-ticket", unschematic, seed_headers(unschematic)),
        ("POST", "/hooks/discord-ticket", body, seed_headers(body, **{"Content-Type": "text/xml"})),
    ]


@pytest.mark.parametrize("served", ["ahead of FastAPI", "by the FastAPI route"])
def test_both_hook_paths_answer_alike(lite_api: Api, served: str) -> None:
    lite_api.create(verification=SEED_VERIFICATION, json_schema=SEED_SCHEMA)
    client = lite_api.client
    if served == "by the FastAPI route":
        client.app.fast_http = FastRoutes()  # type: ignore[attr-defined]
    answers = []
    for method, path, body, headers in _hook_cases():
        response = client.request(method, path, content=body, headers=headers)
        shown = response.json()
        shown.pop("receivedAt", None)
        shown.pop("executionId", None)
        shown.pop("request_id", None)
        answers.append((response.status_code, response.headers.get("allow"), shown))
    assert [status for status, _allow, _body in answers] == [200, 404, 405, 401, 400, 415]
    assert answers[2][1] == "POST"
    assert answers[0][2] == {"success": True, "message": "Webhook processed successfully"}
    assert "body.title" in [item["path"] for item in answers[4][2]["errors"]]


def test_hook_answers_are_named_by_their_route_and_carry_the_request_id(lite_api: Api) -> None:
    response = lite_api.client.post("/hooks/nowhere", json={}, headers={"x-request-id": "h-1"})
    assert response.status_code == 404
    assert response.json()["request_id"] == "h-1" == response.headers["x-request-id"]
    metrics = lite_api.client.get("/metrics").text
    assert 'method="POST",route="/hooks/{slug}",status="404"' in metrics
    # A path below a hook is no hook: FastAPI's routing answers it.
    assert lite_api.client.post("/hooks/a/b", json={}).status_code == 404
    assert lite_api.client.post("/hooks/", json={}).status_code in (404, 405)
