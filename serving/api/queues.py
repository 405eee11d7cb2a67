"""Review queues for specialists: overview, claim, view, release, reassign, decide."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from model.schema import ReviewDecision
from serving import appeals, idempotency, queues
from serving.auth import Principal
from serving.db.engine import transaction
from serving.db.models import AppealRow, QueueItemRow, ReportRow, ReviewDecisionRow, utcnow
from serving.deps import AppState, ReviewerKey, StateDep
from serving.policy import MARKET_NAME_PATTERN, QUEUE_NAME_PATTERN
from serving.qa import AgreementReport, agreement_report
from serving.schemas import (
    AppealOut,
    ContestedOut,
    ErrorBody,
    ItemOut,
    MarketOut,
    QueueOut,
    QueuesOut,
    ReassignRequest,
    ReportOut,
    ReviewDecisionOut,
)
from serving.service import decision_from_row

router = APIRouter(prefix="/v1", tags=["review"])
AT_RISK = timedelta(hours=1)

#: What every route here may answer besides its result.
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": text} for code, text in {
        401: "No API key, or an invalid or revoked one.",
        403: "The key's role may not do this (reviewer and admin keys only).",
        422: "The request is invalid; `fields` names each invalid field.",
        429: "This key is over its rate limit; retry after Retry-After seconds.",
        503: "The database is unavailable; retry after Retry-After seconds.",
    }.items()
}
#: ... and the routes of one item, with a body or not.
ITEM_ERRORS: dict[int | str, dict[str, object]] = {**ERRORS, **{
    code: {"model": ErrorBody, "description": text} for code, text in {
        404: "No queue item with this id.",
        409: "The item is decided already, claimed by another reviewer, or not claimed by this key under a live "
             "lease.",
    }.items()
}}
BODY_ERRORS: dict[int | str, dict[str, object]] = {**ITEM_ERRORS, **{
    code: {"model": ErrorBody, "description": text} for code, text in {
        400: "The body is not UTF-8 encoded JSON.",
        413: "The request body is too large.",
    }.items()
}}
#: Queue item ids are 64-bit: a larger number is refused by name (422), not passed to the database.
ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The queue item's id.")]
#: A queue name as the routing policy allows it (``serving.policy.QueueName``): anything else names no queue and is
#: refused by name (422), never passed to the database (PostgreSQL refuses a NUL character in a query).
QueueName = Annotated[str, Path(pattern=QUEUE_NAME_PATTERN, description="The queue's name.")]
#: A claim, release, reassign or decide sent with a key acts once: a retry gets the first answer again.
IdempotencyKey = Annotated[str | None, Header(
    alias=idempotency.HEADER, pattern=idempotency.KEY_PATTERN,
    description="A key of your choosing (a UUID), new for each action: a retry of the same request with the same "
                "key returns the first answer (header Idempotent-Replayed: true) instead of acting again. Kept "
                "for 24 hours.")]


def _render(session: Session, outcome: idempotency.Outcome) -> dict[str, Any]:
    """The answer's body: the queue item or the review decision the action produced, as it is now."""
    assert outcome.id is not None
    if outcome.kind == "decision":
        decision = session.get(ReviewDecisionRow, outcome.id)
        assert decision is not None
        return decision_out(session, decision).model_dump(mode="json")
    return item_out(session, queues.get_item(session, outcome.id)).model_dump(mode="json")


def _once(state: StateDep, reviewer: Principal, key: str | None, action: str, target: str, body: object,
          act: Callable[[Session], idempotency.Outcome]) -> Response:
    """``act`` at most once per idempotency key (``serving.idempotency``); its answer as JSON."""
    print_ = idempotency.fingerprint(action, target, body)
    answer = idempotency.once(state.sessions, reviewer.key_id, key, print_, act, _render)
    if answer.body is None:
        return Response(status_code=answer.status_code)
    headers = {idempotency.REPLAYED_HEADER: "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


def _item(item: QueueItemRow | None) -> idempotency.Outcome:
    return idempotency.Outcome(204) if item is None else idempotency.Outcome(200, "item", item.id)


def item_out(session: Session, item: QueueItemRow) -> ItemOut:
    report = queues.item_report(session, item)
    appeal = appeals.item_appeal(session, item)
    return ItemOut(
        id=item.id, queue=item.queue, kind=item.kind, status=item.status, priority=item.priority,
        due_at=item.due_at, created_at=item.created_at, claimed_by=item.claimed_by,
        lease_expires_at=item.lease_expires_at, language=item.language, market=item.market,
        appeal=appeal_out(session, appeal) if appeal is not None else None,
        report=ReportOut(report_id=report.report_id, text=report.text, language_hint=report.language_hint,
                         reporter_type=report.reporter_type, channel=report.channel, surface=report.surface,
                         reporter_reason=report.reporter_reason, followers=report.followers,
                         prior_strikes=report.prior_strikes, report_count=report.report_count,
                         created_at=report.created_at),
        decision=decision_from_row(report, replayed=True),
    )


@router.get("/queues", response_model=QueuesOut, responses=ERRORS,
            summary="Queues with counts, oldest age and SLA status")
def list_queues(state: StateDep, _: ReviewerKey) -> QueuesOut:
    with state.sessions() as session:
        return QueuesOut(queues=queue_overview(session, utcnow()))


def _sla_status(overdue: int, next_due_at: datetime | None, now: datetime) -> str:
    return "breached" if overdue else (
        "at_risk" if next_due_at is not None and next_due_at - now < AT_RISK else "ok")


def _earliest(*values: datetime | None) -> datetime | None:
    return min((v for v in values if v is not None), default=None)


def queue_overview(session: Session, now: datetime) -> list[QueueOut]:
    """Every queue with work, with its SLA status, and the same per language market for a queue split by
    market: the API's answer and the console's table."""
    by_queue: dict[str, list[queues.QueueSummary]] = {}
    for q in queues.summaries(session, now):
        by_queue.setdefault(q.queue, []).append(q)
    out = []
    for name, parts in by_queue.items():
        markets = [MarketOut(market=p.market, open=p.open, claimed=p.claimed, overdue=p.overdue,
                             oldest_open_age_seconds=(now - p.oldest_open_at).total_seconds()
                             if p.oldest_open_at else None,
                             next_due_at=p.next_due_at, sla_status=_sla_status(p.overdue, p.next_due_at, now))
                   for p in parts if p.market is not None]
        oldest = _earliest(*(p.oldest_open_at for p in parts))
        next_due = _earliest(*(p.next_due_at for p in parts))
        overdue = sum(p.overdue for p in parts)
        out.append(QueueOut(queue=name, open=sum(p.open for p in parts), claimed=sum(p.claimed for p in parts),
                            overdue=overdue, oldest_open_age_seconds=(now - oldest).total_seconds() if oldest else None,
                            next_due_at=next_due, sla_status=_sla_status(overdue, next_due, now), markets=markets))
    return out


@router.post("/queues/{queue}:claim", response_model=ItemOut, status_code=200,
             responses={**ERRORS, 204: {"description": "Nothing to claim in this queue."}},
             summary="Claim the most urgent item of a queue (a lease that expires)")
def claim(queue: QueueName, state: StateDep, reviewer: ReviewerKey,
          market: Annotated[str | None, Query(pattern=MARKET_NAME_PATTERN,
                                              description="Only items of this language market.")] = None,
          idempotency_key: IdempotencyKey = None) -> Response:
    """The next item: one in the key's languages first (``triage keys languages``), then the most urgent."""
    return _once(state, reviewer, idempotency_key, "claim", queue if market is None else f"{queue}/{market}", None,
                 lambda session: _item(queues.claim_next(session, queue, reviewer, state.policy, market=market)))


@router.get("/items/{item_id}", response_model=ItemOut, responses=ITEM_ERRORS,
            summary="One queue item with its report and scores")
def get_item(item_id: ItemId, state: StateDep, reviewer: ReviewerKey) -> ItemOut:
    with transaction(state.sessions) as session:
        return item_out(session, queues.view_item(session, item_id, reviewer))


@router.post("/items/{item_id}:release", response_model=ItemOut, responses=ITEM_ERRORS,
             summary="Give a claimed item back to its queue")
def release(item_id: ItemId, state: StateDep, reviewer: ReviewerKey,
            idempotency_key: IdempotencyKey = None) -> Response:
    return _once(state, reviewer, idempotency_key, "release", str(item_id), None,
                 lambda session: _item(queues.release(session, item_id, reviewer)))


@router.post("/items/{item_id}:reassign", response_model=ItemOut, responses=BODY_ERRORS,
             summary="Hand an item to another reviewer")
def reassign(item_id: ItemId, body: ReassignRequest, state: StateDep, reviewer: ReviewerKey,
             idempotency_key: IdempotencyKey = None) -> Response:
    return _once(state, reviewer, idempotency_key, "reassign", str(item_id), body.model_dump(mode="json"),
                 lambda session: _item(queues.reassign(session, item_id, body.to, reviewer, state.policy)))


@router.post("/items/{item_id}:decide", response_model=ReviewDecisionOut, responses=BODY_ERRORS,
             summary="Decide a claimed item: final tier, policy areas, action, note")
def decide(item_id: ItemId, body: ReviewDecision, state: StateDep, reviewer: ReviewerKey,
           idempotency_key: IdempotencyKey = None) -> Response:
    outcomes: list[str] = []
    answer = _once(state, reviewer, idempotency_key, "decide", str(item_id), body.model_dump(mode="json"),
                   lambda session: idempotency.Outcome(
                       200, "decision", decide_item(session, state, item_id, reviewer, body, outcomes).id))
    count_appeal_outcomes(state, outcomes)
    return answer


def decide_item(session: Session, state: AppState, item_id: int, reviewer: Principal, body: ReviewDecision,
                appeal_outcomes: list[str]) -> ReviewDecisionRow:
    """``queues.decide``, noting the outcome of an appeal it decides in ``appeal_outcomes`` (counted once the
    transaction commits, by ``count_appeal_outcomes``)."""
    row = queues.decide(session, item_id, reviewer, body, state.policy)
    appeal = appeals.item_appeal(session, queues.get_item(session, item_id))
    if appeal is not None and appeal.outcome is not None:
        appeal_outcomes.append(appeal.outcome)
    return row


def count_appeal_outcomes(state: AppState, outcomes: list[str]) -> None:
    for outcome in outcomes:
        state.metrics.appeal_outcomes.labels(outcome).inc()


def decision_out(session: Session, row: ReviewDecisionRow) -> ReviewDecisionOut:
    report = session.get(ReportRow, row.report_pk)
    assert report is not None
    return ReviewDecisionOut(id=row.id, queue_item_id=row.queue_item_id, report_id=report.report_id,
                             reviewer=row.reviewer, risk_tier=row.risk_tier, policy_areas=row.policy_areas,
                             action=row.action, note=row.note, model_version=row.model_version,
                             decided_at=row.decided_at)


def appeal_out(session: Session, appeal: AppealRow, *, replayed: bool = False) -> AppealOut:
    """An appeal with the decision it contests and its own decision: the API's answer and the console's
    side-by-side view."""
    report = session.get(ReportRow, appeal.report_pk)
    item = session.get(QueueItemRow, appeal.queue_item_id)
    assert report is not None and item is not None

    def decision(decision_id: int | None) -> ReviewDecisionOut | None:
        row = session.get(ReviewDecisionRow, decision_id) if decision_id is not None else None
        return decision_out(session, row) if row is not None else None

    return AppealOut(
        appeal_id=appeal.appeal_id, report_id=report.report_id, appellant=appeal.appellant, reason=appeal.reason,
        received_at=appeal.received_at, status=appeal.status, outcome=appeal.outcome, queue_item_id=item.id,
        queue=item.queue, due_at=item.due_at,
        contested=ContestedOut(action=appeal.contested_action, automated=appeal.contested_decision_id is None,
                               decided_at=appeal.contested_at, decision=decision(appeal.contested_decision_id)),
        decision=decision(appeal.decision_id), decided_at=appeal.decided_at, replayed=replayed)


@router.get("/qa/agreement", response_model=AgreementReport, responses=ERRORS,
            summary="Agreement between reviewers (blind second reviews) and between reviewers and the model")
def agreement(state: StateDep, _: ReviewerKey) -> AgreementReport:
    with state.sessions() as session:
        return agreement_report(session)
