"""Endpoints in the config file: checked at load, synced at start-up, read-only in the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hookhub.config import CONFIG_ENV, load_settings
from hookhub.errors import ConfigError
from tests.conftest import ADMIN_TOKEN
from tests.inbound.conftest import SEED_BODY, Api, seed_headers

ErrorCheck = Callable[..., dict[str, Any]]

SEED_TOML = """
[[endpoints]]
name = "Discord tickets"
slug = "discord-ticket"
rate_limit = "50/minute"
verification = { scheme = "hmac", secret = "seed-hmac-secret", bearer_token = "seed-bearer-token" }

[endpoints.json_schema]
type = "object"
required = ["title"]

[[endpoints]]
name = "Open"
slug = "open"
dedupe = { enabled = false }
"""


def configured(**fields: Any) -> dict[str, Any]:
    return {"name": "Configured", "slug": "configured", **fields}


def test_the_toml_file_defines_endpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hookhub.toml"
    path.write_text(SEED_TOML)
    monkeypatch.setenv(CONFIG_ENV, str(path))
    settings = load_settings(admin_token=ADMIN_TOKEN)
    seed, open_ = settings.endpoints
    assert (seed.slug, seed.rate_limit, seed.verification.scheme) == (
        "discord-ticket",
        "50/minute",
        "hmac",
    )
    assert seed.json_schema == {"type": "object", "required": ["title"]}
    assert open_.dedupe.enabled is False
    shown = settings.effective()["endpoints"]
    assert shown == "discord-ticket, open"
    assert "seed-hmac-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("endpoints", "fragment"),
    [
        ([configured(), configured()], "slug defined more than once: configured"),
        ([configured(verification={"scheme": "hmac"})], "verification.secret is required"),
        ([configured(json_schema={"type": 1})], "JSON Schema"),
        ([configured(slug="Bad Slug")], "HOOKHUB_ENDPOINTS"),
    ],
)
def test_bad_config_endpoints_stop_start_up(endpoints: list[dict[str, Any]], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(admin_token=ADMIN_TOKEN, endpoints=endpoints)


def test_config_endpoints_are_synced_and_read_only_in_the_api(
    database_url: str, make_api: Callable[..., Api], expect_error: ErrorCheck
) -> None:
    verification = {
        "scheme": "hmac",
        "secret": "seed-hmac-secret",
        "bearer_token": "seed-bearer-token",
    }
    first = make_api(
        database_url=database_url,
        endpoints=[configured(slug="discord-ticket", verification=verification), configured()],
    )
    listed = first.client.get("/endpoints", headers=first.admin).json()["items"]
    assert {(e["slug"], e["managed_by"]) for e in listed} == {
        ("discord-ticket", "config"),
        ("configured", "config"),
    }
    ticket = next(e for e in listed if e["slug"] == "discord-ticket")
    body = json.dumps(SEED_BODY).encode()
    assert (
        first.client.post(
            "/hooks/discord-ticket", content=body, headers=seed_headers(body)
        ).status_code
        == 200
    )

    path = f"/endpoints/{ticket['id']}"
    expect_error(first.client.patch(path, headers=first.admin, json={"name": "x"}), 409)
    expect_error(first.client.delete(path, headers=first.admin), 409)
    api_made = first.create(slug="from-api")

    # A restart with another config: the kept one is updated in place (same id, its history
    # stays), the dropped one is deactivated and handed to the API, API endpoints are untouched.
    second = make_api(
        database_url=database_url,
        endpoints=[configured(slug="discord-ticket", name="Tickets v2", verification=verification)],
    )
    after = {
        e["slug"]: e for e in second.client.get("/endpoints", headers=second.admin).json()["items"]
    }
    assert after["discord-ticket"]["id"] == ticket["id"]
    assert after["discord-ticket"]["name"] == "Tickets v2"
    assert second.history(ticket["id"])["total"] == 1
    assert (after["configured"]["managed_by"], after["configured"]["is_active"]) == ("api", False)
    assert after["from-api"] == {k: v for k, v in api_made.items() if k != "secret"}
    released = f"/endpoints/{after['configured']['id']}"
    assert second.client.delete(released, headers=second.admin).status_code == 200


def test_a_config_endpoint_takes_over_an_api_one_with_its_slug(
    make_api: Callable[..., Api], sqlite_url: str
) -> None:
    first = make_api(database_url=sqlite_url)
    created = first.create(slug="shared", name="From the API")
    second = make_api(database_url=sqlite_url, endpoints=[configured(slug="shared")])
    [endpoint] = second.client.get("/endpoints", headers=second.admin).json()["items"]
    assert (endpoint["id"], endpoint["name"], endpoint["managed_by"]) == (
        created["id"],
        "Configured",
        "config",
    )
