"""Idempotent review actions: what a claim, release, reassign or decide sent with an Idempotency-Key did (the
item or decision it produced), so that a retry is answered from it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.db.models import BigId, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotent_actions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("principal", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("result_kind", sa.String(16), nullable=False),
        sa.Column("result_id", BigId, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("principal", "idempotency_key", name="uq_idempotent_actions_key"),
    )
    op.create_index("ix_idempotent_actions_created_at", "idempotent_actions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotent_actions_created_at", table_name="idempotent_actions")
    op.drop_table("idempotent_actions")
