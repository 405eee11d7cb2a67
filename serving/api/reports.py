"""Scoring reports, and reading stored decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from model.schema import ID_PATTERN, MAX_ID_CHARS, Report
from serving.deps import IntakeKey, ReaderKey, ServiceDep, StateDep
from serving.errors import ApiError
from serving.schemas import BatchDecision, BatchScoreRequest, Decision, ErrorBody
from serving.service import find_decision

router = APIRouter(prefix="/v1", tags=["reports"])
#: A report_id as ``Report`` accepts it: anything else (a NUL character, which PostgreSQL refuses in a query, or
#: a space) names no stored report and is refused by name (422), never passed to the database.
ReportId = Annotated[str, Path(max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": text} for code, text in {
        400: "The body is not UTF-8 encoded JSON.",
        401: "No API key, or an invalid or revoked one.",
        403: "The key's role may not do this.",
        409: "The report_id was already scored with other content.",
        413: "The request body is too large.",
        422: "The request is invalid; `fields` names each invalid field.",
        429: "This key is over its rate limit; retry after Retry-After seconds.",
        503: "No model loaded yet, or the database is unavailable; retry after Retry-After seconds.",
    }.items()
}


@router.post("/reports:score", response_model=Decision, responses=ERRORS,
             summary="Score and route one report (idempotent on report_id)")
def score_report(report: Report, principal: IntakeKey, service: ServiceDep) -> Response:
    """Risk tier, policy areas, language, route and grey-area status of one report, stored once.

    Sending the same report again (same ``report_id``, same content) returns the stored decision with
    ``replayed: true`` and the header ``Idempotent-Replayed: true``, and stores nothing."""
    decision = service.score([report], principal)[0]
    return json_response(decision, {"Idempotent-Replayed": "true"} if decision.replayed else None)


@router.post("/reports:batchScore", response_model=BatchDecision, responses=ERRORS,
             summary="Score and route up to 256 reports in one call")
def batch_score(request: BatchScoreRequest, principal: IntakeKey, service: ServiceDep) -> Response:
    """Results in request order. All new reports of the batch are stored in one transaction: an error stores
    none of them. A report_id already stored is answered from the store."""
    return json_response(BatchDecision(results=service.score(request.reports, principal, field_prefix="reports")))


def json_response(body: BaseModel, headers: dict[str, str] | None = None) -> Response:
    """``body``, serialised once by pydantic. Returning the model itself would have FastAPI dump it, validate the
    dump against ``response_model`` and serialise it again: work per request that checks what the model's own
    types already guarantee (the route keeps ``response_model`` for the OpenAPI schema)."""
    return Response(body.model_dump_json(), media_type="application/json", headers=headers)


@router.get("/reports/{report_id}", response_model=Decision,
            responses={**ERRORS, 404: {"model": ErrorBody, "description": "No report with this report_id."}},
            summary="The stored decision for a report")
def get_report(report_id: ReportId, _: ReaderKey, state: StateDep) -> Decision:
    decision = find_decision(state.sessions, report_id)
    if decision is None:
        raise ApiError(404, f"no report with report_id {report_id!r}")
    return decision
