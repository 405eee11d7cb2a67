"""Review queues: claiming items under a lease, releasing, reassigning, deciding, and blind second reviews.

Claims are exclusive on every backend: the winning claim is an UPDATE conditioned on the item still being
claimable, so of two reviewers racing for one item exactly one changes the row; the loser moves on to the
next item. On PostgreSQL the candidate is also selected ``FOR UPDATE SKIP LOCKED``, so concurrent
claimers do not even wait on each other. A lease expires: an item whose reviewer went away becomes
claimable again. Every claim, release, reassignment, view and decision is written to the audit log in
the same transaction as the change it describes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from model.schema import ReviewDecision
from serving import audit
from serving.auth import Principal, Role
from serving.db.models import ApiKeyRow, QueueItemRow, ReportRow, ReviewDecisionRow, ScoreRow, utcnow
from serving.policy import RoutingPolicy

OPEN, CLAIMED, DONE = "open", "claimed", "done"
PRIMARY, QA, SECOND_REVIEW, APPEAL = "primary", "qa", "second_review", "appeal"


class QueueError(Exception):
    """A queue operation that cannot be done; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """One queue's work, or one language market's share of it (``market`` None: not split by market)."""

    queue: str
    market: str | None
    open: int
    claimed: int
    overdue: int
    oldest_open_at: datetime | None
    next_due_at: datetime | None


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    return or_(QueueItemRow.status == OPEN,
               and_(QueueItemRow.status == CLAIMED, QueueItemRow.lease_expires_at < now))


def summaries(session: Session, now: datetime | None = None) -> list[QueueSummary]:
    """Every queue with work in it, per language market where it is split: counts, the oldest open item,
    the next deadline."""
    now = now or utcnow()
    pending = QueueItemRow.status != DONE
    expired = and_(QueueItemRow.status == CLAIMED, QueueItemRow.lease_expires_at < now)
    rows = session.execute(
        select(
            QueueItemRow.queue,
            func.count().filter(or_(QueueItemRow.status == OPEN, expired)),
            func.count().filter(and_(QueueItemRow.status == CLAIMED, QueueItemRow.lease_expires_at >= now)),
            func.count().filter(QueueItemRow.due_at < now),
            func.min(QueueItemRow.created_at).filter(_claimable(now)),
            func.min(QueueItemRow.due_at),
            QueueItemRow.market,
        ).where(pending).group_by(QueueItemRow.queue, QueueItemRow.market)
        .order_by(QueueItemRow.queue, QueueItemRow.market)
    ).all()
    return [QueueSummary(q, market, int(o), int(c), int(d), oldest, due)
            for q, o, c, d, oldest, due, market in rows]


def claim_order(reviewer: Principal) -> list[Any]:
    """The order "claim next" takes items in: the reviewer's languages first (when their key lists any), then
    the highest priority, the earliest SLA deadline, the oldest."""
    order: list[Any] = [QueueItemRow.priority.desc(), QueueItemRow.due_at.asc().nulls_last(), QueueItemRow.id]
    if reviewer.languages:
        order.insert(0, case((QueueItemRow.language.in_(sorted(reviewer.languages)), 0), else_=1))
    return order


def claim_next(session: Session, queue: str, reviewer: Principal, policy: RoutingPolicy,
               now: datetime | None = None, market: str | None = None) -> QueueItemRow | None:
    """Claim the next claimable item of ``queue`` (of its language ``market`` only, when given) for ``reviewer``;
    None when there is none.

    Next: an item in one of the reviewer's languages, then the most urgent (``claim_order``). A reviewer never
    gets the blind second review of an item they decided themselves, nor the appeal against their decision."""
    now = now or utcnow()
    lease_until = now + timedelta(minutes=policy.review.lease_minutes)
    postgres = session.get_bind().dialect.name == "postgresql"
    skipped: list[int] = []
    for _ in range(20):  # each lost race moves on to the next candidate
        candidate = (
            select(QueueItemRow.id)
            .where(QueueItemRow.queue == queue, _claimable(now),
                   or_(QueueItemRow.blind_to.is_(None), QueueItemRow.blind_to != reviewer.key_id),
                   QueueItemRow.id.not_in(skipped))
            .order_by(*claim_order(reviewer))
            .limit(1)
        )
        if market is not None:
            candidate = candidate.where(QueueItemRow.market == market)
        if postgres:
            candidate = candidate.with_for_update(skip_locked=True)
        item_id = session.scalar(candidate)
        if item_id is None:
            return None
        result = session.execute(
            update(QueueItemRow)
            .where(QueueItemRow.id == item_id, _claimable(now))
            .values(status=CLAIMED, claimed_by=reviewer.key_id, lease_expires_at=lease_until)
            .execution_options(synchronize_session=False)
        )
        won = cast("CursorResult[Any]", result).rowcount
        if won == 1:
            item = session.get(QueueItemRow, item_id, populate_existing=True)
            assert item is not None
            audit.record(session, reviewer.key_id, "item.claimed", "queue_item", str(item_id),
                         {"queue": queue, "market": item.market, "language": item.language,
                          "lease_expires_at": lease_until.isoformat()})
            return item
        skipped.append(item_id)
    return None


def get_item(session: Session, item_id: int) -> QueueItemRow:
    item = session.get(QueueItemRow, item_id)
    if item is None:
        raise QueueError(404, f"no queue item {item_id}")
    return item


def _held_by(item: QueueItemRow, reviewer: Principal, now: datetime) -> bool:
    return (item.status == CLAIMED and item.claimed_by == reviewer.key_id
            and item.lease_expires_at is not None and item.lease_expires_at >= now)


def _require_holder(item: QueueItemRow, reviewer: Principal, now: datetime, doing: str) -> None:
    if item.status == DONE:
        raise QueueError(409, f"item {item.id} is already decided")
    if _held_by(item, reviewer, now):
        return
    if item.status == CLAIMED and item.claimed_by != reviewer.key_id and (
            item.lease_expires_at is not None and item.lease_expires_at >= now):
        raise QueueError(409, f"item {item.id} is claimed by another reviewer; claim another item to {doing}")
    raise QueueError(409, f"claim item {item.id} before you {doing} it (no claim, or the lease expired)")


def view_item(session: Session, item_id: int, reviewer: Principal) -> QueueItemRow:
    item = get_item(session, item_id)
    audit.record(session, reviewer.key_id, "item.viewed", "queue_item", str(item_id), {"queue": item.queue})
    return item


def release(session: Session, item_id: int, reviewer: Principal, now: datetime | None = None) -> QueueItemRow:
    now = now or utcnow()
    item = get_item(session, item_id)
    if reviewer.role is not Role.ADMIN:
        _require_holder(item, reviewer, now, "release")
    elif item.status != CLAIMED:
        raise QueueError(409, f"item {item_id} is not claimed")
    item.status, item.claimed_by, item.lease_expires_at = OPEN, None, None
    audit.record(session, reviewer.key_id, "item.released", "queue_item", str(item_id), {"queue": item.queue})
    return item


def reassign(session: Session, item_id: int, to_key_id: str, by: Principal, policy: RoutingPolicy,
             now: datetime | None = None) -> QueueItemRow:
    """Hand a claimed (or open) item to another reviewer, with a fresh lease. The holder or an admin may."""
    now = now or utcnow()
    item = get_item(session, item_id)
    if by.role is not Role.ADMIN:
        _require_holder(item, by, now, "reassign")
    elif item.status == DONE:
        raise QueueError(409, f"item {item_id} is already decided")
    target = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == to_key_id)).one_or_none()
    if target is None or target.revoked_at is not None or target.role not in (Role.REVIEWER, Role.ADMIN):
        raise QueueError(422, f"to: {to_key_id!r} is not an active reviewer key")
    if item.blind_to == to_key_id:
        what = "an appeal goes to another reviewer" if item.kind == APPEAL else "a second review must be blind"
        raise QueueError(422, f"to: {to_key_id!r} made the first decision; {what}")
    item.status, item.claimed_by = CLAIMED, to_key_id
    item.lease_expires_at = now + timedelta(minutes=policy.review.lease_minutes)
    audit.record(session, by.key_id, "item.reassigned", "queue_item", str(item_id),
                 {"queue": item.queue, "to": to_key_id})
    return item


def second_review_drawn(item_id: int, rate: float) -> bool:
    digest = hashlib.sha256(f"second-review:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def decide(session: Session, item_id: int, reviewer: Principal, decision: ReviewDecision, policy: RoutingPolicy,
           now: datetime | None = None) -> ReviewDecisionRow:
    """Record the holder's decision, close the item, and draw it for a blind second review."""
    now = now or utcnow()
    item = get_item(session, item_id)
    _require_holder(item, reviewer, now, "decide")
    score = session.scalars(select(ScoreRow).where(ScoreRow.report_pk == item.report_pk)).one()
    row = ReviewDecisionRow(
        queue_item_id=item.id, report_pk=item.report_pk, reviewer=reviewer.key_id,
        risk_tier=decision.risk_tier.value, policy_areas=[a.value for a in decision.policy_areas],
        action=decision.action.value, note=decision.note, model_version=f"{score.model_name}:{score.model_version}",
        decided_at=now,
    )
    session.add(row)
    item.status, item.closed_at, item.lease_expires_at = DONE, now, None
    session.flush()
    audit.record(session, reviewer.key_id, "item.decided", "queue_item", str(item.id), {
        "queue": item.queue, "kind": item.kind, "decision_id": row.id, "risk_tier": row.risk_tier,
        "policy_areas": row.policy_areas, "action": row.action, "model_tier": score.model_tier,
    })
    if item.kind == APPEAL:
        from serving.appeals import settle  # here, not at the top: serving.appeals imports this module

        settle(session, item, row)
    if (item.kind == PRIMARY and item.queue in policy.review.second_review_queues
            and second_review_drawn(item.id, policy.review.second_review_rate)):
        second = QueueItemRow(report_pk=item.report_pk, queue=item.queue, kind=SECOND_REVIEW, status=OPEN,
                              priority=item.priority, due_at=item.due_at, created_at=now, claimed_by=None,
                              lease_expires_at=None, closed_at=None, blind_to=reviewer.key_id,
                              language=item.language, market=item.market, page_at=None)
        session.add(second)
        session.flush()
        audit.record(session, "system", "item.second_review_drawn", "queue_item", str(second.id),
                     {"queue": item.queue, "first_item": item.id})
    return row


def item_report(session: Session, item: QueueItemRow) -> ReportRow:
    report = session.get(ReportRow, item.report_pk)
    assert report is not None
    return report
