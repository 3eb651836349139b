"""Automations and their executions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(length=26)
TIMESTAMP = sa.DateTime(timezone=True)
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "automations",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger_kind", sa.String(length=16), nullable=False),
        sa.Column("trigger_value", sa.String(length=128), nullable=False),
        sa.Column("filter", DOCUMENT, nullable=True),
        sa.Column("actions", DOCUMENT, nullable=False),
        sa.Column("managed_by", sa.String(length=16), nullable=False),
        sa.Column("config_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automations")),
        sa.UniqueConstraint("config_name", name=op.f("uq_automations_config_name")),
    )
    op.create_index(
        "ix_automations_trigger", "automations", ["trigger_kind", "trigger_value", "status"]
    )
    op.create_table(
        "automation_executions",
        sa.Column("id", ID, nullable=False),
        sa.Column("automation_id", ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", DOCUMENT, nullable=False),
        sa.Column("plan", DOCUMENT, nullable=False),
        sa.Column("steps", DOCUMENT, nullable=False),
        sa.Column("trigger_key", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("failed_step", sa.String(length=64), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("owner", sa.String(length=32), nullable=True),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_executions_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_executions")),
    )
    op.create_index(
        "ix_automation_executions_listing",
        "automation_executions",
        ["automation_id", "status", "id"],
    )
    op.create_index(
        "ix_automation_executions_automation_id_id",
        "automation_executions",
        ["automation_id", "id"],
    )
    op.create_index(
        "ix_automation_executions_lease", "automation_executions", ["status", "lease_until"]
    )
    op.create_index(
        "ix_automation_executions_trigger_key",
        "automation_executions",
        ["automation_id", "trigger_key"],
        unique=True,
    )
    op.create_index(
        op.f("ix_automation_executions_request_id"), "automation_executions", ["request_id"]
    )


def downgrade() -> None:
    op.drop_table("automation_executions")
    op.drop_table("automations")
