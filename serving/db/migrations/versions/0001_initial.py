"""Reports, scores, routes, queue items, reviewer decisions, API keys and the append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.db.models import BigId, JSONType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _report_fk(unique: bool = False) -> sa.Column[int]:
    return sa.Column("report_pk", BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False,
                     unique=unique)


def upgrade() -> None:
    op.create_table(
        "reports", _id(),
        sa.Column("report_id", sa.String(128), nullable=False, unique=True),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("language_hint", sa.String(35)),
        sa.Column("reporter_type", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("surface", sa.String(32), nullable=False),
        sa.Column("reporter_reason", sa.String(32)),
        sa.Column("followers", sa.BigInteger),
        sa.Column("prior_strikes", sa.Integer),
        sa.Column("report_count", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("submitted_by", sa.String(32)),
    )
    op.create_index("ix_reports_received_at", "reports", ["received_at"])
    op.create_table(
        "scores", _id(), _report_fk(unique=True),
        sa.Column("model_name", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("model_tier", sa.String(16), nullable=False),
        sa.Column("tier_probs", JSONType, nullable=False),
        sa.Column("area_probs", JSONType, nullable=False),
        sa.Column("areas", JSONType, nullable=False),
        sa.Column("high_risk_threshold", sa.Float, nullable=False),
        sa.Column("area_thresholds", JSONType, nullable=False),
        sa.Column("detected_language", sa.String(16)),
        sa.Column("language_confidence", sa.Float, nullable=False),
        sa.Column("scored_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "routes", _id(), _report_fk(unique=True),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(64)),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("sla_deadline", UTCDateTime),
        sa.Column("is_grey_area", sa.Boolean, nullable=False),
        sa.Column("grey_reasons", JSONType, nullable=False),
        sa.Column("rules", JSONType, nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_routes_tier", "routes", ["tier"])
    op.create_table(
        "queue_items", _id(),
        sa.Column("report_pk", BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("due_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(32)),
        sa.Column("lease_expires_at", UTCDateTime),
        sa.Column("closed_at", UTCDateTime),
    )
    op.create_index("ix_queue_items_report_pk", "queue_items", ["report_pk"])
    op.create_index("ix_queue_items_open", "queue_items", ["queue", "status", "priority", "due_at"])
    op.create_table(
        "review_decisions", _id(),
        sa.Column("queue_item_id", BigId, sa.ForeignKey("queue_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("report_pk", BigId, sa.ForeignKey("reports.id", ondelete="CASCADE"), nullable=False),
        sa.Column("reviewer", sa.String(32), nullable=False),
        sa.Column("risk_tier", sa.String(16), nullable=False),
        sa.Column("policy_areas", JSONType, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_review_decisions_queue_item_id", "review_decisions", ["queue_item_id"])
    op.create_index("ix_review_decisions_report_pk", "review_decisions", ["report_pk"])
    op.create_table(
        "api_keys", _id(),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
    )
    op.create_table(
        "audit_log", _id(),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("details", JSONType, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_subject_id", "audit_log", ["subject_id"])
    _make_audit_append_only()


def _make_audit_append_only() -> None:
    """The audit log is append-only in the database itself, not only by convention in the code."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
        """)
        op.execute("""
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
        """)
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log
                BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
            """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    for table in ("audit_log", "api_keys", "review_decisions", "queue_items", "routes", "scores", "reports"):
        op.drop_table(table)
