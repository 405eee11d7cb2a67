"""The outbox: webhook events as rows of ``webhook_events``, recorded, claimed and settled.

An event is recorded in the same transaction as the change it reports (``enqueue_for_route``), so the event
exists if and only if the report does; SLA breaches and items unclaimed past their paging time are recorded by
sweeps (``sweep_sla_breaches``, ``sweep_unclaimed``), once each whatever the number of processes sweeping (the
unique (type, subject) constraint).

A worker claims due events under a lease (``claim_due``): on PostgreSQL the candidates are selected ``FOR UPDATE
SKIP LOCKED``, and on every backend the claim is one UPDATE conditioned on the event being unclaimed, so each
event is in the hands of one process at a time. The outcome is written only while the claim is still ours
(``record_outcome``): delivered, retried later with exponential backoff and jitter, or failed after the last
attempt (``requeue`` makes it pending again).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, String, and_, event, exists, func, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from model.taxonomy import RiskTier
from serving.db.models import QueueItemRow, ReportRow, RouteRow, ScoreRow, WebhookEventRow, utcnow
from serving.metrics import Metrics
from serving.oncall import Rota, on_call_for
from serving.queues import CLAIMED, OPEN
from serving.routing import Route
from serving.webhooks.events import (
    DELIVERED,
    FAILED,
    HIGH_RISK,
    PENDING,
    SLA_BREACHED,
    UNCLAIMED,
    event_payload,
    iso,
    new_event_id,
)

#: Events one process claims at a time; they are posted concurrently.
BATCH_SIZE = 10

#: The longest wait between two attempts, whatever the backoff says.
MAX_RETRY_DELAY_S = 3600.0

#: Queue items turned into breach (or paging) events per sweep (a backlog is worked off over several sweeps).
SWEEP_LIMIT = 500

_ENQUEUED = "triage.webhooks.enqueued"


def enqueue_for_route(session: Session, row: ReportRow, decided: Route, metrics: Metrics) -> bool:
    """Record ``report.high_risk`` for a report whose route tier is high (whatever the action), in the
    transaction that stores the report. True when an event was added."""
    if decided.tier is not RiskTier.HIGH:
        return False
    event_id, score = new_event_id(), row.score
    payload = event_payload(event_id, HIGH_RISK, row.received_at, row.report_id, decided.tier.value, decided.queue,
                       decided.priority, decided.sla_deadline, score.areas, score.model_name, score.model_version,
                       action=decided.action.value)
    now = utcnow()
    session.add(WebhookEventRow(event_id=event_id, event_type=HIGH_RISK, subject=row.report_id, payload=payload,
                                created_at=now, status=PENDING, attempts=0, next_attempt_at=now))
    _count_on_commit(session, metrics, HIGH_RISK)
    return True


def _count_on_commit(session: Session, metrics: Metrics, event_type: str) -> None:
    """Count the event once its transaction commits (a rolled-back report recorded no event)."""
    if _ENQUEUED not in session.info:
        session.info[_ENQUEUED] = []

        @event.listens_for(session, "after_commit")
        def _committed(committed: Session) -> None:
            for kind in committed.info.get(_ENQUEUED, []):
                metrics.webhooks_enqueued.labels(kind).inc()
            committed.info[_ENQUEUED] = []

        @event.listens_for(session, "after_rollback")
        def _rolled_back(rolled_back: Session) -> None:
            rolled_back.info[_ENQUEUED] = []

    session.info[_ENQUEUED].append(event_type)


def _insert_once(session: Session, values: dict[str, Any]) -> bool:
    """INSERT the event unless one of its (type, subject) exists; True when this call added it. Another process
    inserting the same event at the same time makes this one a no-op, not an error.

    Added or not is read from RETURNING, not from the row count: on PostgreSQL the ORM runs the INSERT with a
    RETURNING of its own and psycopg then reports a row count of -1."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(WebhookEventRow).values(**values).on_conflict_do_nothing(
        index_elements=["event_type", "subject"]).returning(WebhookEventRow.id)
    return session.execute(statement).first() is not None


def _items_without_event(session: Session, event_type: str, oldest_first: Any, limit: int,
                         *conditions: Any) -> Sequence[Any]:
    """Up to ``limit`` queue items matching ``conditions`` that have no ``event_type`` event yet, ``oldest_first``
    (then by id), each with what its event names: the report_id, the route's tier, the score's areas and model."""
    already = exists().where(WebhookEventRow.event_type == event_type,
                             WebhookEventRow.subject == sql_cast(QueueItemRow.id, String))
    return session.execute(
        select(QueueItemRow, ReportRow.report_id, RouteRow.tier, ScoreRow.areas, ScoreRow.model_name,
               ScoreRow.model_version)
        .join(ReportRow, ReportRow.id == QueueItemRow.report_pk)
        .join(RouteRow, RouteRow.report_pk == ReportRow.id)
        .join(ScoreRow, ScoreRow.report_pk == ReportRow.id)
        .where(*conditions, ~already)
        .order_by(oldest_first, QueueItemRow.id).limit(limit)
    ).all()


def sweep_sla_breaches(session: Session, metrics: Metrics, now: datetime | None = None,
                       limit: int = SWEEP_LIMIT) -> int:
    """Record ``queue_item.sla_breached`` for every undecided queue item past its deadline that has none yet;
    returns how many this call recorded. Safe to run from many processes at once."""
    now = now or utcnow()
    rows = _items_without_event(session, SLA_BREACHED, QueueItemRow.due_at, limit, QueueItemRow.status != "done",
                                QueueItemRow.due_at.is_not(None), QueueItemRow.due_at < now)
    added = 0
    for item, report_id, tier, areas, model_name, model_version in rows:
        assert item.due_at is not None
        event_id = new_event_id()
        payload = event_payload(event_id, SLA_BREACHED, item.due_at, report_id, tier, item.queue, item.priority,
                           item.due_at, areas, model_name, model_version, queue_item_id=item.id,
                           queue_item_kind=item.kind, queue_item_status=item.status)
        added += _insert_once(session, {
            "event_id": event_id, "event_type": SLA_BREACHED, "subject": str(item.id), "payload": payload,
            "created_at": now, "status": PENDING, "attempts": 0, "next_attempt_at": now})
    return added


def sla_elapsed(created_at: datetime, due_at: datetime | None, at: datetime) -> float | None:
    """The share of an item's SLA gone by at ``at`` (0 when created, 1 at its deadline, above 1 after it)."""
    if due_at is None or due_at <= created_at:
        return None
    return round((at - created_at) / (due_at - created_at), 3)


def sweep_unclaimed(session: Session, metrics: Metrics, rotas: Mapping[str, Rota], now: datetime | None = None,
                    limit: int = SWEEP_LIMIT) -> int:
    """Record ``queue_item.unclaimed`` for every item still unclaimed at its paging time (``page_at``, set for the
    queues in ``on_call.queues``) that has none yet; returns how many this call recorded. Safe to run from many
    processes at once.

    Unclaimed means nobody holds it: open (released items included), or claimed under a lease that has run out
    (anyone may claim it then). One event per item, ever: an item released after it paged does not page again.
    The payload names the contact on call at ``page_at`` per the queue's rota (``on_call``; null without a rota)
    and, like every event, never the report text."""
    now = now or utcnow()
    unclaimed = or_(QueueItemRow.status == OPEN,
                    and_(QueueItemRow.status == CLAIMED, QueueItemRow.lease_expires_at < now))
    rows = _items_without_event(session, UNCLAIMED, QueueItemRow.page_at, limit, QueueItemRow.page_at.is_not(None),
                                QueueItemRow.page_at <= now, unclaimed)
    added = 0
    for item, report_id, tier, areas, model_name, model_version in rows:
        assert item.page_at is not None
        event_id = new_event_id()
        duty = on_call_for(rotas, item.queue, item.page_at)
        payload = event_payload(event_id, UNCLAIMED, item.page_at, report_id, tier, item.queue, item.priority,
                           item.due_at, areas, model_name, model_version, queue_item_id=item.id,
                           queue_item_kind=item.kind, queue_item_status=item.status, market=item.market,
                           language=item.language, page_at=iso(item.page_at), due_at=iso(item.due_at),
                           sla_elapsed=sla_elapsed(item.created_at, item.due_at, now),
                           on_call=duty.as_payload() if duty is not None else None)
        added += _insert_once(session, {
            "event_id": event_id, "event_type": UNCLAIMED, "subject": str(item.id), "payload": payload,
            "created_at": now, "status": PENDING, "attempts": 0, "next_attempt_at": now})
    return added


def outbox_counts(session: Session) -> dict[str, int]:
    """Events waiting for delivery and events given up on."""
    rows = session.execute(select(WebhookEventRow.status, func.count())
                           .where(WebhookEventRow.status.in_([PENDING, FAILED])).group_by(WebhookEventRow.status))
    counts = {PENDING: 0, FAILED: 0}
    counts.update({status: int(n) for status, n in rows})
    return counts


@dataclass(frozen=True, slots=True)
class Claimed:
    """One event in a worker's hands; ``token`` names the claim (the outcome is written only under it)."""

    id: int
    event_id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int
    token: str
    text: str | None = None


def _claimable(now: datetime) -> Any:
    return and_(WebhookEventRow.status == PENDING, WebhookEventRow.next_attempt_at <= now,
                or_(WebhookEventRow.claimed_until.is_(None), WebhookEventRow.claimed_until < now))


def claim_due(session: Session, token: str, lease: timedelta, now: datetime | None = None,
              limit: int = BATCH_SIZE, include_text: bool = False) -> list[Claimed]:
    """Claim up to ``limit`` due events for ``token`` until ``now + lease``, oldest due first.

    On PostgreSQL the candidates are selected ``FOR UPDATE SKIP LOCKED`` (rows another claimer holds are passed
    over, not waited for, and stay locked until this transaction ends), then marked. Not in one statement: as
    an ``IN (subquery)`` of the UPDATE, PostgreSQL may run the subquery again per row and claim more than
    ``limit``. On SQLite, one UPDATE with the candidates as its subquery: SQLite runs one writer at a time, so
    the statement is atomic. Either way the UPDATE repeats the claimable test, so a row is never taken twice."""
    now = now or utcnow()
    candidates = (select(WebhookEventRow.id).where(_claimable(now))
                  .order_by(WebhookEventRow.next_attempt_at, WebhookEventRow.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(candidates.with_for_update(skip_locked=True)))
        if not ids:
            return []
        chosen = WebhookEventRow.id.in_(ids)
    else:
        chosen = WebhookEventRow.id.in_(candidates.scalar_subquery())
    session.execute(
        update(WebhookEventRow).where(chosen, _claimable(now))
        .values(claimed_by=token, claimed_until=now + lease).execution_options(synchronize_session=False))
    rows = session.scalars(select(WebhookEventRow).where(WebhookEventRow.claimed_by == token)
                           .order_by(WebhookEventRow.next_attempt_at, WebhookEventRow.id)).all()
    texts: dict[str, str] = {}
    if include_text and rows:
        ids = [r.payload["report_id"] for r in rows]
        texts = {rid: text for rid, text in session.execute(
            select(ReportRow.report_id, ReportRow.text).where(ReportRow.report_id.in_(ids)))}
    return [Claimed(r.id, r.event_id, r.event_type, dict(r.payload), r.attempts, token,
                    texts.get(r.payload["report_id"])) for r in rows]


def retry_delay(attempts: int, base_s: float) -> float:
    """Seconds before attempt ``attempts + 1``: base x 2^(attempts - 1), at most an hour, then jittered down by
    up to half, so receivers coming back up are not hit by every process at once."""
    delay: float = min(MAX_RETRY_DELAY_S, base_s * 2.0 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Outcome:
    delivered: bool
    error: str | None = None


def record_outcome(session: Session, claimed: Claimed, outcome: Outcome, max_attempts: int, base_s: float,
                   now: datetime | None = None) -> str | None:
    """Write what happened to the event while the claim is still ours: its new status, or None when another
    process took the event over after our lease ran out (it will deliver it; the receiver deduplicates)."""
    now = now or utcnow()
    attempts = claimed.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "claimed_by": None, "claimed_until": None}
    if outcome.delivered:
        status = DELIVERED
        values.update(status=DELIVERED, delivered_at=now)
    else:
        status = FAILED if attempts >= max_attempts else PENDING
        values.update(status=status, last_error=(outcome.error or "error")[:200],
                      next_attempt_at=now + timedelta(seconds=retry_delay(attempts, base_s)))
    result = session.execute(
        update(WebhookEventRow).where(WebhookEventRow.id == claimed.id, WebhookEventRow.claimed_by == claimed.token)
        .values(**values).execution_options(synchronize_session=False))
    return status if cast("CursorResult[Any]", result).rowcount == 1 else None


def release_claims(session: Session, worker_id: str) -> int:
    """Give back the undelivered events a stopping worker holds, so another process (or this one, restarted)
    delivers them at once instead of after the lease."""
    result = session.execute(
        update(WebhookEventRow)
        .where(WebhookEventRow.claimed_by.startswith(f"{worker_id}/", autoescape=True),
               WebhookEventRow.status == PENDING)
        .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False))
    return cast("CursorResult[Any]", result).rowcount


def requeue(session: Session, event_id: str, now: datetime | None = None) -> WebhookEventRow | None:
    """Make a failed event pending again with a fresh set of attempts; None when it is not failed."""
    now = now or utcnow()
    result = session.execute(
        update(WebhookEventRow).where(WebhookEventRow.event_id == event_id, WebhookEventRow.status == FAILED)
        .values(status=PENDING, attempts=0, next_attempt_at=now, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False))
    if cast("CursorResult[Any]", result).rowcount != 1:
        return None
    return session.scalars(select(WebhookEventRow).where(WebhookEventRow.event_id == event_id)
                           .execution_options(populate_existing=True)).one()
