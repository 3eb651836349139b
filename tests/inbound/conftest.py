"""Fixtures for incoming webhooks: a real app whose automations are a recording stand-in.

The automation part is a neighbour: the receiver's contract with it is two calls,
``plan_endpoint(endpoint_id=, trigger=, request_id=)`` before the request is stored and
``launch(planned)`` once it is (not for a duplicate); replay calls ``trigger_endpoint``, both in
one. ``Automations`` records what was launched or triggered and answers an execution id, so
tests assert exactly what was handed over, and that nothing was for refused, duplicate and
over-limit requests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hookhub.app import create_app
from hookhub.automations.executor import PlannedRuns
from hookhub.automations.models import ActionSpec
from hookhub.automations.repository import NewExecution, prepare
from hookhub.bus import Bus
from hookhub.config import Settings
from hookhub.services import Services
from tests.http import conftest as http_fixtures

expect_error = http_fixtures.expect_error

Headers = dict[str, str]
BEARER = "seed-bearer-token"
HMAC_SECRET = "seed-hmac-secret"
#: Seed 002's schema, as its guide configures it.
SEED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "description", "teamId"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "teamId": {"type": "string"},
        "priority": {"type": "number", "minimum": 0, "maximum": 3},
        "discordUserId": {"type": "string"},
        "discordUsername": {"type": "string"},
    },
}
SEED_BODY: dict[str, Any] = {
    "title": "Test Ticket",
    "description": "This is a test ticket from Discord",
    "teamId": "YOUR_TEAM_ID",
    "priority": 1,
    "discordUserId": "123456789",
    "discordUsername": "testuser",
}


class FakeClock:
    """Stands still until moved; near the real time, as senders' timestamps are."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def orphan_row(request_id: str | None) -> dict[str, Any]:
    """An execution row whose automation no one has."""
    now = datetime.now(UTC)
    item = NewExecution(
        automation_id="no-such-automation",
        trigger={},
        plan=[ActionSpec(name="ping", action="ping")],
        request_id=request_id,
        depth=0,
        started_at=now,
    )
    row, _record = prepare(item, owner="test", lease_until=now)
    return row


@dataclass
class Automations:
    """Records launched runs and ``trigger_endpoint`` calls; answers ``exec-1``, ``exec-2``, ...
    in the order they run (or raises when planning)."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    fail_with: Exception | None = None
    answer_none: bool = False
    #: Plan an execution row of an automation that does not exist, which the store refuses.
    plan_orphans: bool = False
    #: What each planned execution id was planned for, until launched.
    planned: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def start(self, bus: Bus) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def plan_endpoint(
        self, *, endpoint_id: str, trigger: dict[str, Any], request_id: str | None
    ) -> PlannedRuns:
        if self.fail_with is not None:
            raise self.fail_with
        if self.answer_none:
            return PlannedRuns(None)
        execution_id = f"exec-{len(self.calls) + 1}"
        self.planned[execution_id] = {
            "endpoint_id": endpoint_id,
            "trigger": trigger,
            "request_id": request_id,
        }
        if self.plan_orphans:
            return PlannedRuns(execution_id, rows=[orphan_row(request_id)])
        return PlannedRuns(execution_id)

    def launch(self, planned: PlannedRuns) -> None:
        if planned.execution_id is not None:
            self.calls.append(self.planned.pop(planned.execution_id))

    async def trigger_endpoint(
        self, *, endpoint_id: str, trigger: dict[str, Any], request_id: str | None
    ) -> str | None:
        planned = await self.plan_endpoint(
            endpoint_id=endpoint_id, trigger=trigger, request_id=request_id
        )
        self.launch(planned)
        return planned.execution_id


@dataclass
class Api:
    client: TestClient
    services: Services
    automations: Automations
    clock: FakeClock
    admin: Headers

    def create(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "Discord tickets", "slug": "discord-ticket", **fields}
        response = self.client.post("/endpoints", headers=self.admin, json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def history(self, endpoint_id: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(
            f"/endpoints/{endpoint_id}/requests", headers=self.admin, params=params
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


def sign(body: bytes, secret: str = HMAC_SECRET) -> str:
    """Seed 002's signature: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def seed_headers(body: bytes, **extra: str) -> Headers:
    """The seed's curl request: bearer token, hex HMAC, JSON."""
    return {
        "Authorization": f"Bearer {BEARER}",
        "Content-Type": "application/json",
        "X-Webhook-Signature": sign(body),
        **extra,
    }


#: The socket peer requests come from (TestClient's default is not an address).
DEFAULT_PEER = ("203.0.113.7", 50000)
SEED_VERIFICATION = {"scheme": "hmac", "secret": HMAC_SECRET, "bearer_token": BEARER}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_api(
    make_settings: Callable[..., Settings], clock: FakeClock, admin_headers: Headers
) -> Iterator[Callable[..., Api]]:
    """``make_api(peer=, real_automations=, **settings)``: a started app with recorded
    automations, or the real ones (stopped after)."""
    with ExitStack() as stack:

        def build(
            *,
            peer: tuple[str, int] = DEFAULT_PEER,
            real_automations: bool = False,
            **overrides: Any,
        ) -> Api:
            app = create_app(make_settings(**overrides), clock=clock)
            services: Services = app.state.services
            automations = Automations()
            if not real_automations:
                services.automations = automations  # type: ignore[assignment]
            client = stack.enter_context(TestClient(app, client=peer))
            return Api(client, services, automations, clock, admin_headers)

        yield build


@pytest.fixture
def api(database_url: str, make_api: Callable[..., Api]) -> Api:
    """An app on each database (SQLite and PostgreSQL).

    ``database_url`` comes first so it is torn down last: the apps stop before their
    PostgreSQL database is dropped.
    """
    return make_api(database_url=database_url)


@pytest.fixture
def lite_api(make_api: Callable[..., Api]) -> Api:
    """An app on SQLite only, for what does not depend on the database."""
    return make_api()
