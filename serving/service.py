"""Scoring reports: model, language, routing policy, then one transaction that stores it all.

Idempotent on ``report_id``: a report already stored is answered from the store (``replayed``), whatever
model or policy is in force now; the same ``report_id`` with other content is a conflict. A batch is
stored in one transaction, so a request either stores every new report of it or none.

The write path is built for single-report requests, the common case: a new report costs one indexed look-up
of its report_id (no ORM objects loaded) and one multi-row INSERT per table (reports, with RETURNING for the
ids; scores; routes; queue items; audit), not the ORM's unit of work per object, which cost about half of the
server's CPU per request (``benchmarks/http_cost.py``, BENCHMARKS.md). With group commit
(``serving.group_commit``, ``TRIAGE_GROUP_COMMIT_MAX_REPORTS``) the reports of concurrent requests share one
transaction and those INSERTs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from model.schema import Report
from model.scorer import Score, to_scores
from model.taxonomy import get_taxonomy
from serving import audit, webhooks
from serving.auth import Principal
from serving.batching import MicroBatcher
from serving.db.models import AuditRow, Base, QueueItemRow, ReportRow, RouteRow, ScoreRow, utcnow
from serving.group_commit import GroupCommitter
from serving.language import Detection, LanguageDetector
from serving.metrics import Metrics
from serving.model_loader import LoadedModel
from serving.pipeline import detect_languages, route_scored
from serving.policy import RoutingPolicy
from serving.routing import Action, Route, RuleName, page_at
from serving.schemas import (
    AreaOut,
    Decision,
    FiredRule,
    GreyAreaOut,
    LanguageOut,
    ModelOut,
    RiskOut,
    RouteOut,
)

log = logging.getLogger(__name__)


class ReportConflict(ValueError):
    """The same report_id was sent with other content."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def payload_digest(report: Report) -> str:
    """sha256 of the report as the client meant it: fields left at their defaults do not count, so sending
    ``"language": null`` or leaving it out is the same report (``created_at`` defaults to now)."""
    data = report.model_dump(mode="json", exclude_defaults=True)
    if "created_at" not in report.model_fields_set:
        data.pop("created_at", None)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class _Scored:
    report: Report
    digest: str
    score: Score
    detection: Detection
    route: Route


@dataclass(frozen=True, slots=True)
class _Pending:
    """One request's new reports, waiting to be stored (``GroupCommitter``)."""

    rows: list[ReportRow]
    scored: list[_Scored]
    actor: str


class ScoringService:
    """Scores with ``model`` through ``batcher`` (by default none: each call runs the model itself).

    The service owns its batcher: ``close()`` stops it once the service is no longer served. With
    ``webhook_events``, a high-risk report's webhook event is stored in the report's transaction."""

    def __init__(self, model: LoadedModel, policy: RoutingPolicy, detector: LanguageDetector,
                 sessions: sessionmaker[Session], metrics: Metrics, *, batcher: MicroBatcher | None = None,
                 webhook_events: bool = False, group_commit_max_reports: int = 0) -> None:
        self.model = model
        self.policy = policy
        self.detector = detector
        self.sessions = sessions
        self.metrics = metrics
        self.batcher = batcher or MicroBatcher(model.scorer.probabilities, max_wait_ms=0, metrics=metrics)
        self.webhook_events = webhook_events
        self.committer: GroupCommitter[_Pending] = GroupCommitter(
            sessions, self._insert, max_group=max(1, group_commit_max_reports), enabled=group_commit_max_reports > 0,
            metrics=metrics, name=f"triage-writer-{model.version}")

    def close(self, *, wait: bool = True) -> None:
        """Stop the batcher and the writer once the requests they hold are done; later calls still score and
        store (each in its own thread)."""
        self.batcher.close(wait=wait)
        self.committer.close(wait=wait)

    def score(self, reports: Sequence[Report], principal: Principal, *, field_prefix: str = "") -> list[Decision]:
        """Decisions for ``reports``, in order; new reports are scored and stored, known ones replayed."""
        digests = [payload_digest(r) for r in reports]
        unique = _unique_reports(reports, digests, field_prefix)
        for attempt in range(2):
            stored = self._stored(list(unique))
            _check_conflicts(reports, digests, stored, field_prefix)
            new = [unique[rid] for rid in unique if rid not in stored]
            try:
                created = self._score_and_store(new, principal) if new else {}
                break
            except IntegrityError:
                # Another request stored one of these report_ids between our read and our write: read again,
                # and answer those from the store.
                if attempt:
                    raise
                log.info("concurrent insert of a report_id; retrying from the store")
        decisions = []
        for rid in (r.report_id for r in reports):
            if rid in created:
                decisions.append(created[rid])
            else:
                self.metrics.replays.inc()
                decisions.append(decision_from_row(stored[rid], replayed=True))
        return decisions

    def _stored(self, report_ids: list[str]) -> dict[str, ReportRow]:
        """The stored reports among ``report_ids``, with their score and route. A plain look-up of the ids comes
        first: a new report (the common case) loads no ORM object."""
        with self.sessions() as session:
            found = session.connection().scalars(
                select(ReportRow.report_id).where(ReportRow.report_id.in_(report_ids))).all()
            if not found:
                return {}
            rows = session.scalars(_with_decision(ReportRow.report_id.in_(found)))
            return {row.report_id: row for row in rows}

    def _score_and_store(self, items: list[tuple[Report, str]], principal: Principal) -> dict[str, Decision]:
        received_at = utcnow()
        probabilities = self.batcher.submit([r.text for r, _ in items])
        # Language detection is pure Python (a few ms a report): it runs while the batcher scores the texts.
        meta = self.model.scorer.meta
        reports = [report for report, _ in items]
        detections = detect_languages(reports, meta, self.detector)
        scores = to_scores(meta, *probabilities.result())
        routes = route_scored(reports, scores, detections, meta, self.policy, received_at)
        scored = [_Scored(report, digest, score, detection, decided) for (report, digest), score, detection, decided
                  in zip(items, scores, detections, routes, strict=True)]
        rows = [self._rows(item, principal, received_at) for item in scored]
        self.committer.submit(_Pending(rows, scored, principal.key_id), len(rows)).result()
        for item in scored:
            self._count(item.route)
        return {row.report_id: decision_from_row(row, replayed=False) for row in rows}

    def _insert(self, session: Session, pending: Sequence[_Pending]) -> None:
        """The ``pending`` requests' rows (with their score and route), queue items, audit entries and webhook
        events, in the session's transaction: one INSERT per table for all of them. A report_id stored meanwhile
        by another request raises IntegrityError here, before anything is committed."""
        rows = [row for p in pending for row in p.rows]
        scored = [item for p in pending for item in p.scored]
        actors = [p.actor for p in pending for _ in p.rows]
        connection = session.connection()
        ids = connection.scalars(_INSERT_REPORTS, [column_values(row) for row in rows]).all()
        queue_items: list[QueueItemRow] = []
        audits: list[AuditRow] = []
        for row, report_pk, item, actor in zip(rows, ids, scored, actors, strict=True):
            row.id = row.score.report_pk = row.route.report_pk = report_pk
            decided = item.route
            if decided.action is not Action.AUTO_CLOSE and decided.queue is not None:
                kind = "qa" if any(r.name == "low.qa_sample" for r in decided.rules) else "primary"
                created_at = row.route.decided_at
                queue_items.append(QueueItemRow(
                    report_pk=report_pk, queue=decided.queue, kind=kind, status="open", priority=decided.priority,
                    due_at=decided.sla_deadline, created_at=created_at, claimed_by=None,
                    lease_expires_at=None, closed_at=None, blind_to=None, language=decided.language,
                    market=decided.market,
                    page_at=page_at(decided.queue, created_at, decided.sla_deadline, self.policy),
                ))
            audits.append(audit.entry(actor, "report.scored", "report", row.report_id, {
                "model": f"{self.model.name}:{self.model.version}", "policy_version": self.policy.version,
                "tier": decided.tier.value, "action": decided.action.value, "queue": decided.queue,
                "rules": [r.name for r in decided.rules],
            }))
            if self.webhook_events:
                webhooks.enqueue_for_route(session, row, decided, self.metrics)
        for table_rows in ([row.score for row in rows], [row.route for row in rows], queue_items, audits):
            if table_rows:
                connection.execute(_INSERT[type(table_rows[0])], [column_values(r) for r in table_rows])

    def _rows(self, item: _Scored, principal: Principal, received_at: datetime) -> ReportRow:
        """The report's row with its score and route, in no session yet."""
        report, score, decided = item.report, item.score, item.route
        now = utcnow()
        row = ReportRow(
            report_id=report.report_id, payload_sha256=item.digest, text=report.text, language_hint=report.language,
            reporter_type=report.reporter_type.value, channel=report.channel.value, surface=report.surface.value,
            reporter_reason=report.reporter_reason.value if report.reporter_reason else None,
            followers=report.account.followers, prior_strikes=report.account.prior_strikes,
            report_count=report.report_count, created_at=report.created_at, received_at=received_at,
            submitted_by=principal.key_id,
        )
        row.score = ScoreRow(
            model_name=self.model.name, model_version=self.model.version, model_tier=score.tier,
            tier_probs=score.tier_probs, area_probs=score.area_probs, areas=list(score.areas),
            high_risk_threshold=self.model.scorer.meta.thresholds.high_risk,
            area_thresholds=self.model.scorer.meta.thresholds.areas,
            detected_language=item.detection.language, language_confidence=item.detection.confidence,
            scored_at=now,
        )
        row.route = RouteRow(
            policy_version=self.policy.version, tier=decided.tier.value, language=decided.language,
            action=decided.action.value, queue=decided.queue, priority=decided.priority,
            sla_deadline=decided.sla_deadline, is_grey_area=decided.is_grey_area,
            grey_reasons=[{"name": r.name, "reason": r.reason} for r in decided.grey_area],
            rules=[{"name": r.name, "reason": r.reason} for r in decided.rules], decided_at=now,
            market=decided.market,
        )
        return row

    def _count(self, decided: Route) -> None:
        self.metrics.reports.labels(decided.tier.value, decided.queue or "none", decided.action.value).inc()
        self.metrics.languages.labels(decided.language or "und").inc()
        for rule in decided.grey_area:
            self.metrics.grey_areas.labels(rule.name).inc()


def column_values(row: Base) -> dict[str, Any]:
    """The column values set on ``row`` (an ORM object in no session), keyed by column for a Core INSERT;
    columns left unset (the primary key) take their defaults."""
    columns = _COLUMN_KEYS.get(type(row))
    if columns is None:
        columns = _COLUMN_KEYS[type(row)] = {a.key: a.columns[0].key for a in row.__mapper__.column_attrs}
    return {columns[key]: value for key, value in vars(row).items() if key in columns}


_COLUMN_KEYS: dict[type[Base], dict[str, str]] = {}
#: Core statements, built once: a new report's rows go in without the ORM's unit of work.
_REPORTS = cast(Table, ReportRow.__table__)
_INSERT_REPORTS = insert(_REPORTS).returning(_REPORTS.c.id, sort_by_parameter_order=True)
_INSERT: dict[type[Base], Any] = {
    cls: insert(cast(Table, cls.__table__)) for cls in (ScoreRow, RouteRow, QueueItemRow, AuditRow)}


def _unique_reports(reports: Sequence[Report], digests: Sequence[str], prefix: str) -> dict[str, tuple[Report, str]]:
    """First occurrence of each report_id; the same id twice with other content is a conflict."""
    unique: dict[str, tuple[Report, str]] = {}
    first: dict[str, int] = {}
    for i, (report, digest) in enumerate(zip(reports, digests, strict=True)):
        if report.report_id in unique:
            if unique[report.report_id][1] != digest:
                raise ReportConflict(f"{prefix}[{i}].report_id",
                                     f"report_id {report.report_id!r} appears at {prefix}[{first[report.report_id]}] "
                                     "with other content")
            continue
        unique[report.report_id] = (report, digest)
        first[report.report_id] = i
    return unique


def _check_conflicts(reports: Sequence[Report], digests: Sequence[str], stored: dict[str, ReportRow],
                     prefix: str) -> None:
    for i, (report, digest) in enumerate(zip(reports, digests, strict=True)):
        row = stored.get(report.report_id)
        if row is not None and row.payload_sha256 != digest:
            field = f"{prefix}[{i}].report_id" if prefix else "report_id"
            raise ReportConflict(field, f"report_id {report.report_id!r} was already scored with other content; "
                                        "send a new report_id for a new report")


def decision_from_row(row: ReportRow, *, replayed: bool) -> Decision:
    """The API's answer, built from what is stored: a replay answers exactly what was decided then."""
    score, decided = row.score, row.route
    rules = [FiredRule(**r) for r in decided.rules]
    unsupported = any(r.name in (RuleName.GREY_LANGUAGE_UNSUPPORTED, RuleName.GREY_LANGUAGE_UNDETECTED) for r in rules)
    thresholds = score.area_thresholds
    # Tier order, lowest first, whatever order the database kept the keys in (PostgreSQL's JSONB sorts them).
    tier_probs = {t: score.tier_probs[t] for t in get_taxonomy().tier_names if t in score.tier_probs}

    def strength(area: str) -> tuple[bool, float]:
        return area in score.areas, score.area_probs[area] - thresholds[area]

    areas = sorted(score.area_probs, key=strength, reverse=True)
    return Decision(
        report_id=row.report_id,
        risk=RiskOut(tier=decided.tier, model_tier=score.model_tier, probabilities=tier_probs,
                     high_risk_threshold=score.high_risk_threshold),
        policy_areas=[AreaOut(area=a, probability=score.area_probs[a], threshold=thresholds[a],
                              predicted=a in score.areas) for a in areas],
        language=LanguageOut(code=decided.language, detected=score.detected_language,
                             confidence=score.language_confidence, hint=row.language_hint,
                             supported=decided.language is not None and not unsupported),
        route=RouteOut(action=decided.action, queue=decided.queue, market=decided.market, priority=decided.priority,
                       sla_deadline=decided.sla_deadline, reasons=rules),
        grey_area=GreyAreaOut(is_grey_area=decided.is_grey_area,
                              reasons=[FiredRule(**r) for r in decided.grey_reasons]),
        model=ModelOut(name=score.model_name, version=score.model_version),
        policy_version=decided.policy_version,
        received_at=row.received_at,
        replayed=replayed,
    )


def _with_decision(condition: ColumnElement[bool]) -> Select[ReportRow]:
    """The reports matching ``condition`` with their score and route (what ``decision_from_row`` reads), in one
    SELECT joining both one-to-one relationships (``selectinload`` would add a query per relationship)."""
    return select(ReportRow).where(condition).options(joinedload(ReportRow.score), joinedload(ReportRow.route))


def find_decision(sessions: sessionmaker[Session], report_id: str) -> Decision | None:
    with sessions() as session:
        row = session.scalars(_with_decision(ReportRow.report_id == report_id)).one_or_none()
        return decision_from_row(row, replayed=True) if row is not None else None
