"""Seed 002 end to end on a real server: a Discord ``/ticket`` request becomes a triage ticket.

The sender does what the seed's bot does (bearer token, hex HMAC of the body); hookhub verifies
and validates it, runs the automation that creates the ticket from the seed's templates, keeps
the execution history, and the ``ticket.created`` event reaches a WebSocket subscriber and an
outgoing webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from hookhub.app import create_app
from hookhub.config import Settings
from tests.conftest import ADMIN_TOKEN
from tests.outbound.receiver import Receiver
from tests.realtime.conftest import mint
from tests.realtime.server import HubServer

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BEARER = "discord-bot-bearer-" + "d" * 24
HMAC_SECRET = "discord-bot-hmac-" + "e" * 24
#: Seed 002's schema, as its guide configures the trigger.
SCHEMA = {
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
#: Seed 002's "Create triage ticket" action, its templates as the guide writes them.
AUTOMATION = {
    "name": "Discord Ticket Integration",
    "trigger": {"endpoint": "discord-ticket"},
    "actions": [
        {
            "name": "triage",
            "action": "create_ticket",
            "params": {
                "title": "{{trigger.body.title}}",
                "description": (
                    "Discord Ticket from @{{trigger.body.discordUsername}} "
                    "(ID: {{trigger.body.discordUserId}})\n\n{{trigger.body.description}}"
                ),
                "team": "{{trigger.body.teamId}}",
                "priority": "{{trigger.body.priority}}",
            },
        }
    ],
}
#: The body of the seed's curl test, byte for byte as a sender would post it.
BODY = (
    b'{"title": "Test Ticket", "description": "This is a test ticket from Discord", '
    b'"teamId": "YOUR_TEAM_ID", "priority": 1, "discordUserId": "123456789", '
    b'"discordUsername": "testuser"}'
)
WAIT_S = 10.0


@pytest.fixture
def server(make_settings: Callable[..., Settings], receiver: Receiver) -> Iterator[HubServer]:
    overrides: dict[str, Any] = {
        "token_secret": "token-secret-" + "c" * 32,
        "outbound_allow_private": True,  # the webhook receiver is on loopback
        "outbound_poll_interval_s": 0.05,
    }
    # Settings migrate the database with asyncio.run: off the test's running loop.
    with ThreadPoolExecutor(1) as worker:
        settings = worker.submit(make_settings, **overrides).result()
    started = HubServer(create_app(settings), frame_writer=True)
    started.start()
    yield started
    started.stop()


def _seed_signature(body: bytes) -> str:
    # What the seed's `openssl dgst -sha256 -hmac SECRET | sed 's/^.* //'` prints: bare hex.
    return hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest()


async def _setup(http: httpx.AsyncClient, receiver: Receiver) -> str:
    endpoint = await http.post(
        "/endpoints",
        headers=ADMIN,
        json={
            "name": "Discord tickets",
            "slug": "discord-ticket",
            "verification": {"scheme": "hmac", "secret": HMAC_SECRET, "bearer_token": BEARER},
            "json_schema": SCHEMA,
        },
    )
    assert endpoint.status_code == 201, endpoint.text
    automation = await http.post("/automations", headers=ADMIN, json=AUTOMATION)
    assert automation.status_code == 201, automation.text
    webhook = await http.post(
        "/webhooks",
        headers=ADMIN,
        json={"name": "tickets", "url": receiver.url, "event_type": "ticket.*"},
    )
    assert webhook.status_code == 201, webhook.text
    automation_id: str = automation.json()["id"]
    return automation_id


async def _until(check: Callable[[], Any]) -> Any:
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while (found := await check()) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)
    return found


async def test_discord_ticket_request_creates_a_ticket_seen_everywhere(
    server: HubServer, receiver: Receiver
) -> None:
    async with httpx.AsyncClient(base_url=server.http, timeout=WAIT_S) as http:
        automation_id = await _setup(http, receiver)
        token = mint("web-app", ["ticket.created"])
        async with connect(f"{server.ws}?token={token}") as socket:
            assert json.loads(await socket.recv())["type"] == "connection"
            await socket.send('{"type": "subscribe", "channel": "ticket.created"}')
            assert json.loads(await socket.recv())["type"] == "subscribed"

            answer = await http.post(
                "/hooks/discord-ticket",
                content=BODY,
                headers={
                    "Authorization": f"Bearer {BEARER}",
                    "Content-Type": "application/json",
                    "X-Webhook-Signature": _seed_signature(BODY),
                },
            )
            assert answer.status_code == 200, answer.text
            reply = answer.json()
            assert reply["success"] is True
            assert reply["message"] == "Webhook processed successfully"
            assert reply["executionId"] and reply["receivedAt"].endswith("Z")

            pushed = json.loads(await asyncio.wait_for(socket.recv(), WAIT_S))

    assert pushed["type"] == "ticket.created"
    ticket = pushed["payload"]
    assert ticket["title"] == "Test Ticket"
    assert ticket["description"] == (
        "Discord Ticket from @testuser (ID: 123456789)\n\nThis is a test ticket from Discord"
    )
    assert ticket["team"] == "YOUR_TEAM_ID"
    assert ticket["priority"] == 1
    assert ticket["status"] == "open"

    async with httpx.AsyncClient(base_url=server.http, timeout=WAIT_S) as http:

        async def finished() -> dict[str, Any] | None:
            got = await http.get(
                f"/automations/{automation_id}/executions/{reply['executionId']}", headers=ADMIN
            )
            body: dict[str, Any] = got.json()
            return body if body["status"] != "running" else None

        execution = await _until(finished)
        assert execution["status"] == "complete"
        [step] = execution["steps"]
        assert step["status"] == "complete"
        assert step["duration_ms"] is not None and step["duration_ms"] >= 0
        assert step["result"]["number"] == ticket["number"]

        stored = (await http.get(f"/tickets/{ticket['number']}", headers=ADMIN)).json()
        assert stored["title"] == "Test Ticket"

        async def delivered() -> bool | None:
            return True if receiver.requests else None

        await _until(delivered)
    [delivery] = receiver.requests
    assert delivery.headers["x-webhook-event"] == "ticket.created"
    assert json.loads(delivery.body)["title"] == "Test Ticket"


async def test_a_tampered_or_unsigned_request_runs_nothing(
    server: HubServer, receiver: Receiver
) -> None:
    async with httpx.AsyncClient(base_url=server.http, timeout=WAIT_S) as http:
        automation_id = await _setup(http, receiver)
        tampered = BODY.replace(b"Test Ticket", b"Evil Ticket")
        for headers in (
            {"Authorization": f"Bearer {BEARER}", "X-Webhook-Signature": _seed_signature(BODY)},
            {"X-Webhook-Signature": _seed_signature(tampered)},
        ):
            answer = await http.post(
                "/hooks/discord-ticket",
                content=tampered,
                headers={**headers, "Content-Type": "application/json"},
            )
            assert answer.status_code == 401
            assert answer.json()["message"] == "Security validation failed"
        executions = await http.get(f"/automations/{automation_id}/executions", headers=ADMIN)
        assert executions.json()["total"] == 0
        assert (await http.get("/tickets", headers=ADMIN)).json()["total"] == 0
