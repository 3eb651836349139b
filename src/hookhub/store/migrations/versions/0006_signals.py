"""Signal codes of the /xc webhook.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.String(length=26)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signal_codes",
        sa.Column("id", ID, nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_codes")),
        sa.UniqueConstraint("owner", name=op.f("uq_signal_codes_owner")),
        sa.UniqueConstraint("code", name=op.f("uq_signal_codes_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_signal_codes_code_hash")),
    )


def downgrade() -> None:
    op.drop_table("signal_codes")
