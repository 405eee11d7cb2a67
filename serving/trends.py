"""Spikes and trends: report counts per policy area x language over time windows, and alerts when the
latest window's count is improbably high for its baseline.

The baseline of a series is its mean count over the earlier windows of the lookback (at least
``MIN_BASELINE`` per window, so a series that was silent does not alert on its first report). The test is
one-sided Poisson: the probability of seeing at least the latest count if the rate had not changed. An
alert needs that probability below ``p_alert`` and at least ``min_count`` reports, so one or two reports
in a quiet series are not a spike. Areas are the model's predicted areas (``none`` excluded); a report
with two areas counts in both series.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.models import ReportRow, RouteRow, ScoreRow

MIN_BASELINE = 0.5
UNDETECTED = "und"


def poisson_tail(k: int, rate: float) -> float:
    """P(X >= k) for X ~ Poisson(rate), summed in log space (stable for large k and rate)."""
    if k <= 0:
        return 1.0
    if rate <= 0:
        return 0.0
    log_terms = [i * math.log(rate) - rate - math.lgamma(i + 1) for i in range(k)]
    peak = max(log_terms)
    below = math.exp(peak) * sum(math.exp(t - peak) for t in log_terms)
    return max(0.0, min(1.0, 1.0 - below))


@dataclass(frozen=True, slots=True)
class Series:
    area: str
    language: str
    counts: list[int]  # oldest window first; the last is the latest
    baseline: float
    p_value: float
    alert: bool

    @property
    def latest(self) -> int:
        return self.counts[-1]


def spike(counts: Sequence[int], *, p_alert: float = 0.001, min_count: int = 5) -> tuple[float, float, bool]:
    """(baseline, p-value, alert) of the last count against the earlier ones."""
    history = counts[:-1]
    baseline = max(sum(history) / len(history), MIN_BASELINE) if history else MIN_BASELINE
    p_value = poisson_tail(counts[-1], baseline)
    return baseline, p_value, p_value < p_alert and counts[-1] >= min_count


def window_counts(rows: Sequence[tuple[datetime, str | None, Sequence[str]]], end: datetime, window: timedelta,
                  windows: int) -> dict[tuple[str, str], list[int]]:
    """Counts per (area, language) in ``windows`` consecutive windows ending at ``end``."""
    start = end - window * windows
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * windows)
    for received_at, language, areas in rows:
        if not start <= received_at < end:
            continue
        index = int((received_at - start) / window)
        for area in areas:
            if area != "none":
                counts[(area, language or UNDETECTED)][index] += 1
    return dict(counts)


def trends(session: Session, end: datetime, window: timedelta, windows: int, *, p_alert: float = 0.001,
           min_count: int = 5) -> list[Series]:
    """Every area x language series with reports in the lookback, alerts first, then by latest count."""
    start = end - window * windows
    rows = session.execute(
        select(ReportRow.received_at, RouteRow.language, ScoreRow.areas)
        .join(RouteRow, RouteRow.report_pk == ReportRow.id)
        .join(ScoreRow, ScoreRow.report_pk == ReportRow.id)
        .where(ReportRow.received_at >= start, ReportRow.received_at < end)
    ).all()
    series = []
    for (area, language), counts in window_counts([tuple(r) for r in rows], end, window, windows).items():
        baseline, p_value, alert = spike(counts, p_alert=p_alert, min_count=min_count)
        series.append(Series(area, language, counts, baseline, p_value, alert))
    return sorted(series, key=lambda s: (not s.alert, -s.latest, s.area, s.language))
