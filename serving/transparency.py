"""Transparency reporting: DSA statements of reasons and the transparency report.

``export_statements`` writes every enforcement decision decided in a period as a statement of reasons in the
shape of the EU DSA Transparency Database's API (one JSON object per line, no limit on rows, constant memory).
``transparency_report`` counts a period's decisions (per DSA category, per action, automated vs human), the
median time to action and the appeals (filed, decided, upheld, reversed, median time to decide);
``write_csv`` and ``write_html`` write it as a long-format CSV and as one self-contained HTML page with inline
SVG bar charts.

Which decisions are enforcement decisions: a reviewer's decision (``review_decisions``) whose action restricts
the content or the account (``ENFORCEMENT_ACTIONS``: remove, restrict, age_restrict, suspend_account).
``no_violation`` restricts nothing; ``warn_user`` restricts neither the content nor the account; the
escalations hand the report to another team, which decides (and files its own statement) elsewhere. Left out:
blind second reviews (``second_review`` items are QA checks that are never acted on), and an appeal's decision
that upholds the contested one (the restriction it confirms already has its statement; an appeal that reverses
to another restriction is a new decision and gets one). Routing's automated decisions only ever auto-close a
report (no restriction), so every statement is a reviewer's.

What the statement fields rely on (the DSA Transparency Database's API documentation and its source,
github.com/digital-services-act/transparency-database: ``resources/views/api.blade.php`` ("How to use the
API", the attribute list), ``app/Http/Requests/StatementsStoreRequest.php`` (validation rules) and
``app/Models/Statement.php`` (allowed values)); categories are schema v2 as in
``../shared/reference/dsa-statement-categories.md`` and ``model/taxonomy.toml``:

- ``decision_visibility`` is an array (DECISION_VISIBILITY_CONTENT_REMOVED, ..._DISABLED, ..._DEMOTED,
  ..._AGE_RESTRICTED, ..._INTERACTION_RESTRICTED, ..._LABELLED, ..._OTHER); ``decision_account`` one of
  DECISION_ACCOUNT_SUSPENDED / _TERMINATED; at least one of decision_visibility, decision_monetary,
  decision_provision, decision_account is required.
- ``decision_ground`` DECISION_GROUND_INCOMPATIBLE_CONTENT requires ``incompatible_content_ground`` (the
  contractual ground, max 500 characters) and ``incompatible_content_explanation`` (max 2,000);
  ``incompatible_content_illegal`` (Yes/No) is optional and left out: a reviewer judges the policy, not the law.
- ``content_type`` is a required array (CONTENT_TYPE_TEXT: reports are text); ``category`` one category,
  ``category_addition`` further categories, ``category_specification`` an array of KEYWORD_* values.
- ``territorial_scope``: an array of EU/EEA two-letter country codes (the EU's 27 by default: a decision on the
  terms and conditions applies everywhere); ``content_language``: an upper-case ISO 639-1 code, optional.
- ``content_date`` (the content's posting date) and ``application_date`` (when the decision applies):
  ``YYYY-MM-DD``.
- ``decision_facts``: required free text (max 5,000). The Database asks that statements carry no personal
  data, so ours is one sentence built from labels only: never the report text, never the reviewer's note.
- ``source_type``: SOURCE_ARTICLE_16, SOURCE_TRUSTED_FLAGGER, SOURCE_TYPE_OTHER_NOTIFICATION or
  SOURCE_VOLUNTARY; ``automated_detection`` "Yes"/"No"; ``automated_decision`` AUTOMATED_DECISION_FULLY,
  _PARTIALLY or _NOT_AUTOMATED.
- ``puid``: unique within the platform, at most 500 characters of ``[A-Za-z0-9_-]``. A report can have more
  than one enforcement decision (an appeal that reverses to another restriction), so the puid is the report_id
  (other characters replaced by ``_``) followed by ``-`` and the decision id: unique, and it names the report.

Our own ids travel under the ``triage`` key (not a DSA field; drop it before submitting): the decision id,
the report_id, the queue, the item kind, and the outcome of an appeal against the decision, if any. No
reviewer identity, no report text, no note.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from model.schema import ReporterType, ReviewAction
from model.taxonomy import PolicyArea, Taxonomy, get_taxonomy
from serving.appeals import AUTO_CLOSE, UPHELD
from serving.db.models import AppealRow, QueueItemRow, ReportRow, ReviewDecisionRow, RouteRow
from serving.queues import APPEAL, SECOND_REVIEW
from serving.schemas import Appellant

#: Actions that restrict the content or the account: the decisions that need a statement of reasons.
ENFORCEMENT_ACTIONS: tuple[ReviewAction, ...] = (
    ReviewAction.REMOVE, ReviewAction.RESTRICT, ReviewAction.AGE_RESTRICT, ReviewAction.SUSPEND_ACCOUNT,
)
#: Action -> (decision_visibility, decision_account). ``restrict`` keeps the content but hides it from view:
#: "disabling access to content" (not demotion, which leaves it reachable).
VISIBILITY_AND_ACCOUNT: dict[ReviewAction, tuple[list[str] | None, str | None]] = {
    ReviewAction.REMOVE: (["DECISION_VISIBILITY_CONTENT_REMOVED"], None),
    ReviewAction.RESTRICT: (["DECISION_VISIBILITY_CONTENT_DISABLED"], None),
    ReviewAction.AGE_RESTRICT: (["DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED"], None),
    ReviewAction.SUSPEND_ACCOUNT: (None, "DECISION_ACCOUNT_SUSPENDED"),
}
#: Reporter type -> source_type. A trusted flagger's notice is its own source; our own staff acting is the
#: platform's voluntary initiative; regulators and law enforcement send orders or requests, not Art. 16 notices
#: ("other type of notification"); anyone else (users, partners, press) files a notice under Art. 16.
SOURCE_TYPES: dict[ReporterType, str] = {
    ReporterType.USER: "SOURCE_ARTICLE_16",
    ReporterType.TRUSTED_FLAGGER: "SOURCE_TRUSTED_FLAGGER",
    ReporterType.PARTNER: "SOURCE_ARTICLE_16",
    ReporterType.PRESS: "SOURCE_ARTICLE_16",
    ReporterType.REGULATOR: "SOURCE_TYPE_OTHER_NOTIFICATION",
    ReporterType.LAW_ENFORCEMENT: "SOURCE_TYPE_OTHER_NOTIFICATION",
    ReporterType.INTERNAL: "SOURCE_VOLUNTARY",
}
DECISION_GROUND = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
#: Where a restricting decision names no violation area (the review form forbids it): the catch-all category.
FALLBACK_CATEGORY = "STATEMENT_CATEGORY_OTHER_VIOLATION_TC"
CONTENT_TYPE = ["CONTENT_TYPE_TEXT"]
#: The EU's member states, as the Database's ``EuropeanCountriesService::EUROPEAN_UNION_COUNTRY_CODES`` spells them.
EU_COUNTRIES: tuple[str, ...] = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
    "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)
DSA_DATE = "%Y-%m-%d"
_PUID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_ACTION_WORDS: dict[ReviewAction, str] = {
    ReviewAction.REMOVE: "removed the content",
    ReviewAction.RESTRICT: "disabled access to the content",
    ReviewAction.AGE_RESTRICT: "age-restricted the content",
    ReviewAction.SUSPEND_ACCOUNT: "suspended the account",
}
_SOURCE_WORDS: dict[ReporterType, str] = {
    ReporterType.USER: "a user's notice", ReporterType.TRUSTED_FLAGGER: "a trusted flagger's notice",
    ReporterType.PARTNER: "a partner's notice", ReporterType.PRESS: "a notice from the press",
    ReporterType.REGULATOR: "a regulator's notification",
    ReporterType.LAW_ENFORCEMENT: "a notification from law enforcement",
    ReporterType.INTERNAL: "our own staff's report",
}
YIELD_PER = 1000


# --- statements of reasons ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class EnforcementDecision:
    """What a statement of reasons is made from: labels and ids only (no report text, no note, no reviewer)."""

    decision_id: int
    report_id: str
    action: str
    policy_areas: Sequence[str]
    reporter_type: str
    #: The route's language (``pt-BR`` or ``pt``), None where undetected.
    language: str | None
    #: When the content was created (the report's ``created_at``) and when the decision was made.
    content_created_at: datetime
    decided_at: datetime
    #: When the report was received: the time to action runs from here to ``decided_at``.
    received_at: datetime
    queue: str
    item_kind: str
    #: The outcome of an appeal against this decision (``upheld``/``reversed``), None while there is none.
    appeal_outcome: str | None = None


def violation_areas(areas: Sequence[str]) -> list[str]:
    """The decision's areas without ``none``, in the decision's order, each once."""
    return list(dict.fromkeys(str(a) for a in areas if str(a) != PolicyArea.NONE.value))


def puid(report_id: str, decision_id: int) -> str:
    """``<report_id>-<decision_id>``, characters outside ``[A-Za-z0-9_-]`` replaced by ``_``: unique (the
    decision id after the last ``-`` is) and within the Database's 500 characters (report ids are at most 128)."""
    return f"{_PUID_UNSAFE.sub('_', report_id)}-{decision_id}"


def content_language(language: str | None) -> str | None:
    """The upper-case ISO 639-1 code of a language tag (``pt-BR`` -> ``PT``), None for anything else."""
    if not language:
        return None
    code = language.split("-")[0]
    return code.upper() if len(code) == 2 and code.isascii() and code.isalpha() else None


def dsa_categories(areas: Sequence[str], taxonomy: Taxonomy) -> tuple[list[str], list[str]]:
    """The DSA categories and keywords of violation areas, in the areas' order, each once; the first category is
    the statement's ``category`` (the catch-all where no area names one)."""
    definitions = [taxonomy.area(a) for a in areas if a in PolicyArea._value2member_map_]
    categories = list(dict.fromkeys(d.dsa_category for d in definitions if d.dsa_category))
    keywords = list(dict.fromkeys(d.dsa_keyword for d in definitions if d.dsa_keyword))
    return categories or [FALLBACK_CATEGORY], keywords


def source_type(reporter_type: str) -> str:
    try:
        return SOURCE_TYPES[ReporterType(reporter_type)]
    except ValueError:
        return "SOURCE_ARTICLE_16"


def _area_phrase(areas: Sequence[str]) -> str:
    names = [a.replace("_", " ") for a in areas]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def decision_facts(action: ReviewAction, areas: Sequence[str], reporter_type: str) -> str:
    """One factual sentence from labels only (never the report text or the reviewer's note)."""
    try:
        source = _SOURCE_WORDS[ReporterType(reporter_type)]
    except ValueError:
        source = "a notice"
    policy = f"the policy on {_area_phrase(areas)}" if areas else "the terms and conditions"
    return (f"After {source}, which an automated model scored for risk, a human reviewer found that the reported "
            f"text violates {policy} and {_ACTION_WORDS[action]}.")


def statement_of_reasons(decision: EnforcementDecision, taxonomy: Taxonomy | None = None,
                         territorial_scope: Sequence[str] = EU_COUNTRIES) -> dict[str, Any]:
    """The statement of reasons for an enforcement decision, in the Database's API shape, with our ids under
    ``triage``. ValueError for an action that restricts nothing (not an enforcement decision)."""
    taxonomy = taxonomy or get_taxonomy()
    action = ReviewAction(decision.action)
    if action not in VISIBILITY_AND_ACCOUNT:
        raise ValueError(f"{decision.action!r} restricts neither content nor account: no statement of reasons")
    areas = violation_areas(decision.policy_areas)
    definitions = [taxonomy.area(a) for a in areas if a in PolicyArea._value2member_map_]
    categories, keywords = dsa_categories(areas, taxonomy)
    visibility, account = VISIBILITY_AND_ACCOUNT[action]
    ground = ("Terms and conditions, policy area: " + ", ".join(areas)) if areas else "Terms and conditions"
    explanation = " ".join(f"{d.name.value}: {d.definition}" for d in definitions) or "A violation of the terms."
    statement: dict[str, Any] = {
        "decision_visibility": visibility,
        "decision_account": account,
        "decision_ground": DECISION_GROUND,
        "incompatible_content_ground": ground[:500],
        "incompatible_content_explanation": f"The content was found incompatible with: {explanation}"[:2000],
        "content_type": CONTENT_TYPE,
        "category": categories[0],
        "category_addition": categories[1:] or None,
        "category_specification": keywords or None,
        "territorial_scope": list(territorial_scope),
        "content_language": content_language(decision.language),
        "content_date": decision.content_created_at.strftime(DSA_DATE),
        "application_date": decision.decided_at.strftime(DSA_DATE),
        "decision_facts": decision_facts(action, areas, decision.reporter_type),
        "source_type": source_type(decision.reporter_type),
        # Our model scored every report before anyone saw it; the decision is a person's.
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "puid": puid(decision.report_id, decision.decision_id),
    }
    statement = {k: v for k, v in statement.items() if v is not None}
    statement["triage"] = {
        "decision_id": decision.decision_id, "report_id": decision.report_id, "action": decision.action,
        "policy_areas": areas, "queue": decision.queue, "item_kind": decision.item_kind,
        "decided_at": decision.decided_at.isoformat(), "appeal_outcome": decision.appeal_outcome,
    }
    return statement


def _check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if start >= end:
        raise ValueError(f"the period is empty: start {start.isoformat()} is not before end {end.isoformat()}")


def _enforcement_query(start: datetime, end: datetime) -> Select[Any]:
    """Enforcement decisions decided in [start, end), in decision-id order: columns only (never report text)."""
    own_appeal = aliased(AppealRow)
    contesting = (select(AppealRow.outcome).where(AppealRow.contested_decision_id == ReviewDecisionRow.id)
                  .order_by(AppealRow.id.desc()).limit(1).correlate(ReviewDecisionRow).scalar_subquery())
    return (
        select(ReviewDecisionRow.id, ReportRow.report_id, ReviewDecisionRow.action, ReviewDecisionRow.policy_areas,
               ReportRow.reporter_type, RouteRow.language, ReportRow.created_at, ReviewDecisionRow.decided_at,
               QueueItemRow.queue, QueueItemRow.kind, contesting, ReportRow.received_at)
        .join(QueueItemRow, QueueItemRow.id == ReviewDecisionRow.queue_item_id)
        .join(ReportRow, ReportRow.id == ReviewDecisionRow.report_pk)
        .outerjoin(RouteRow, RouteRow.report_pk == ReportRow.id)
        .outerjoin(own_appeal, own_appeal.decision_id == ReviewDecisionRow.id)
        .where(ReviewDecisionRow.decided_at >= start, ReviewDecisionRow.decided_at < end,
               ReviewDecisionRow.action.in_([a.value for a in ENFORCEMENT_ACTIONS]),
               QueueItemRow.kind != SECOND_REVIEW,
               or_(QueueItemRow.kind != APPEAL, own_appeal.outcome.is_(None), own_appeal.outcome != UPHELD))
        .order_by(ReviewDecisionRow.id)
    )


def enforcement_decisions(session: Session, start: datetime, end: datetime) -> Iterator[EnforcementDecision]:
    """Stream the enforcement decisions decided in [start, end), in decision-id order (``yield_per``: constant
    memory, no limit on rows)."""
    _check_period(start, end)
    query = _enforcement_query(start, end).execution_options(yield_per=YIELD_PER)
    for (decision_id, report_id, action, areas, reporter_type, language, created_at, decided_at, queue, kind,
         appeal_outcome, received_at) in session.execute(query):
        yield EnforcementDecision(decision_id=decision_id, report_id=report_id, action=action,
                                  policy_areas=list(areas), reporter_type=reporter_type, language=language,
                                  content_created_at=created_at, decided_at=decided_at, queue=queue, item_kind=kind,
                                  appeal_outcome=appeal_outcome, received_at=received_at)


@dataclass(frozen=True, slots=True)
class StatementsSummary:
    path: Path
    #: Statements written: one per enforcement decision in the period.
    written: int
    start: datetime
    end: datetime
    by_category: dict[str, int] = field(default_factory=dict)


def export_statements(sessions: sessionmaker[Session], out: Path, start: datetime, end: datetime,
                      territorial_scope: Sequence[str] = EU_COUNTRIES) -> StatementsSummary:
    """Write a statement of reasons for every enforcement decision decided in [start, end) to ``out`` as JSON
    Lines, in decision-id order. Streams (``yield_per``): every row, in constant memory. Written to a temporary
    file beside ``out`` and renamed over it, so a reader never sees a partial export. ``start`` and ``end`` must
    be timezone-aware."""
    _check_period(start, end)
    taxonomy = get_taxonomy()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    written = 0
    categories: Counter[str] = Counter()
    try:
        with sessions() as session, tmp.open("w", encoding="utf-8") as handle:
            for decision in enforcement_decisions(session, start, end):
                statement = statement_of_reasons(decision, taxonomy, territorial_scope)
                handle.write(json.dumps(statement, ensure_ascii=False) + "\n")
                written += 1
                categories[statement["category"]] += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return StatementsSummary(path=out, written=written, start=start, end=end, by_category=dict(categories))


# --- the transparency report -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AppealFigures:
    #: Appeals received in the period, per appellant (``reporter``, ``affected_user``).
    filed_by_appellant: dict[str, int]
    #: Appeals decided in the period (whenever filed), and of those, upheld and reversed.
    decided: int
    upheld: int
    reversed: int
    #: Hours from an appeal's receipt to its decision, median over the appeals decided in the period.
    median_hours_to_decide: float | None

    @property
    def filed(self) -> int:
        return sum(self.filed_by_appellant.values())

    @property
    def reversal_rate(self) -> float | None:
        """Reversed / decided; None when none was decided."""
        return self.reversed / self.decided if self.decided else None


@dataclass(frozen=True, slots=True)
class TransparencyReport:
    start: datetime
    end: datetime
    #: Enforcement decisions (statements of reasons) per DSA category of their first violation area.
    enforcement_by_category: dict[str, int]
    #: Enforcement decisions per action.
    enforcement_by_action: dict[str, int]
    #: Every reviewer decision per action (second reviews excluded), restricting or not.
    decisions_by_action: dict[str, int]
    #: Reports received in the period that routing closed automatically (no restriction).
    automated_decisions: int
    #: Reviewer decisions made in the period (second reviews excluded).
    human_decisions: int
    #: Hours from a report's receipt to its enforcement decision: median over the period's enforcement decisions.
    median_hours_to_action: float | None
    appeals: AppealFigures

    @property
    def enforcement_decisions(self) -> int:
        return sum(self.enforcement_by_category.values())


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _all_categories(taxonomy: Taxonomy) -> list[str]:
    return list(dict.fromkeys(a.dsa_category for a in taxonomy.areas if a.dsa_category))


def _appeal_figures(session: Session, start: datetime, end: datetime) -> AppealFigures:
    filed = dict.fromkeys((a.value for a in Appellant), 0)
    for appellant, count in session.execute(
            select(AppealRow.appellant, func.count()).where(AppealRow.received_at >= start, AppealRow.received_at < end)
            .group_by(AppealRow.appellant)):
        filed[appellant] = count
    outcomes: Counter[str] = Counter()
    hours: list[float] = []
    query = (select(AppealRow.outcome, AppealRow.received_at, AppealRow.decided_at)
             .where(AppealRow.decided_at.is_not(None), AppealRow.decided_at >= start, AppealRow.decided_at < end)
             .execution_options(yield_per=YIELD_PER))
    for outcome, received_at, decided_at in session.execute(query):
        outcomes[outcome or ""] += 1
        hours.append(_hours(decided_at or received_at, received_at))
    return AppealFigures(filed_by_appellant=filed, decided=len(hours), upheld=outcomes[UPHELD],
                         reversed=sum(n for o, n in outcomes.items() if o != UPHELD),
                         median_hours_to_decide=_median(hours))


def transparency_report(session: Session, start: datetime, end: datetime) -> TransparencyReport:
    """The figures of [start, end). Medians are computed here over the streamed values, so they are the same on
    SQLite and PostgreSQL (neither's SQL has a portable median)."""
    _check_period(start, end)
    taxonomy = get_taxonomy()
    by_category = dict.fromkeys(_all_categories(taxonomy), 0)
    by_action = dict.fromkeys((a.value for a in ENFORCEMENT_ACTIONS), 0)
    hours: list[float] = []
    for decision in enforcement_decisions(session, start, end):
        category = dsa_categories(violation_areas(decision.policy_areas), taxonomy)[0][0]
        by_category[category] = by_category.get(category, 0) + 1
        by_action[decision.action] = by_action.get(decision.action, 0) + 1
        hours.append(_hours(decision.decided_at, decision.received_at))
    decisions_by_action = dict.fromkeys((a.value for a in ReviewAction), 0)
    for action, count in session.execute(
            select(ReviewDecisionRow.action, func.count())
            .join(QueueItemRow, QueueItemRow.id == ReviewDecisionRow.queue_item_id)
            .where(ReviewDecisionRow.decided_at >= start, ReviewDecisionRow.decided_at < end,
                   QueueItemRow.kind != SECOND_REVIEW)
            .group_by(ReviewDecisionRow.action)):
        decisions_by_action[action] = count
    automated = session.scalar(
        select(func.count()).select_from(RouteRow).join(ReportRow, ReportRow.id == RouteRow.report_pk)
        .where(and_(RouteRow.action == AUTO_CLOSE, ReportRow.received_at >= start, ReportRow.received_at < end)))
    return TransparencyReport(
        start=start, end=end, enforcement_by_category=by_category, enforcement_by_action=by_action,
        decisions_by_action=decisions_by_action, automated_decisions=int(automated or 0),
        human_decisions=sum(decisions_by_action.values()), median_hours_to_action=_median(hours),
        appeals=_appeal_figures(session, start, end))


# --- CSV and HTML ------------------------------------------------------------------------------------------

def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.4f}".rstrip("0").rstrip(".")


def report_rows(report: TransparencyReport) -> list[tuple[str, str, str]]:
    """The report as (section, key, value) rows: one long table a spreadsheet can pivot."""
    appeals = report.appeals
    rows = [("period", "from", report.start.isoformat()), ("period", "to_exclusive", report.end.isoformat())]
    rows += [("enforcement_by_category", k, _number(v)) for k, v in report.enforcement_by_category.items()]
    rows += [("enforcement_by_action", k, _number(v)) for k, v in report.enforcement_by_action.items()]
    rows += [("decisions_by_action", k, _number(v)) for k, v in report.decisions_by_action.items()]
    rows += [("decisions", "automated", _number(report.automated_decisions)),
             ("decisions", "human", _number(report.human_decisions)),
             ("decisions", "enforcement", _number(report.enforcement_decisions)),
             ("time_to_action", "median_hours", _number(report.median_hours_to_action))]
    rows += [("appeals_filed_by_appellant", k, _number(v)) for k, v in appeals.filed_by_appellant.items()]
    rows += [("appeals", "filed", _number(appeals.filed)), ("appeals", "decided", _number(appeals.decided)),
             ("appeals", "upheld", _number(appeals.upheld)), ("appeals", "reversed", _number(appeals.reversed)),
             ("appeals", "reversal_rate", _number(appeals.reversal_rate)),
             ("appeals", "median_hours_to_decide", _number(appeals.median_hours_to_decide))]
    return rows


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(report: TransparencyReport, path: Path) -> Path:
    """The report as CSV with the columns section, key, value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("section", "key", "value"))
            writer.writerows(report_rows(report))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _label(key: str) -> str:
    """``STATEMENT_CATEGORY_SELF_HARM`` -> ``self harm``; ``age_restrict`` -> ``age restrict``."""
    return key.removeprefix("STATEMENT_CATEGORY_").replace("_", " ").lower()


def bar_chart(title: str, bars: Sequence[tuple[str, float]]) -> str:
    """A horizontal bar chart as inline SVG: one row per (label, value), labels and title escaped."""
    row, label_width, bar_width, top = 22, 330, 300, 28
    height = top + row * max(len(bars), 1) + 8
    peak = max((v for _, v in bars), default=0) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_width + bar_width + 70}" height="{height}" '
             f'role="img" aria-label="{html.escape(title)}">',
             f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        width = round(bar_width * value / peak)
        parts += [f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end">{html.escape(label)}</text>',
                  f'<rect x="{label_width}" y="{y + 2}" width="{width}" height="{row - 6}" fill="#3b6ea5"/>',
                  f'<text x="{label_width + width + 4}" y="{y + 14}">{html.escape(_number(value))}</text>']
    parts.append("</svg>")
    return "\n".join(parts)


def _table(rows: list[tuple[str, str, str]]) -> str:
    body = "\n".join(f"<tr><td>{html.escape(s)}</td><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                     for s, k, v in rows)
    return f"<table><thead><tr><th>section</th><th>key</th><th>value</th></tr></thead><tbody>\n{body}\n</tbody></table>"


def render_html(report: TransparencyReport) -> str:
    """One self-contained page (no external assets, no JavaScript): headline figures, four bar charts, and the
    full table. Every label is escaped."""
    appeals = report.appeals
    period = f"{report.start.isoformat()} to {report.end.isoformat()} (end exclusive)"
    charts = [
        bar_chart("Enforcement decisions per DSA category",
                  [(_label(k), v) for k, v in report.enforcement_by_category.items()]),
        bar_chart("Reviewer decisions per action", [(_label(k), v) for k, v in report.decisions_by_action.items()]),
        bar_chart("Automated vs human decisions",
                  [("automated (auto-closed)", report.automated_decisions),
                   ("human (reviewer)", report.human_decisions)]),
        bar_chart("Appeals decided", [("upheld", appeals.upheld), ("reversed", appeals.reversed)]),
    ]
    headline = [
        ("Enforcement decisions (statements of reasons)", _number(report.enforcement_decisions)),
        ("Median time to action (hours)", _number(report.median_hours_to_action) or "n/a"),
        ("Appeals filed / decided", f"{appeals.filed} / {appeals.decided}"),
        ("Appeal reversal rate", f"{appeals.reversal_rate:.1%}" if appeals.reversal_rate is not None else "n/a"),
        ("Median time to decide an appeal (hours)", _number(appeals.median_hours_to_decide) or "n/a"),
    ]
    items = "\n".join(f"<li>{html.escape(k)}: <strong>{html.escape(v)}</strong></li>" for k, v in headline)
    figures = "\n".join(f"<figure>{c}</figure>" for c in charts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Transparency report {html.escape(period)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
svg text {{ font-size: 12px; font-family: sans-serif; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
figure {{ margin: 1em 0; }}
</style>
</head>
<body>
<h1>Transparency report</h1>
<p>Period: {html.escape(period)}. Enforcement decisions are reviewer decisions that remove, restrict or
age-restrict content or suspend an account (blind second reviews and appeals that uphold excluded).</p>
<ul>
{items}
</ul>
{figures}
<h2>All figures</h2>
{_table(report_rows(report))}
</body>
</html>
"""


def write_html(report: TransparencyReport, path: Path) -> Path:
    _write_atomically(path, render_html(report))
    return path
