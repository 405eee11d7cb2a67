"""Spikes and trends: the Poisson test, window counts, the API and the console page."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from serving.db.engine import transaction
from serving.db.models import ReportRow
from serving.trends import poisson_tail, spike, window_counts
from tests.support.api import Keys

END = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_poisson_tail_matches_hand_computed_values() -> None:
    assert poisson_tail(0, 3.0) == 1.0
    assert poisson_tail(1, 1.0) == pytest.approx(1 - math.exp(-1))
    assert poisson_tail(3, 1.0) == pytest.approx(1 - math.exp(-1) * (1 + 1 + 0.5))
    assert poisson_tail(400, 300.0) < 1e-7  # large counts stay finite


def test_a_jump_far_above_the_baseline_is_a_spike() -> None:
    baseline, p_value, alert = spike([4, 5, 3, 4, 6, 4, 25])
    assert baseline == pytest.approx(26 / 6) and p_value < 1e-6 and alert


def test_ordinary_variation_and_tiny_counts_are_not_spikes() -> None:
    assert not spike([4, 5, 3, 4, 6, 4, 7])[2]
    assert not spike([0, 0, 0, 0, 3])[2], "three reports in a silent series is below min_count"
    assert spike([0, 0, 0, 0, 8])[2]


def test_reports_are_counted_per_area_and_language_in_their_window() -> None:
    rows = [(END - 30 * timedelta(minutes=1), "fr", ["hate_speech", "harassment"]),
            (END - 90 * timedelta(minutes=1), "fr", ["hate_speech"]),
            (END - 90 * timedelta(minutes=1), None, ["spam_fraud"]),
            (END - 10 * HOUR, "en", ["hate_speech"]),  # before the lookback
            (END - 20 * timedelta(minutes=1), "de", ["none"])]
    counts = window_counts(rows, END, HOUR, 3)
    assert counts == {("hate_speech", "fr"): [0, 1, 1], ("harassment", "fr"): [0, 0, 1],
                      ("spam_fraud", "und"): [0, 1, 0]}


def test_the_trends_api_and_page_show_a_spike(api: tuple[TestClient, Keys]) -> None:
    client, keys = api
    reports = [{"report_id": f"t-{i}", "text": f"message {i} that people keep reporting"} for i in range(12)]
    client.post("/v1/reports:batchScore", json={"reports": reports}, headers=keys.intake)
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        # one report two hours ago, the other 11 in the latest hour
        session.execute(update(ReportRow).where(ReportRow.report_id == "t-0")
                        .values(received_at=datetime.now(UTC) - 2 * HOUR))
    body = client.get("/v1/trends?window_minutes=60&windows=24", headers=keys.reviewer).json()
    assert body["windows"] == 24 and body["series"], body
    top = body["series"][0]
    assert top["latest"] == 11 and top["alert"] is True and sum(top["counts"]) == 12
    assert client.get("/v1/trends", headers=keys.intake).status_code == 403
    assert client.get("/v1/trends?windows=1", headers=keys.reviewer).status_code == 422
