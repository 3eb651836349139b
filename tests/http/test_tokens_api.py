"""``/tokens`` and ``/audit``: API tokens shown once, used, revoked and audited, both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hookhub.services.tokens import AUTH_FAILED
from hookhub.tokens import SHOWN_PREFIX_CHARS, TOKEN_PREFIX

ErrorCheck = Callable[..., dict[str, Any]]
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@pytest.fixture
def client(
    make_client: Callable[..., TestClient], database_url: str, clock: Callable[[], datetime]
) -> TestClient:
    return make_client(database_url=database_url, clock=clock)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_token(
    client: TestClient, headers: dict[str, str], name: str, request_id: str | None = None
) -> dict[str, Any]:
    extra = {"X-Request-ID": request_id} if request_id else {}
    response = client.post("/tokens", headers={**headers, **extra}, json={"name": name})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_shows_the_token_once(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = create_token(client, admin_headers, "ci-bot")
    token = created["token"]
    assert token.startswith(TOKEN_PREFIX)
    assert len(token) > 40
    assert created["prefix"] == token[:SHOWN_PREFIX_CHARS]
    assert created["name"] == "ci-bot"
    assert len(created["id"]) == 26
    assert created["created_at"].endswith("Z")
    assert created["revoked_at"] is None

    listed = client.get("/tokens", headers=admin_headers)
    assert listed.status_code == 200
    assert token not in listed.text
    (info,) = listed.json()
    assert "token" not in info
    assert info == {key: value for key, value in created.items() if key != "token"} | {
        "last_used_at": None
    }


def test_each_token_is_new(client: TestClient, admin_headers: dict[str, str]) -> None:
    first, second = (create_token(client, admin_headers, "same") for _ in range(2))
    assert first["token"] != second["token"]
    assert first["id"] != second["id"]


def test_an_api_token_authenticates_admin_endpoints(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    token = create_token(client, admin_headers, "deployer")["token"]
    assert client.get("/events", headers=bearer(token)).status_code == 200
    assert client.get("/audit", headers=bearer(token)).status_code == 200
    published = client.post("/events", headers=bearer(token), json={"type": "by.token"})
    assert published.status_code == 201

    listed = client.get("/tokens", headers=admin_headers).json()
    assert listed[0]["last_used_at"] is not None and listed[0]["last_used_at"].endswith("Z")


def test_revoked_token_is_refused(
    client: TestClient, admin_headers: dict[str, str], expect_error: ErrorCheck
) -> None:
    created = create_token(client, admin_headers, "short-lived")
    assert client.get("/tokens", headers=bearer(created["token"])).status_code == 200

    response = client.delete(f"/tokens/{created['id']}", headers=admin_headers)
    assert response.status_code == 200
    revoked = response.json()
    assert revoked["id"] == created["id"]
    assert revoked["revoked_at"].endswith("Z")
    assert "token" not in revoked

    refused = client.get("/tokens", headers=bearer(created["token"]))
    expect_error(refused, 401, AUTH_FAILED)
    assert refused.headers["www-authenticate"] == "Bearer"

    assert client.get("/tokens", headers=admin_headers).json() == []
    with_revoked = client.get("/tokens?include_revoked=true", headers=admin_headers).json()
    assert [(t["id"], t["revoked_at"]) for t in with_revoked] == [
        (created["id"], revoked["revoked_at"])
    ]


def test_a_token_can_revoke_itself(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = create_token(client, admin_headers, "self")
    own = bearer(created["token"])
    assert client.delete(f"/tokens/{created['id']}", headers=own).status_code == 200
    assert client.get("/tokens", headers=own).status_code == 401


def test_revoke_unknown_is_404(
    client: TestClient, admin_headers: dict[str, str], expect_error: ErrorCheck
) -> None:
    response = client.delete(f"/tokens/{UNKNOWN_ID}", headers=admin_headers)
    assert UNKNOWN_ID in expect_error(response, 404)["message"]
    audit = client.get("/audit", headers=admin_headers).json()
    assert audit["total"] == 0


def test_audit_records_create_and_revoke(client: TestClient, admin_headers: dict[str, str]) -> None:
    created = create_token(client, admin_headers, "audited", request_id="req-create-1")
    revoke = client.delete(
        f"/tokens/{created['id']}", headers={**admin_headers, "X-Request-ID": "req-revoke-1"}
    )
    assert revoke.status_code == 200

    response = client.get("/audit", headers=admin_headers)
    assert response.status_code == 200
    assert created["token"] not in response.text
    page = response.json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
    revoked_entry, created_entry = page["items"]  # newest first

    assert created_entry["action"] == "token.created"
    assert created_entry["actor"] == "admin"
    assert created_entry["target"] == created["id"]
    assert created_entry["request_id"] == "req-create-1"
    assert created_entry["details"] == {"name": "audited", "prefix": created["prefix"]}
    assert created_entry["occurred_at"].endswith("Z")

    assert revoked_entry["action"] == "token.revoked"
    assert revoked_entry["actor"] == "admin"
    assert revoked_entry["target"] == created["id"]
    assert revoked_entry["request_id"] == "req-revoke-1"
    assert revoked_entry["occurred_at"] > created_entry["occurred_at"]


def test_audit_names_an_api_token_as_the_actor(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    token = create_token(client, admin_headers, "automation")["token"]
    made_by_token = create_token(client, bearer(token), "child", request_id="req-child")
    entries = client.get("/audit", headers=admin_headers).json()["items"]
    child = next(entry for entry in entries if entry["target"] == made_by_token["id"])
    assert (child["actor"], child["request_id"]) == ("token:automation", "req-child")


def test_audit_pages_and_filters(client: TestClient, admin_headers: dict[str, str]) -> None:
    tokens = [create_token(client, admin_headers, f"t{n}") for n in range(3)]
    assert client.delete(f"/tokens/{tokens[1]['id']}", headers=admin_headers).status_code == 200

    def audit(**params: Any) -> dict[str, Any]:
        response = client.get("/audit", headers=admin_headers, params=params)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    everything = audit()
    assert everything["total"] == 4
    assert [e["action"] for e in everything["items"]] == ["token.revoked"] + ["token.created"] * 3
    assert [e["target"] for e in everything["items"][1:]] == [t["id"] for t in reversed(tokens)]

    first, second, beyond = audit(limit=2), audit(limit=2, offset=2), audit(limit=2, offset=4)
    assert [(p["total"], p["limit"], p["offset"]) for p in (first, second, beyond)] == [
        (4, 2, 0),
        (4, 2, 2),
        (4, 2, 4),
    ]
    assert first["items"] + second["items"] == everything["items"]
    assert beyond["items"] == []

    revoked = audit(action="token.revoked")
    assert revoked["total"] == 1
    assert revoked["items"][0]["target"] == tokens[1]["id"]
    created_page = audit(action="token.created", limit=1, offset=1)
    assert created_page["total"] == 3
    assert [e["target"] for e in created_page["items"]] == [tokens[1]["id"]]
    assert audit(action="secret.rotated") == {"items": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize("name", ["", "x" * 101])
def test_bad_token_names_are_422(
    client: TestClient, name: str, admin_headers: dict[str, str], expect_error: ErrorCheck
) -> None:
    response = client.post("/tokens", headers=admin_headers, json={"name": name})
    body = expect_error(response, 422)
    assert [item["path"] for item in body["errors"]] == ["body.name"]
