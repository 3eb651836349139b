"""Fixtures for the signal webhook: an app on either database, codes, and user connections."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.realtime import auth
from tests.conftest import ADMIN_TOKEN
from tests.http.conftest import json_logs  # noqa: F401 (a fixture, used by name)

TOKEN_SECRET = "signal-token-secret-" + "d" * 32
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def mint(user: str | None = None, channels: list[str] | None = None) -> str:
    """A hub connection token valid now."""
    token, _ = auth.mint(
        TOKEN_SECRET, user=user, channels=channels or [], now=datetime.now(UTC), ttl_s=3600
    )
    return token


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """``make_client(**settings)``: a started app's in-process client (SQLite unless told)."""
    with ExitStack() as stack:

        def build(**overrides: Any) -> TestClient:
            values: dict[str, Any] = {"token_secret": TOKEN_SECRET, "dispatcher_enabled": False}
            values.update(overrides)
            return stack.enter_context(TestClient(create_app(make_settings(**values))))

        yield build


@pytest.fixture
def signal_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def both_client(make_client: Callable[..., TestClient], database_url: str) -> TestClient:
    """The app on a SQLite file, then on a fresh PostgreSQL database."""
    return make_client(database_url=database_url)


def code_of(client: TestClient, owner: str) -> str:
    answer = client.post("/signals/codes", json={"owner": owner}, headers=ADMIN)
    assert answer.status_code in (200, 201), answer.text
    code: str = answer.json()["code"]
    return code
