"""A fresh PostgreSQL database per benchmark run, dropped afterwards."""

from __future__ import annotations

import os
import secrets

import asyncpg

POSTGRES_URL = os.environ.get(
    "HOOKHUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CONNECT_TIMEOUT_S = 3


async def create_database() -> str | None:
    """The URL of a new, empty database; ``None`` when PostgreSQL is not reachable."""
    name = f"hookhub_bench_{secrets.token_hex(4)}"
    try:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=CONNECT_TIMEOUT_S)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


async def drop_database(url: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL, timeout=CONNECT_TIMEOUT_S)
    try:
        name = url.rsplit("/", 1)[1]
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
