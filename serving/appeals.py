"""Appeals: complaints against a decision on a report (EU DSA Art. 20, internal complaint-handling).

The reporter's side (the content was left up) or the affected user's (their content or account was acted on)
appeals the latest decision on a report: a reviewer's, or routing's automated one (a low-risk report
auto-closed). An appeal opens a queue item of kind ``appeal`` in the policy's appeals queue, with its own SLA
and priority, that the reviewer of the contested decision may not claim (``blind_to``, as for blind second
reviews). A reviewer decides it like any item (``serving.queues.decide``); the outcome compares the appeal's
action with the contested one (``outcome``): ``upheld`` when they are the same, ``reversed`` when not. The
appeal, its decision and its outcome are stored and audited; the decision is exported as training data (and
the contested decision it reverses is not, ``serving.decisions``); outcomes are counted (metrics, the
transparency report).

Idempotent on ``appeal_id``, like reports on ``report_id``: the same appeal sent again is answered from the
store, the same ``appeal_id`` with other content is a conflict. A report has one open appeal at a time, also
between concurrent requests (a unique index on the open appeals' report).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving import audit
from serving.auth import Principal
from serving.db.models import AppealRow, QueueItemRow, ReportRow, ReviewDecisionRow, RouteRow, utcnow
from serving.policy import RoutingPolicy
from serving.queues import APPEAL, OPEN, SECOND_REVIEW
from serving.routing import page_at
from serving.schemas import AppealRequest

DECIDED = "decided"
UPHELD, REVERSED = "upheld", "reversed"
OUTCOMES = (UPHELD, REVERSED)
#: The contested action of routing's automated decision on a low-risk report.
AUTO_CLOSE = "auto_close"
NO_VIOLATION = "no_violation"


class AppealError(Exception):
    """An appeal that cannot be filed; ``status`` is the HTTP status, ``field`` the request field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def outcome(contested_action: str, appeal_action: str) -> str:
    """``upheld`` when the appeal's action is the contested one, ``reversed`` otherwise. Routing's auto-close is
    the action ``no_violation``: an appeal that finds no violation upholds it."""
    contested = NO_VIOLATION if contested_action == AUTO_CLOSE else contested_action
    return UPHELD if appeal_action == contested else REVERSED


def payload_digest(request: AppealRequest, report_id: str) -> str:
    data = {"report_id": report_id, **request.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Contested:
    """The decision an appeal contests: a reviewer's (``decision``), or routing's automated one (None)."""

    decision: ReviewDecisionRow | None
    action: str
    decided_at: datetime


def contested_decision(session: Session, report: ReportRow, route: RouteRow) -> Contested:
    """The latest decision on ``report`` (routed by ``route``): its latest reviewer decision (blind second reviews
    are quality checks, not decisions on the content), else routing's auto-close. AppealError 409 while there is
    none yet."""
    latest = session.scalars(
        select(ReviewDecisionRow).join(QueueItemRow, QueueItemRow.id == ReviewDecisionRow.queue_item_id)
        .where(ReviewDecisionRow.report_pk == report.id, QueueItemRow.kind != SECOND_REVIEW)
        .order_by(ReviewDecisionRow.decided_at.desc(), ReviewDecisionRow.id.desc()).limit(1)
    ).one_or_none()
    if latest is not None:
        return Contested(latest, latest.action, latest.decided_at)
    if route.action == AUTO_CLOSE:
        return Contested(None, AUTO_CLOSE, route.decided_at)
    raise AppealError(409, f"report {report.report_id!r} has no decision to appeal yet: it is waiting for review "
                           f"in {route.queue}", "report_id")


def file_appeal(session: Session, report_id: str, request: AppealRequest, principal: Principal,
                policy: RoutingPolicy, now: datetime | None = None) -> tuple[AppealRow, bool]:
    """Store the appeal and its queue item; ``(appeal, replayed)``, replayed when this appeal_id was stored
    already with the same content."""
    now = now or utcnow()
    digest = payload_digest(request, report_id)
    stored = session.scalars(select(AppealRow).where(AppealRow.appeal_id == request.appeal_id)).one_or_none()
    if stored is not None:
        if stored.payload_sha256 != digest:
            raise AppealError(409, f"appeal_id {request.appeal_id!r} was already filed with other content; send a "
                                   "new appeal_id for a new appeal", "appeal_id")
        return stored, True
    report = session.scalars(select(ReportRow).where(ReportRow.report_id == report_id)).one_or_none()
    if report is None:
        raise AppealError(404, f"no report with report_id {report_id!r}")
    open_appeal = session.scalars(select(AppealRow.appeal_id).where(
        AppealRow.report_pk == report.id, AppealRow.status == OPEN)).first()
    if open_appeal is not None:
        raise AppealError(409, f"report {report_id!r} has an open appeal already ({open_appeal!r}); it is decided "
                               "before another can be filed", "report_id")
    route = session.scalars(select(RouteRow).where(RouteRow.report_pk == report.id)).one()
    contested = contested_decision(session, report, route)
    window = timedelta(days=policy.appeals.window_days)
    if now - contested.decided_at > window:
        raise AppealError(409, f"the decision on report {report_id!r} was made more than "
                               f"{policy.appeals.window_days} days ago: past the appeal window", "report_id")
    queue = policy.appeals.queue
    due = now + timedelta(minutes=policy.appeals.sla_minutes)
    item = QueueItemRow(report_pk=report.id, queue=queue, kind=APPEAL, status=OPEN, priority=policy.appeals.priority,
                        due_at=due, created_at=now, claimed_by=None, lease_expires_at=None, closed_at=None,
                        blind_to=contested.decision.reviewer if contested.decision is not None else None,
                        language=route.language, market=policy.market(queue, route.language),
                        page_at=page_at(queue, now, due, policy))
    session.add(item)
    session.flush()
    appeal = AppealRow(appeal_id=request.appeal_id, payload_sha256=digest, report_pk=report.id,
                       appellant=request.appellant.value, reason=request.reason, submitted_by=principal.key_id,
                       received_at=now, contested_decision_id=contested.decision.id if contested.decision else None,
                       contested_action=contested.action, contested_at=contested.decided_at, queue_item_id=item.id,
                       status=OPEN)
    session.add(appeal)
    session.flush()
    audit.record(session, principal.key_id, "appeal.filed", "appeal", request.appeal_id, {
        "report_id": report_id, "appellant": appeal.appellant, "contested_action": contested.action,
        "contested_decision_id": appeal.contested_decision_id, "queue_item_id": item.id, "queue": queue,
        "market": item.market})
    return appeal, False


def settle(session: Session, item: QueueItemRow, decision: ReviewDecisionRow) -> AppealRow:
    """Record the decision of an appeal's item as the appeal's outcome (``serving.queues.decide`` calls it)."""
    appeal = session.scalars(select(AppealRow).where(AppealRow.queue_item_id == item.id)).one()
    appeal.status, appeal.decision_id, appeal.decided_at = DECIDED, decision.id, decision.decided_at
    appeal.outcome = outcome(appeal.contested_action, decision.action)
    audit.record(session, decision.reviewer, "appeal.decided", "appeal", appeal.appeal_id, {
        "outcome": appeal.outcome, "contested_action": appeal.contested_action, "action": decision.action,
        "decision_id": decision.id, "queue_item_id": item.id})
    return appeal


def find_appeal(session: Session, appeal_id: str) -> AppealRow | None:
    return session.scalars(select(AppealRow).where(AppealRow.appeal_id == appeal_id)).one_or_none()


def item_appeal(session: Session, item: QueueItemRow) -> AppealRow | None:
    if item.kind != APPEAL:
        return None
    return session.scalars(select(AppealRow).where(AppealRow.queue_item_id == item.id)).one_or_none()

