"""``/automations`` over HTTP: CRUD, the bad input refused at creation, execution history,
stats from known durations, manual runs, and 401 before anything else."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hookhub.app import create_app
from hookhub.config import Settings
from tests.automations.conftest import with_registry
from tests.automations.support import FakeSleep, ManualClock, Toolbox
from tests.http import conftest as http_fixtures

expect_error = http_fixtures.expect_error

Headers = dict[str, str]
ErrorCheck = Callable[..., dict[str, Any]]
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UNKNOWN_ID = "01J00000000000000000000000"

SEED_002 = {
    "name": "Discord Ticket Integration",
    "description": "Discord /ticket -> triage ticket",
    "trigger": {"endpoint": "discord-ticket"},
    "actions": [
        {
            "name": "triage",
            "action": "record",
            "params": {
                "label": "{{ trigger.body.title }}",
                "value": {
                    "description": "Discord Ticket from @{{ trigger.body.discordUsername }} "
                    "(ID: {{ trigger.body.discordUserId }})\n\n{{ trigger.body.description }}",
                    "team": "{{ trigger.body.teamId }}",
                    "priority": "{{ trigger.body.priority }}",
                },
            },
            "retries": {"max_attempts": 3, "backoff_s": 1},
        }
    ],
}


@pytest.fixture
def client(
    make_settings: Callable[..., Settings],
    toolbox: Toolbox,
    sleep: FakeSleep,
    clock: ManualClock,
) -> Iterator[TestClient]:
    app = create_app(make_settings(), clock=clock)
    with_registry(app.state.services, toolbox, sleep, clock)
    with TestClient(app) as test_client:
        yield test_client


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def create(client: TestClient, headers: Headers, **fields: Any) -> dict[str, Any]:
    # Ids order by time: a second apart, automations list in the order they were created.
    clock = client.app.state.services.clock  # type: ignore[attr-defined]
    clock.advance(1)
    body = {**SEED_002, **fields}
    created: dict[str, Any] = ok(client.post("/automations", headers=headers, json=body), 201)
    return created


def test_create_get_list_patch_delete(client: TestClient, admin_headers: Headers) -> None:
    created = create(client, admin_headers)
    assert created["trigger"] == {"endpoint": "discord-ticket"}
    assert created["status"] == "active"
    assert created["managed_by"] == "api"
    assert created["actions"][0]["retries"] == {"max_attempts": 3, "backoff_s": 1.0}
    assert ISO_Z.match(created["created_at"])
    automation_id = created["id"]

    assert ok(client.get(f"/automations/{automation_id}", headers=admin_headers)) == created
    other = create(client, admin_headers, name="other", status="inactive")
    listing = ok(client.get("/automations", headers=admin_headers))
    assert [item["id"] for item in listing["items"]] == [automation_id, other["id"]]
    inactive = ok(client.get("/automations?status=inactive", headers=admin_headers))
    assert [item["id"] for item in inactive["items"]] == [other["id"]]

    patched = ok(
        client.patch(
            f"/automations/{automation_id}",
            headers=admin_headers,
            json={"status": "inactive", "filter": {"body.priority": {"$gte": 2}}},
        )
    )
    assert patched["status"] == "inactive"
    assert patched["filter"] == {"body.priority": {"$gte": 2}}
    assert patched["name"] == SEED_002["name"]
    assert patched["actions"] == created["actions"]
    cleared = ok(
        client.patch(f"/automations/{automation_id}", headers=admin_headers, json={"filter": None})
    )
    assert cleared["filter"] is None

    event = ok(
        client.patch(
            f"/automations/{automation_id}",
            headers=admin_headers,
            json={"trigger": {"event": "ticket.*"}},
        )
    )
    assert event["trigger"] == {"event": "ticket.*"}

    deleted = ok(client.delete(f"/automations/{automation_id}", headers=admin_headers))
    assert deleted == {"success": True, "message": "Automation deleted"}
    assert client.get(f"/automations/{automation_id}", headers=admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            {"actions": [{"name": "a", "action": "nope"}]},
            "actions.0.action",
            "unknown action 'nope'",
        ),
        (
            {"actions": [{"name": "a", "action": "record", "params": {"label": "{{ x"}}]},
            "actions.0.params.label",
            "is not a valid template",
        ),
        (
            {"actions": [{"name": "a", "action": "record", "params": {"label": "x", "bogus": 1}}]},
            "actions.0.params.bogus",
            "Extra inputs are not permitted",
        ),
        (
            {"actions": [{"name": "a", "action": "record", "params": {}}]},
            "actions.0.params.label",
            "Field required",
        ),
        (
            {"actions": [{"name": "a", "action": "record", "params": {"label": 3}}]},
            "actions.0.params.label",
            "valid string",
        ),
        (
            {"filter": {"body.priority": {"$gtx": 2}}},
            "filter.body.priority.$gtx",
            "unknown operator",
        ),
        ({"filter": {"$or": {"a": 1}}}, "filter.$or", "non-empty list"),
    ],
)
def test_definitions_refused_at_creation(
    client: TestClient,
    admin_headers: Headers,
    expect_error: ErrorCheck,
    change: dict[str, Any],
    path: str,
    message: str,
) -> None:
    body = {**SEED_002, **change}
    error = expect_error(client.post("/automations", headers=admin_headers, json=body), 422)
    assert [item["path"] for item in error["errors"]] == [path]
    assert message in error["errors"][0]["message"]
    assert message in error["message"] or error["message"] == "Invalid automation"
    assert ok(client.get("/automations", headers=admin_headers))["total"] == 0


def test_every_problem_is_listed_together(
    client: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    body = {
        **SEED_002,
        "filter": {"a": {"$bad": 1}},
        "actions": [
            {"name": "a", "action": "nope"},
            {"name": "b", "action": "record", "params": {"label": "{% if %}"}},
        ],
    }
    error = expect_error(client.post("/automations", headers=admin_headers, json=body), 422)
    assert error["message"] == "Invalid automation"
    assert [item["path"] for item in error["errors"]] == [
        "filter.a.$bad",
        "actions.0.action",
        "actions.1.params.label",
    ]


def test_a_templated_parameter_is_checked_when_it_runs(
    client: TestClient, admin_headers: Headers
) -> None:
    # Its type is known only once rendered: accepted now, refused by the run if wrong.
    actions = [{"name": "a", "action": "record", "params": {"label": "{{ trigger.body.n }}"}}]
    create(client, admin_headers, actions=actions)


@pytest.mark.parametrize(
    "body",
    [
        {**SEED_002, "trigger": {"endpoint": "a", "event": "b"}},
        {**SEED_002, "trigger": {}},
        {**SEED_002, "trigger": {"event": "bad pattern!"}},
        {**SEED_002, "actions": []},
        {**SEED_002, "actions": [{"name": "a", "action": "record"}] * 2},
        {**SEED_002, "actions": [{"name": "has space", "action": "record"}]},
        {**SEED_002, "status": "paused"},
        {**SEED_002, "unknown": 1},
        {
            **SEED_002,
            "actions": [{"name": "a", "action": "record", "retries": {"max_attempts": 0}}],
        },
        {"name": "no trigger", "actions": SEED_002["actions"]},
    ],
)
def test_malformed_definitions_are_422(
    client: TestClient, admin_headers: Headers, expect_error: ErrorCheck, body: dict[str, Any]
) -> None:
    expect_error(client.post("/automations", headers=admin_headers, json=body), 422)


def test_patch_is_checked_whole(
    client: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    created = create(client, admin_headers)
    url = f"/automations/{created['id']}"
    expect_error(client.patch(url, headers=admin_headers, json={"name": None}), 422)
    error = expect_error(
        client.patch(url, headers=admin_headers, json={"actions": [{"name": "a", "action": "x"}]}),
        422,
    )
    assert error["errors"][0]["path"] == "actions.0.action"
    assert ok(client.get(url, headers=admin_headers)) == created


def test_unknown_ids_are_404(
    client: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    for method, url in [
        ("GET", f"/automations/{UNKNOWN_ID}"),
        ("PATCH", f"/automations/{UNKNOWN_ID}"),
        ("DELETE", f"/automations/{UNKNOWN_ID}"),
        ("GET", f"/automations/{UNKNOWN_ID}/executions"),
        ("GET", f"/automations/{UNKNOWN_ID}/executions/{UNKNOWN_ID}"),
        ("GET", f"/automations/{UNKNOWN_ID}/stats"),
        ("POST", f"/automations/{UNKNOWN_ID}/run"),
    ]:
        body = {} if method in ("PATCH", "POST") else None
        response = client.request(method, url, headers=admin_headers, json=body)
        expect_error(response, 404, "Automation not found")
    automation_id = create(client, admin_headers)["id"]
    expect_error(
        client.get(f"/automations/{automation_id}/executions/{UNKNOWN_ID}", headers=admin_headers),
        404,
        "Execution not found",
    )


def test_every_route_needs_the_admin_token(client: TestClient, expect_error: ErrorCheck) -> None:
    for method, url in [
        ("POST", "/automations"),
        ("GET", "/automations"),
        ("GET", f"/automations/{UNKNOWN_ID}"),
        ("PATCH", f"/automations/{UNKNOWN_ID}"),
        ("DELETE", f"/automations/{UNKNOWN_ID}"),
        ("GET", f"/automations/{UNKNOWN_ID}/executions"),
        ("GET", f"/automations/{UNKNOWN_ID}/executions/{UNKNOWN_ID}"),
        ("GET", f"/automations/{UNKNOWN_ID}/stats"),
        ("POST", f"/automations/{UNKNOWN_ID}/run"),
    ]:
        # A body of the wrong shape: the token is checked first, so it is still 401.
        for headers in ({}, {"Authorization": "Bearer wrong-token"}):
            response = client.request(method, url, headers=headers, content=b"[1")
            expect_error(response, 401)


def run(
    client: TestClient, headers: Headers, automation_id: str, body: dict[str, Any], **extra: Any
) -> Any:
    return client.post(
        f"/automations/{automation_id}/run", headers=headers, json={"body": body, **extra}
    )


def test_manual_run_and_the_seed_002_history(
    client: TestClient, admin_headers: Headers, toolbox: Toolbox
) -> None:
    automation_id = create(client, admin_headers)["id"]
    payload = {
        "title": "Cannot access dashboard",
        "description": "I'm getting a 403 error when trying to access the admin dashboard.",
        "teamId": "65f8a9b2c3d4e5f6a7b8c9d0",
        "priority": 2,
        "discordUserId": "987654321098765432",
        "discordUsername": "john_doe",
    }

    accepted = ok(run(client, admin_headers, automation_id, payload), 202)
    assert accepted["matched"] is True
    waited = ok(run(client, admin_headers, automation_id, payload, wait=True), 200)
    execution = waited["execution"]

    assert execution["status"] == "complete"
    [step] = execution["steps"]
    assert step["name"] == "triage"
    assert step["status"] == "complete"
    assert step["result"] == {
        "label": "Cannot access dashboard",
        "value": {
            "description": "Discord Ticket from @john_doe (ID: 987654321098765432)\n\n"
            "I'm getting a 403 error when trying to access the admin dashboard.",
            "team": "65f8a9b2c3d4e5f6a7b8c9d0",
            "priority": 2,
        },
    }
    for field in ("started_at", "finished_at"):
        assert ISO_Z.match(execution[field])
        assert ISO_Z.match(step[field])
    assert execution["duration_ms"] == 0
    assert execution["request_id"] == waited["execution"]["request_id"]
    assert execution["trigger"]["body"] == payload

    listing = ok(client.get(f"/automations/{automation_id}/executions", headers=admin_headers))
    assert listing["total"] == 2
    assert "steps" not in listing["items"][0]
    detail = ok(
        client.get(
            f"/automations/{automation_id}/executions/{execution['id']}", headers=admin_headers
        )
    )
    assert detail == execution
    assert len(toolbox.recorded()) == 2


def test_stats_from_known_durations(
    client: TestClient, admin_headers: Headers, clock: ManualClock
) -> None:
    actions = [
        {"name": "work", "action": "advance", "params": {"ms": "{{ trigger.body.ms }}"}},
        {
            "name": "check",
            "action": "fail",
            "params": {"key": "{{ trigger.body.key }}", "times": "{{ trigger.body.fails }}"},
        },
    ]
    automation_id = create(client, admin_headers, actions=actions)["id"]
    empty = ok(client.get(f"/automations/{automation_id}/stats", headers=admin_headers))
    assert empty["total"] == 0
    assert empty["success_rate"] is None
    assert empty["p95_duration_ms"] is None

    for n, ms in enumerate([100, 200, 300, 400, 500, 600]):
        clock.advance(1)  # distinct start times, so the history orders them
        fails = 1 if ms == 600 else 0
        body = {"ms": ms, "key": f"k{n}", "fails": fails}
        ok(run(client, admin_headers, automation_id, body, wait=True))

    stats = ok(client.get(f"/automations/{automation_id}/stats", headers=admin_headers))
    assert stats["total"] == 6
    assert (stats["running"], stats["complete"], stats["error"]) == (0, 5, 1)
    assert stats["success_rate"] == pytest.approx(5 / 6)
    assert stats["average_duration_ms"] == pytest.approx(350)
    # Inclusive interpolation over 100..600: rank 0.95 * 5 = 4.75, so 500 + 0.75 * 100.
    assert stats["p95_duration_ms"] == pytest.approx(575)
    [failure] = stats["recent_failures"]
    assert failure["error"] == "step 'check' failed: failure 1 of 1"
    assert failure["failed_step"]["name"] == "check"
    assert failure["failed_step"]["attempts"] == 1
    assert failure["failed_step"]["error"] == "failure 1 of 1"

    errors = ok(
        client.get(f"/automations/{automation_id}/executions?status=error", headers=admin_headers)
    )
    assert errors["total"] == 1
    assert errors["items"][0]["id"] == failure["execution_id"]
    assert errors["items"][0]["failed_step"] == "check"
    page = ok(
        client.get(
            f"/automations/{automation_id}/executions?limit=2&offset=1", headers=admin_headers
        )
    )
    assert page["total"] == 6
    assert [item["duration_ms"] for item in page["items"]] == [500, 400]


def test_bad_listing_parameters(
    client: TestClient, admin_headers: Headers, expect_error: ErrorCheck
) -> None:
    automation_id = create(client, admin_headers)["id"]
    for query in ("status=done", "limit=0", "limit=100000", "offset=-1"):
        expect_error(
            client.get(f"/automations/{automation_id}/executions?{query}", headers=admin_headers),
            422,
        )
    expect_error(client.get("/automations?status=paused", headers=admin_headers), 422)
