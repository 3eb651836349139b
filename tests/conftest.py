"""Shared fixtures: databases (SQLite file and a fresh PostgreSQL database), apps and clients.

Real servers are named by ``HOOKHUB_TEST_POSTGRES_URL`` and ``HOOKHUB_TEST_REDIS_URL``. When one
is not answering, its tests skip with the reason, or fail when ``HOOKHUB_REQUIRE_SERVICES=1``
(as CI sets), so a green CI run means the scaled shape was really exercised.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import asyncpg
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hookhub.app import create_app
from hookhub.config import Settings
from hookhub.store.engine import Database
from hookhub.store.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "HOOKHUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("HOOKHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_SERVICES = os.environ.get("HOOKHUB_REQUIRE_SERVICES") == "1"
ADMIN_TOKEN = "test-admin-token-" + "a" * 32


def service_unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the run requires real services."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (HOOKHUB_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _postgres_dsn(url: str, database: str | None = None) -> str:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    if database is not None:
        dsn = dsn.rsplit("/", 1)[0] + "/" + database
    return dsn


async def _postgres_admin(sql: str) -> None:
    connection = await asyncpg.connect(_postgres_dsn(POSTGRES_URL), timeout=3)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"hookhub_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        service_unavailable(f"PostgreSQL at {POSTGRES_URL} is not usable: {exc}")
    try:
        yield _postgres_dsn(POSTGRES_URL, name)
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hookhub.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database on each backend."""
    database = Database(database_url)
    await upgrade(database)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        service_unavailable(f"Redis at {REDIS_URL} is not answering: {exc}")
    finally:
        client.close()
    return REDIS_URL


def migrated(url: str) -> str:
    async def run() -> None:
        database = Database(url)
        try:
            await upgrade(database)
        finally:
            await database.close()

    asyncio.run(run())
    return url


@pytest.fixture
def make_settings(sqlite_url: str) -> Callable[..., Settings]:
    """Settings for a test app: a migrated SQLite file unless ``database_url`` is given."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"admin_token": ADMIN_TOKEN, "database_url": sqlite_url}
        values.update(overrides)
        migrated(values["database_url"])
        return Settings(**values)

    return build


@pytest.fixture
def app(make_settings: Callable[..., Settings]) -> FastAPI:
    return create_app(make_settings())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
