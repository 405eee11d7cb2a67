"""Appeals (EU DSA Art. 20): filed by the reporter's system or the affected user's, read back by either."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy.exc import IntegrityError

from model.schema import ID_PATTERN, MAX_ID_CHARS
from serving import appeals
from serving.api.queues import appeal_out
from serving.api.reports import ReportId, json_response
from serving.db.engine import transaction
from serving.deps import IntakeKey, ReaderKey, StateDep
from serving.errors import ApiError
from serving.schemas import AppealOut, AppealRequest, ErrorBody, FieldError

router = APIRouter(prefix="/v1", tags=["appeals"])
#: An appeal_id as ``AppealRequest`` accepts it; anything else is refused by name (422), never passed to the database.
AppealId = Annotated[str, Path(max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": text} for code, text in {
        400: "The body is not UTF-8 encoded JSON.",
        401: "No API key, or an invalid or revoked one.",
        403: "The key's role may not do this.",
        404: "No report with this report_id.",
        409: "The appeal_id was filed with other content; the report has an open appeal, no decision yet, or one "
             "past the appeal window.",
        413: "The request body is too large.",
        422: "The request is invalid; `fields` names each invalid field.",
        429: "This key is over its rate limit; retry after Retry-After seconds.",
        503: "The database is unavailable; retry after Retry-After seconds.",
    }.items()
}


@router.post("/reports/{report_id}:appeal", response_model=AppealOut, status_code=201, responses={
    **ERRORS, 200: {"model": AppealOut, "description": "This appeal_id was filed already: the stored appeal."}},
    summary="Appeal the latest decision on a report (DSA Art. 20 internal complaint)")
def file_appeal(report_id: ReportId, body: AppealRequest, principal: IntakeKey, state: StateDep) -> Response:
    """Opens an item in the appeals queue (its own SLA) that the reviewer of the contested decision may not
    claim. The contested decision is the report's latest: a reviewer's, or routing's auto-close of a low-risk
    report. Once a reviewer decides the item, the appeal's ``outcome`` is ``upheld`` (same action) or
    ``reversed``. Idempotent on ``appeal_id``."""
    for attempt in range(2):
        try:
            with transaction(state.sessions) as session:
                appeal, replayed = appeals.file_appeal(session, report_id, body, principal, state.policy)
                out = appeal_out(session, appeal, replayed=replayed)
            break
        except appeals.AppealError as exc:
            fields = [FieldError(field=exc.field, message=exc.message)] if exc.field else None
            raise ApiError(exc.status, exc.message, fields=fields) from exc
        except IntegrityError:
            # A concurrent request stored the same appeal_id, or another open appeal of the report, between our
            # read and our write: read again (a replay, or a 409).
            if attempt:
                raise
    if replayed:
        return json_response(out, {"Idempotent-Replayed": "true"})
    state.metrics.appeals.labels(out.appellant).inc()
    return Response(out.model_dump_json(), status_code=201, media_type="application/json")


@router.get("/appeals/{appeal_id}", response_model=AppealOut,
            responses={**ERRORS, 404: {"model": ErrorBody, "description": "No appeal with this appeal_id."}},
            summary="An appeal: its status, outcome, and the decision it contests")
def get_appeal(appeal_id: AppealId, _: ReaderKey, state: StateDep) -> AppealOut:
    with state.sessions() as session:
        appeal = appeals.find_appeal(session, appeal_id)
        if appeal is None:
            raise ApiError(404, f"no appeal with appeal_id {appeal_id!r}")
        return appeal_out(session, appeal)
