"""Review queues for specialists: overview, claim, view, release, reassign, decide."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from model.schema import ReviewDecision
from serving import idempotency, queues
from serving.auth import Principal
from serving.db.engine import transaction
from serving.db.models import QueueItemRow, ReportRow, ReviewDecisionRow, utcnow
from serving.deps import ReviewerKey, StateDep
from serving.qa import AgreementReport, agreement_report
from serving.schemas import (
    ErrorBody,
    ItemOut,
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
QueueName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="The queue's name.")]
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
    return ItemOut(
        id=item.id, queue=item.queue, kind=item.kind, status=item.status, priority=item.priority,
        due_at=item.due_at, created_at=item.created_at, claimed_by=item.claimed_by,
        lease_expires_at=item.lease_expires_at,
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


def queue_overview(session: Session, now: datetime) -> list[QueueOut]:
    """Every queue with work, with its SLA status: the API's answer and the console's table."""
    out = []
    for q in queues.summaries(session, now):
        status = "breached" if q.overdue else (
            "at_risk" if q.next_due_at is not None and q.next_due_at - now < AT_RISK else "ok")
        age = (now - q.oldest_open_at).total_seconds() if q.oldest_open_at else None
        out.append(QueueOut(queue=q.queue, open=q.open, claimed=q.claimed, overdue=q.overdue,
                            oldest_open_age_seconds=age, next_due_at=q.next_due_at, sla_status=status))
    return out


@router.post("/queues/{queue}:claim", response_model=ItemOut, status_code=200,
             responses={**ERRORS, 204: {"description": "Nothing to claim in this queue."}},
             summary="Claim the most urgent item of a queue (a lease that expires)")
def claim(queue: QueueName, state: StateDep, reviewer: ReviewerKey,
          idempotency_key: IdempotencyKey = None) -> Response:
    return _once(state, reviewer, idempotency_key, "claim", queue, None,
                 lambda session: _item(queues.claim_next(session, queue, reviewer, state.policy)))


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
    return _once(state, reviewer, idempotency_key, "decide", str(item_id), body.model_dump(mode="json"),
                 lambda session: idempotency.Outcome(
                     200, "decision", queues.decide(session, item_id, reviewer, body, state.policy).id))


def decision_out(session: Session, row: ReviewDecisionRow) -> ReviewDecisionOut:
    report = session.get(ReportRow, row.report_pk)
    assert report is not None
    return ReviewDecisionOut(id=row.id, queue_item_id=row.queue_item_id, report_id=report.report_id,
                             reviewer=row.reviewer, risk_tier=row.risk_tier, policy_areas=row.policy_areas,
                             action=row.action, note=row.note, model_version=row.model_version,
                             decided_at=row.decided_at)


@router.get("/qa/agreement", response_model=AgreementReport, responses=ERRORS,
            summary="Agreement between reviewers (blind second reviews) and between reviewers and the model")
def agreement(state: StateDep, _: ReviewerKey) -> AgreementReport:
    with state.sessions() as session:
        return agreement_report(session)
