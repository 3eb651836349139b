import pytest
from sqlalchemy import inspect

from hookhub.errors import SchemaOutdatedError, StoreError
from hookhub.store.engine import Database
from hookhub.store.migrate import (
    current_revision,
    downgrade,
    head_revision,
    require_current,
    upgrade,
)


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def test_fresh_database_is_refused_then_migrated(database_url: str) -> None:
    db = Database(database_url)
    try:
        with pytest.raises(SchemaOutdatedError, match="run `hookhub migrate`"):
            await require_current(db)
        await upgrade(db)
        assert await current_revision(db) == head_revision()
        await require_current(db)
        assert {"api_tokens", "audit_log", "events"} <= await _tables(db)
        await upgrade(db)  # a second run is a no-op
        await downgrade(db, "base")
        assert await _tables(db) <= {"alembic_version"}
    finally:
        await db.close()


async def test_unreachable_postgres_is_a_store_error() -> None:
    db = Database("postgresql://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(StoreError, match="unreachable"):
            await db.ping()
    finally:
        await db.close()


async def test_migrations_build_exactly_the_models(db: Database) -> None:
    """A model changed without a migration (or the reverse) shows up here as a difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from hookhub.store.models import Base

    async with db.engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    assert differences == []


async def test_dropped_postgres_database_is_a_store_error(postgres_url: str) -> None:
    import asyncpg

    from tests.conftest import POSTGRES_URL

    db = Database(postgres_url)
    try:
        await db.ping()
        name = postgres_url.rsplit("/", 1)[1]
        admin = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""))
        try:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        for _ in range(2):  # the first call may find the killed pooled connection
            with pytest.raises(StoreError, match="unreachable"):
                await db.ping()
    finally:
        await db.close()
