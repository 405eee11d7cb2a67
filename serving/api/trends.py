"""Spikes and trends per policy area x language."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from serving.db.models import utcnow
from serving.deps import ReviewerKey, StateDep
from serving.schemas import ErrorBody, SeriesOut, TrendsOut
from serving.trends import trends

router = APIRouter(prefix="/v1", tags=["review"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": text} for code, text in {
        401: "No API key, or an invalid or revoked one.",
        403: "The key's role may not do this (reviewer and admin keys only).",
        422: "A query parameter is out of range; `fields` names it.",
        429: "This key is over its rate limit; retry after Retry-After seconds.",
        503: "The database is unavailable; retry after Retry-After seconds.",
    }.items()
}


def trends_out(state: StateDep, window_minutes: int, windows: int) -> TrendsOut:
    end = utcnow()
    with state.sessions() as session:
        series = trends(session, end, timedelta(minutes=window_minutes), windows)
    return TrendsOut(end=end, window_minutes=window_minutes, windows=windows, alerts=sum(s.alert for s in series),
                     series=[SeriesOut(area=s.area, language=s.language, counts=s.counts, latest=s.latest,
                                       baseline=s.baseline, p_value=s.p_value, alert=s.alert) for s in series])


@router.get("/trends", response_model=TrendsOut, responses=ERRORS,
            summary="Reports per policy area x language over time windows, with spike alerts")
def get_trends(
    state: StateDep, _: ReviewerKey,
    window_minutes: Annotated[int, Query(ge=5, le=7 * 24 * 60)] = 60,
    windows: Annotated[int, Query(ge=2, le=336)] = 24,
) -> TrendsOut:
    """The latest window of each series is tested against the mean of the earlier ones."""
    return trends_out(state, window_minutes, windows)
