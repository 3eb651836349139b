"""Incoming endpoints, their request history and dedupe keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(length=26)
TIMESTAMP = sa.DateTime(timezone=True)
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "inbound_endpoints",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("methods", DOCUMENT, nullable=False),
        sa.Column("content_types", DOCUMENT, nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=True),
        sa.Column("secret", sa.String(length=255), nullable=True),
        sa.Column("bearer_token", sa.String(length=255), nullable=True),
        sa.Column("replay_protection", sa.Boolean(), nullable=False),
        sa.Column("tolerance_s", sa.Float(), nullable=False),
        sa.Column("json_schema", DOCUMENT, nullable=True),
        sa.Column("rate_limit", sa.String(length=64), nullable=True),
        sa.Column("dedupe_enabled", sa.Boolean(), nullable=False),
        sa.Column("dedupe_window_s", sa.Float(), nullable=False),
        sa.Column("dedupe_id_path", sa.String(length=200), nullable=True),
        sa.Column("max_body_bytes", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("managed_by", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_endpoints")),
        sa.UniqueConstraint("slug", name=op.f("uq_inbound_endpoints_slug")),
    )
    op.create_table(
        "inbound_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("headers", DOCUMENT, nullable=False),
        sa.Column("query", DOCUMENT, nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("body_bytes", sa.Integer(), nullable=False),
        sa.Column("body_truncated", sa.Boolean(), nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=True),
        sa.Column("execution_id", ID, nullable=True),
        sa.Column("trigger", DOCUMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["inbound_endpoints.id"],
            name=op.f("fk_inbound_requests_endpoint_id_inbound_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_requests")),
    )
    op.create_index("ix_inbound_requests_endpoint_id_id", "inbound_requests", ["endpoint_id", "id"])
    op.create_index(
        "ix_inbound_requests_endpoint_id_verdict_id",
        "inbound_requests",
        ["endpoint_id", "verdict", "id"],
    )
    op.create_table(
        "inbound_dedupe_keys",
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("delivery_id", sa.String(length=255), nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["inbound_endpoints.id"],
            name=op.f("fk_inbound_dedupe_keys_endpoint_id_inbound_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("endpoint_id", "delivery_id", name=op.f("pk_inbound_dedupe_keys")),
    )
    op.create_index(
        op.f("ix_inbound_dedupe_keys_expires_at"), "inbound_dedupe_keys", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_table("inbound_dedupe_keys")
    op.drop_table("inbound_requests")
    op.drop_table("inbound_endpoints")
