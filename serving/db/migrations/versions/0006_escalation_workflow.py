"""The escalation workflow: appeals (DSA Art. 20), language markets, on-call paging of unclaimed items.

- ``appeals``: a complaint against a decision, with its own queue item, outcome and decision.
- ``routes.market`` and ``queue_items.market``/``language``: queues split per language market.
- ``queue_items.page_at``: when an item still unclaimed pages its queue's on-call contact.
- ``api_keys.languages``: a reviewer's languages, preferred by "claim next".

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.db.models import BigId, JSONType, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("routes", sa.Column("market", sa.String(32), nullable=True))
    op.add_column("queue_items", sa.Column("language", sa.String(16), nullable=True))
    op.add_column("queue_items", sa.Column("market", sa.String(32), nullable=True))
    op.add_column("queue_items", sa.Column("page_at", UTCDateTime, nullable=True))
    op.create_index("ix_queue_items_page_at", "queue_items", ["status", "page_at"])
    op.add_column("api_keys", sa.Column("languages", JSONType, nullable=True))
    op.create_table(
        "appeals",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("appeal_id", sa.String(128), nullable=False, unique=True),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("report_pk", BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("appellant", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("submitted_by", sa.String(32), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False, index=True),
        sa.Column("contested_decision_id", BigId, sa.ForeignKey("review_decisions.id", ondelete="CASCADE"),
                  nullable=True, index=True),
        sa.Column("contested_action", sa.String(32), nullable=False),
        sa.Column("contested_at", UTCDateTime, nullable=False),
        sa.Column("queue_item_id", BigId, sa.ForeignKey("queue_items.id", ondelete="CASCADE"), nullable=False,
                  unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("decision_id", BigId, sa.ForeignKey("review_decisions.id", ondelete="CASCADE"), nullable=True,
                  index=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
    )
    op.create_index("uq_appeals_open_report", "appeals", ["report_pk"], unique=True,
                    sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_table("appeals")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("languages")
    op.drop_index("ix_queue_items_page_at", "queue_items")
    with op.batch_alter_table("queue_items") as batch:
        batch.drop_column("page_at")
        batch.drop_column("market")
        batch.drop_column("language")
    with op.batch_alter_table("routes") as batch:
        batch.drop_column("market")
