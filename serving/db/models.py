"""Tables of the service database.

One row per report (``report_id`` unique: the idempotency key), its score and route (with the model and
routing-policy versions that made them), queue items for the people who act on it, reviewer decisions,
API keys (hashed) and an append-only audit log (triggers refuse UPDATE and DELETE, see the migration).
Report text is sensitive: it lives in ``reports.text`` only, never in the audit log or the logs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

JSONType = JSON().with_variant(JSONB(), "postgresql")
#: Integer primary keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no timezone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONType, list[Any]: JSONType, datetime: UTCDateTime,
    }


class ReportRow(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_id: Mapped[str] = mapped_column(String(128), unique=True)
    #: sha256 of the report as sent (canonical JSON): the same report_id with other content is a conflict.
    payload_sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    language_hint: Mapped[str | None] = mapped_column(String(35))
    reporter_type: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    surface: Mapped[str] = mapped_column(String(32))
    reporter_reason: Mapped[str | None] = mapped_column(String(32))
    followers: Mapped[int | None] = mapped_column(BigInteger)
    prior_strikes: Mapped[int | None] = mapped_column(Integer)
    report_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(index=True)
    #: The API key that sent it (its public id, never the secret).
    submitted_by: Mapped[str | None] = mapped_column(String(32))

    score: Mapped[ScoreRow] = relationship(back_populates="report", uselist=False)
    route: Mapped[RouteRow] = relationship(back_populates="report", uselist=False)


class ScoreRow(Base):
    __tablename__ = "scores"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_pk: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), unique=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(128))
    model_tier: Mapped[str] = mapped_column(String(16))
    tier_probs: Mapped[dict[str, Any]]
    area_probs: Mapped[dict[str, Any]]
    areas: Mapped[list[Any]]
    high_risk_threshold: Mapped[float] = mapped_column(Float)
    area_thresholds: Mapped[dict[str, Any]]
    detected_language: Mapped[str | None] = mapped_column(String(16))
    language_confidence: Mapped[float] = mapped_column(Float)
    scored_at: Mapped[datetime]

    report: Mapped[ReportRow] = relationship(back_populates="score")


class RouteRow(Base):
    __tablename__ = "routes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_pk: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), unique=True)
    policy_version: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16), index=True)
    language: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer)
    sla_deadline: Mapped[datetime | None]
    is_grey_area: Mapped[bool] = mapped_column(Boolean)
    #: [{"name": ..., "reason": ...}] for the grey-area rules, and for every rule that fired.
    grey_reasons: Mapped[list[Any]]
    rules: Mapped[list[Any]]
    decided_at: Mapped[datetime]
    #: The language market of the report, for a queue the routing policy splits by market (None otherwise).
    market: Mapped[str | None] = mapped_column(String(32), default=None)

    report: Mapped[ReportRow] = relationship(back_populates="route")


class QueueItemRow(Base):
    __tablename__ = "queue_items"
    __table_args__ = (Index("ix_queue_items_open", "queue", "status", "priority", "due_at"),
                      Index("ix_queue_items_page_at", "status", "page_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_pk: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    queue: Mapped[str] = mapped_column(String(64))
    #: "primary" (the routed item), "qa" (a low-risk QA sample), "second_review" (blind QA review) or "appeal"
    #: (a complaint against a decision, ``appeals``).
    kind: Mapped[str] = mapped_column(String(16), default="primary")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, claimed, done
    priority: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    #: The key id that may not claim it: the first reviewer of a blind second review, the reviewer whose decision
    #: an appeal contests.
    blind_to: Mapped[str | None] = mapped_column(String(32))
    #: The report's language (the route's) and its language market, where the queue is split by market.
    language: Mapped[str | None] = mapped_column(String(16), default=None)
    market: Mapped[str | None] = mapped_column(String(32), default=None)
    #: When the item, still unclaimed, pages its queue's on-call contact (a share of its SLA; None: never).
    page_at: Mapped[datetime | None] = mapped_column(default=None)


class ReviewDecisionRow(Base):
    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    queue_item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id", ondelete="CASCADE"), index=True)
    report_pk: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(32))
    risk_tier: Mapped[str] = mapped_column(String(16))
    policy_areas: Mapped[list[Any]]
    action: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The public part of the key (``trg_<key_id>_<secret>``): how logs and audits name it.
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    #: sha256 of the secret part (the secret is 256 random bits, so a fast hash is safe; never stored).
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    #: A reviewer's languages (ISO 639-1 codes): "claim next" gives them items in these languages first.
    languages: Mapped[list[Any] | None] = mapped_column(default=None)


class AppealRow(Base):
    """A complaint against a decision on a report (EU DSA Art. 20, internal complaint handling), from the
    reporter's side or the affected user's. It opens a queue item of kind ``appeal`` that the reviewer of the
    contested decision may not claim; the appeal's decision is a review decision like any other, and the outcome
    compares its action with the contested one (``serving.appeals``)."""

    __tablename__ = "appeals"
    #: One open appeal per report, also between concurrent requests.
    __table_args__ = (Index("uq_appeals_open_report", "report_pk", unique=True,
                            sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The client's id for the appeal (unique): a retry with the same content is answered from the store.
    appeal_id: Mapped[str] = mapped_column(String(128), unique=True)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    report_pk: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    #: ``reporter`` (who reported the content) or ``affected_user`` (whose content or account it is).
    appellant: Mapped[str] = mapped_column(String(16))
    #: The appellant's reasons (sensitive, like report text; redacted by retention).
    reason: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(index=True)
    #: The contested decision: a reviewer's (``contested_decision_id``) or the routing's automated one (None).
    contested_decision_id: Mapped[int | None] = mapped_column(ForeignKey("review_decisions.id", ondelete="CASCADE"),
                                                              index=True)
    #: The contested action: a review action, or ``auto_close`` for an automated decision.
    contested_action: Mapped[str] = mapped_column(String(32))
    #: When the contested decision was made.
    contested_at: Mapped[datetime]
    queue_item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # open, decided
    #: ``upheld`` or ``reversed`` once decided.
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("review_decisions.id", ondelete="CASCADE"),
                                                    default=None, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditRow(Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))  # an API key id, or "system"
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(128), index=True)
    #: Ids, versions, labels and reasons only: never report text or secrets.
    details: Mapped[dict[str, Any]]


class WebhookEventRow(Base):
    """The webhook outbox: an event is written in the transaction of the change it reports, and a delivery
    worker (serving/webhooks/) posts it later, so no event is lost to a crash or a receiver being down.

    One event per (type, subject): a report is reported high-risk once, a queue item's SLA breach once, whatever
    the number of server processes. ``claimed_by``/``claimed_until`` are the lease of the worker delivering it.
    The payload holds ids, labels and versions, never report text (added at delivery time when configured)."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("event_type", "subject", name="uq_webhook_events_type_subject"),
        Index("ix_webhook_events_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: Public id, sent as Triage-Event-Id: receivers deduplicate on it.
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    #: The report_id (report.high_risk) or the queue item id (queue_item.sla_breached).
    subject: Mapped[str] = mapped_column(String(160))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    #: Why the last attempt failed ("HTTP 500", "ConnectError"): no response body, no URL, no secret.
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]


class IdempotentActionRow(Base):
    """What a review action sent with an ``Idempotency-Key`` did: a retry of the same request by the same key
    is answered from it instead of acting twice (``serving.idempotency``). It names the item or decision the
    action produced, not the answer's body: the report text stays in ``reports`` only."""

    __tablename__ = "idempotent_actions"
    __table_args__ = (UniqueConstraint("principal", "idempotency_key", name="uq_idempotent_actions_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The API key id that sent the request: keys are scoped to it.
    principal: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    #: sha256 of the method, the route and its path parameters, and the body: a key reused for another
    #: request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    #: ``item`` (a queue item id) or ``decision`` (a review decision id).
    result_kind: Mapped[str] = mapped_column(String(16))
    result_id: Mapped[int] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(index=True)


class RateLimitBucketRow(Base):
    """One API key's rate limit token bucket, shared by every server process on the database
    (``TRIAGE_RATE_LIMIT_STORE=database``, ``serving.ratelimit.DatabaseLimiter``). Each request updates its key's
    row in one statement, the refill computed from the database's clock, so that processes on hosts with
    different clocks share one budget. A row holds no secret: the key's public id, a number, a time. UNLOGGED on
    PostgreSQL (see migration 0005): emptied by a crash of the database server, which only refills the buckets."""

    __tablename__ = "rate_limit_buckets"

    #: The API key's public id.
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: Tokens left after the last request (at most the burst).
    tokens: Mapped[float] = mapped_column(Float)
    #: Whether the last request was admitted (the statement returns it: it cannot return the row before it).
    admitted: Mapped[bool] = mapped_column(Boolean)
    #: When the last request came (the database's clock).
    updated_at: Mapped[datetime]
