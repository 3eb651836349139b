"""Alembic environment: runs on the connection that :mod:`hookhub.store.migrate` hands in."""

from __future__ import annotations

from alembic import context

from hookhub.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `hookhub migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
