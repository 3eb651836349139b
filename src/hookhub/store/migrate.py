"""Schema migrations with Alembic, run on the application's own async engine.

The migration scripts live in this package (``hookhub/store/migrations``), so an installed
hookhub can migrate without an ``alembic.ini`` in the working folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from hookhub.errors import SchemaOutdatedError
from hookhub.store.engine import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (the newest by default)."""
    await _alembic(db, command.upgrade, revision)


async def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to ``revision`` (``base`` drops every table hookhub made)."""
    await _alembic(db, command.downgrade, revision)


async def _alembic(db: Database, step: Callable[[Config, str], None], revision: str) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config, revision)

    async with db.engine.begin() as connection:
        await connection.run_sync(run)


async def current_revision(db: Database) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with db.engine.connect() as connection:
        return await connection.run_sync(read)


async def require_current(db: Database) -> None:
    """Raise :class:`SchemaOutdatedError` unless the schema is at the newest revision."""
    current, head = await current_revision(db), head_revision()
    if current != head:
        raise SchemaOutdatedError(
            f"database schema is at {current or 'nothing'}, this hookhub needs {head}: "
            "run `hookhub migrate`"
        )
