"""The webhook outbox for admins: list events by status, requeue a failed one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from serving import audit, webhooks
from serving.db.engine import transaction
from serving.db.models import WebhookEventRow
from serving.deps import AdminKey, StateDep
from serving.errors import ApiError
from serving.schemas import ErrorBody

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": text} for code, text in {
        401: "No API key, or an invalid or revoked one.",
        403: "Only admin keys may do this.",
        404: "No event with this id.",
        409: "The event is not failed (it is pending or delivered).",
        429: "This key is over its rate limit; retry after Retry-After seconds.",
        422: "The request is invalid; `fields` names each invalid field.",
    }.items()
}


class WebhookEventOut(BaseModel):
    """One event of the outbox, without its payload (no report content)."""

    id: str = Field(description="The event id, sent as Triage-Event-Id.")
    type: str = Field(description="report.high_risk or queue_item.sla_breached.")
    subject: str = Field(description="The report_id (report.high_risk) or the queue item id (sla_breached).")
    status: Literal["pending", "delivered", "failed"]
    attempts: int = Field(description="Deliveries tried so far.")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="When a pending event is tried next; null otherwise.")
    delivered_at: datetime | None
    last_error: str | None = Field(description="Why the last attempt failed: an HTTP status or an error type.")


class WebhookEventsOut(BaseModel):
    events: list[WebhookEventOut] = Field(description="Newest first.")


def event_out(row: WebhookEventRow) -> WebhookEventOut:
    return WebhookEventOut(id=row.event_id, type=row.event_type, subject=row.subject,
                           status=row.status,
                           attempts=row.attempts, created_at=row.created_at,
                           next_attempt_at=row.next_attempt_at if row.status == webhooks.PENDING else None,
                           delivered_at=row.delivered_at, last_error=row.last_error)


@router.get("/events", response_model=WebhookEventsOut, responses=ERRORS,
            summary="Webhook events by status, newest first (no payloads)")
def list_events(
    state: StateDep, _: AdminKey,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query(
        description="Only events with this status (e.g. failed: given up after the last attempt).")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> WebhookEventsOut:
    query = select(WebhookEventRow).order_by(WebhookEventRow.id.desc()).limit(limit)
    if status is not None:
        query = query.where(WebhookEventRow.status == status)
    with state.sessions() as session:
        return WebhookEventsOut(events=[event_out(row) for row in session.scalars(query)])


@router.post("/events/{event_id}:retry", response_model=WebhookEventOut, responses=ERRORS,
             summary="Requeue a failed webhook event (a fresh set of attempts, delivered at once)")
def retry_event(event_id: Annotated[str, Path(max_length=64, pattern=r"^evt_[A-Za-z0-9_-]+$")], state: StateDep,
                admin: AdminKey) -> WebhookEventOut:
    with transaction(state.sessions) as session:
        row = webhooks.requeue(session, event_id)
        if row is None:
            known = session.scalar(select(WebhookEventRow.status).where(WebhookEventRow.event_id == event_id))
            if known is None:
                raise ApiError(404, f"no webhook event {event_id!r}")
            raise ApiError(409, f"webhook event {event_id!r} is {known}; only failed events can be requeued")
        audit.record(session, admin.key_id, "webhook.requeued", "webhook_event", event_id,
                     {"type": row.event_type, "subject": row.subject})
        return event_out(row)
