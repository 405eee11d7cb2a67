"""Reviewer decisions as training data: an export in the corpus's generic format.

``export_decisions`` writes one JSON line per reviewer decision in the format of
``training.data.generic`` (``text``, ``language``, ``policy_areas``, ``risk_tier``, ``id``, ``group_id``,
``label_confidence``), with where the label came from as extra fields, which the corpus keeps as metadata:
``source`` (``reviewer_decision``), ``report_id``, ``reviewer`` (the API key id), ``decided_at`` (ISO
8601, UTC), ``queue``, ``item_kind`` (``primary``, ``qa``, ``second_review`` or ``appeal``), ``action``,
``model_version`` (``name:version`` of the model that scored the report), ``model_tier`` and
``model_areas`` (what the model said) and ``model_agreed_tier`` / ``model_agreed_areas`` (whether the
reviewer agreed with it; areas as sets, ``none`` ignored) and, for an appeal's decision, ``appeal_outcome``
(``upheld`` or ``reversed``).

A decision that an appeal reversed is left out (and counted): the appeal's decision, made by another reviewer on
the appellant's reasons, is the report's label, and it is not counted as a disagreement with the decision it
replaced.

``triage data build --decisions FILE`` reads the file as the source ``reviewer_decisions``.

Decisions on reports whose text retention has redacted (``serving.retention``) are skipped and counted: the
placeholder is no training text.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from model.schema import ExportedDecision
from serving.appeals import REVERSED
from serving.db.models import AppealRow, QueueItemRow, ReportRow, ReviewDecisionRow, RouteRow, ScoreRow
from serving.retention import REDACTED_TEXT
from serving.routing import base_language

SOURCE = "reviewer_decision"
#: What a second review that disagrees with the first leaves of each one's label confidence.
DISAGREEMENT_CONFIDENCE = 0.5
NONE_AREA = "none"


@dataclass(frozen=True, slots=True)
class ExportSummary:
    path: Path
    #: Rows written: one per decision.
    written: int
    #: Decisions left out because their report has no language (no route, detected or hinted language).
    skipped_no_language: int
    #: Reports among those written whose reviews disagree (their rows carry label confidence 0.5).
    disagreements: int
    #: Decisions left out because retention redacted their report's text.
    skipped_redacted: int = 0
    #: Decisions left out because an appeal reversed them (the appeal's decision is exported instead).
    skipped_reversed: int = 0


def _label(tier: str, areas: list[Any]) -> tuple[str, frozenset[str]]:
    return tier, frozenset(str(a) for a in areas)


def _reversed_decisions(session: Session) -> set[int]:
    """The decisions that an appeal reversed."""
    return set(session.scalars(select(AppealRow.contested_decision_id).where(
        AppealRow.outcome == REVERSED, AppealRow.contested_decision_id.is_not(None))))


def _disagreeing_reports(session: Session, since: datetime | None, reversed_: set[int]) -> tuple[set[int], set[int]]:
    """The decisions in the window, and the reports whose decisions (in the window or before, reversed ones
    left out) disagree."""
    query = select(ReviewDecisionRow.id, ReviewDecisionRow.report_pk, ReviewDecisionRow.risk_tier,
                   ReviewDecisionRow.policy_areas, ReviewDecisionRow.decided_at)
    if since is not None:
        touched = select(ReviewDecisionRow.report_pk).where(ReviewDecisionRow.decided_at >= since)
        query = query.where(ReviewDecisionRow.report_pk.in_(touched))
    labels: dict[int, set[tuple[str, frozenset[str]]]] = defaultdict(set)
    window: set[int] = set()
    for decision_id, report_pk, tier, areas, decided_at in session.execute(query):
        if since is None or decided_at >= since:
            window.add(decision_id)
        if decision_id not in reversed_:
            labels[report_pk].add(_label(tier, areas))
    return window, {report_pk for report_pk, seen in labels.items() if len(seen) > 1}


def _language(route: RouteRow | None, score: ScoreRow | None, report: ReportRow) -> str | None:
    for tag in (route.language if route else None, score.detected_language if score else None,
                report.language_hint):
        if tag:
            return base_language(tag)
    return None


def _areas_without_none(areas: list[Any]) -> set[str]:
    return {str(a) for a in areas} - {NONE_AREA}


def _record(decision: ReviewDecisionRow, item: QueueItemRow, report: ReportRow, score: ScoreRow | None,
            language: str, confidence: float, appeal_outcome: str | None = None) -> ExportedDecision:
    model_areas = [str(a) for a in score.areas] if score else []
    return ExportedDecision(
        text=report.text,
        language=language,
        policy_areas=[str(a) for a in decision.policy_areas],
        risk_tier=decision.risk_tier,
        id=f"decision-{decision.id}",
        group_id=report.report_id,
        label_confidence=confidence,
        source=SOURCE,
        report_id=report.report_id,
        reviewer=decision.reviewer,
        decided_at=decision.decided_at.isoformat(),
        queue=item.queue,
        item_kind=item.kind,
        action=decision.action,
        model_version=decision.model_version,
        model_tier=score.model_tier if score else None,
        model_areas=model_areas,
        model_agreed_tier=score is not None and decision.risk_tier == score.model_tier,
        model_agreed_areas=score is not None
        and _areas_without_none(decision.policy_areas) == _areas_without_none(model_areas),
        appeal_outcome=appeal_outcome,
    )


def export_decisions(sessions: sessionmaker[Session], out: Path, since: datetime | None = None) -> ExportSummary:
    """Write reviewer decisions (decided at or after ``since``, if given) to ``out`` as JSON Lines.

    One row per decision, in decision-id order; ``group_id`` is the ``report_id``, so the reviews of one
    report stay in one split. The language is the route's, else the detected one, else the intake's hint
    (base code: ``pt-BR`` -> ``pt``); a report with none of them cannot be a corpus row and its decisions
    are skipped and counted. When the reviews of one report disagree (a blind second review giving another
    tier or other areas than the first), every one of them is written with ``label_confidence`` 0.5, and
    agreeing reviews keep 1.0. Disagreement is judged on all of the report's decisions, also those before
    ``since``. The corpus build keeps one row per text, so of two reviews of a report it keeps the first.

    The reviewer's free-text note is NOT exported: it may hold personal data (names, contact details,
    account handles) that must not enter a training corpus. The report text is exported: it is the
    training input, so the file is as sensitive as the database's ``reports`` table. A report whose text
    retention redacted has none to export: its decisions are skipped and counted (``skipped_redacted``).

    The file is written to a temporary file beside ``out`` and renamed over it, so a reader never sees a
    partial export. ``since`` must be timezone-aware.
    """
    if since is not None and since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    written = skipped = redacted = reversed_skipped = 0
    disagreeing_written: set[int] = set()
    try:
        with sessions() as session, tmp.open("w", encoding="utf-8") as handle:
            reversed_ = _reversed_decisions(session)
            window, disagreeing = _disagreeing_reports(session, since, reversed_)
            query = (
                select(ReviewDecisionRow, QueueItemRow, ReportRow, ScoreRow, RouteRow, AppealRow.outcome)
                .join(QueueItemRow, QueueItemRow.id == ReviewDecisionRow.queue_item_id)
                .join(ReportRow, ReportRow.id == ReviewDecisionRow.report_pk)
                .outerjoin(ScoreRow, ScoreRow.report_pk == ReportRow.id)
                .outerjoin(RouteRow, RouteRow.report_pk == ReportRow.id)
                .outerjoin(AppealRow, AppealRow.decision_id == ReviewDecisionRow.id)
                .order_by(ReviewDecisionRow.id)
                .execution_options(yield_per=500)
            )
            if since is not None:
                query = query.where(ReviewDecisionRow.decided_at >= since)
            for decision, item, report, score, route, appeal_outcome in session.execute(query):
                if decision.id not in window:  # decided after the disagreement check began
                    continue
                if decision.id in reversed_:
                    reversed_skipped += 1
                    continue
                if report.text == REDACTED_TEXT:
                    redacted += 1
                    continue
                language = _language(route, score, report)
                if language is None:
                    skipped += 1
                    continue
                disagrees = decision.report_pk in disagreeing
                confidence = DISAGREEMENT_CONFIDENCE if disagrees else 1.0
                record = _record(decision, item, report, score, language, confidence, appeal_outcome)
                handle.write(json.dumps(record.model_dump(), ensure_ascii=False) + "\n")
                written += 1
                if disagrees:
                    disagreeing_written.add(decision.report_pk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportSummary(path=out, written=written, skipped_no_language=skipped,
                         disagreements=len(disagreeing_written), skipped_redacted=redacted,
                         skipped_reversed=reversed_skipped)
