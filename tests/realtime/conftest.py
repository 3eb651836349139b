"""Fixtures for the hub: settings with both secrets, token minting, and in-process clients."""

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

INTERNAL_SECRET = "internal-secret-" + "b" * 32
TOKEN_SECRET = "token-secret-" + "c" * 32


def mint(user: str | None = None, channels: list[str] | None = None, ttl_s: float = 3600) -> str:
    """A connection token valid now."""
    token, _ = auth.mint(
        TOKEN_SECRET, user=user, channels=channels or [], now=datetime.now(UTC), ttl_s=ttl_s
    )
    return token


@pytest.fixture
def hub_settings(make_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "internal_secret": INTERNAL_SECRET,
            "token_secret": TOKEN_SECRET,
            "dispatcher_enabled": False,
        }
        values.update(overrides)
        return make_settings(**values)

    return build


@pytest.fixture
def make_hub_client(hub_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """``make_hub_client(**settings)``: a started app's in-process client."""
    with ExitStack() as stack:

        def build(**overrides: Any) -> TestClient:
            return stack.enter_context(TestClient(create_app(hub_settings(**overrides))))

        yield build


@pytest.fixture
def hub_client(make_hub_client: Callable[..., TestClient]) -> TestClient:
    return make_hub_client()
