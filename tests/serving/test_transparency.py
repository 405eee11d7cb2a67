"""Transparency reporting: every enforcement decision of a period exported as a DSA statement of reasons (no row
limit, no report text, no note), and the transparency report's counts, medians and appeal figures, as CSV and a
self-contained HTML page; on SQLite and PostgreSQL, and through `triage report`."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from model.settings import get_settings
from serving.auth import Role, create_key
from serving.db.engine import make_engine, make_sessionmaker, transaction, upgrade
from serving.db.models import AppealRow, QueueItemRow, ReportRow, ReviewDecisionRow, RouteRow
from serving.transparency import (
    EU_COUNTRIES,
    AppealFigures,
    EnforcementDecision,
    TransparencyReport,
    export_statements,
    render_html,
    statement_of_reasons,
    transparency_report,
    write_csv,
    write_html,
)
from tests.support.api import Keys, press_reports

API = tuple[TestClient, Keys]
T0 = datetime(2025, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECRET_TEXT = "Jane Roe lives at 12 Secret Lane"
SECRET_NOTE = "reviewer note: call +44 20 7946 0958"


# --- helpers ---------------------------------------------------------------------------------------------------

def decision(**fields: Any) -> EnforcementDecision:
    base: dict[str, Any] = {
        "decision_id": 7, "report_id": "r-1", "action": "remove", "policy_areas": ["hate_speech"],
        "reporter_type": "user", "language": "de", "content_created_at": datetime(2025, 2, 27, 23, 0, tzinfo=UTC),
        "decided_at": datetime(2025, 3, 1, 8, 30, tzinfo=UTC), "received_at": datetime(2025, 2, 28, 9, 0, tzinfo=UTC),
        "queue": "policy_hate", "item_kind": "primary"}
    return EnforcementDecision(**{**base, **fields})


def database(url: str) -> sessionmaker[Session]:
    engine = make_engine(url)
    upgrade(engine)
    return make_sessionmaker(engine)


class Seed:
    """Rows inserted directly with SQLAlchemy Core (fast): reports with a route, queue items, decisions, appeals."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.numbers = count()

    def report(self, received_at: datetime, *, route_action: str = "review", reporter_type: str = "user",
               language: str | None = "en") -> int:
        i = next(self.numbers)
        pk: int = self.session.execute(insert(ReportRow).returning(ReportRow.id), [{
            "report_id": f"r-{i}", "payload_sha256": "0" * 64, "text": SECRET_TEXT, "language_hint": None,
            "reporter_type": reporter_type, "channel": "in_app", "surface": "post", "reporter_reason": None,
            "followers": None, "prior_strikes": None, "report_count": 1, "created_at": received_at,
            "received_at": received_at, "submitted_by": None}]).scalar_one()
        self.session.execute(insert(RouteRow), [{
            "report_pk": pk, "policy_version": "test", "tier": "medium", "language": language, "action": route_action,
            "queue": None if route_action == "auto_close" else "human_escalation", "priority": 1,
            "sla_deadline": None, "is_grey_area": False, "grey_reasons": [], "rules": [], "decided_at": received_at,
            "market": None}])
        return pk

    def item(self, report_pk: int, at: datetime, kind: str = "primary") -> int:
        item_id: int = self.session.execute(insert(QueueItemRow).returning(QueueItemRow.id), [{
            "report_pk": report_pk, "queue": "human_escalation", "kind": kind, "status": "done", "priority": 1,
            "due_at": None, "created_at": at, "claimed_by": "k1", "lease_expires_at": None, "closed_at": at,
            "blind_to": None}]).scalar_one()
        return item_id

    def decide(self, report_pk: int, at: datetime, action: str = "remove", areas: list[str] | None = None,
               kind: str = "primary") -> int:
        item_id = self.item(report_pk, at, kind)
        decision_id: int = self.session.execute(insert(ReviewDecisionRow).returning(ReviewDecisionRow.id), [{
            "queue_item_id": item_id, "report_pk": report_pk, "reviewer": "k1", "risk_tier": "medium",
            "policy_areas": areas or (["none"] if action == "no_violation" else ["hate_speech"]), "action": action,
            "note": SECRET_NOTE, "model_version": "m:1", "decided_at": at}]).scalar_one()
        return decision_id

    def appeal(self, report_pk: int, received_at: datetime, contested: int | None, contested_action: str, *,
               appellant: str = "affected_user", decided_at: datetime | None = None, action: str = "no_violation",
               outcome: str | None = None) -> int | None:
        """An appeal; when ``decided_at`` is given, decided there by an appeal item's decision (its id returned)."""
        decision_id = self.decide(report_pk, decided_at, action, kind="appeal") if decided_at else None
        self.session.execute(insert(AppealRow), [{
            "appeal_id": f"ap-{next(self.numbers)}", "payload_sha256": "0" * 64, "report_pk": report_pk,
            "appellant": appellant, "reason": "private reason", "submitted_by": "k0", "received_at": received_at,
            "contested_decision_id": contested, "contested_action": contested_action, "contested_at": received_at,
            "queue_item_id": self.item(report_pk, received_at, "appeal"),
            "status": "decided" if decided_at else "open", "outcome": outcome, "decision_id": decision_id,
            "decided_at": decided_at}])
        return decision_id


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- the statement of reasons ----------------------------------------------------------------------------------

def test_a_statement_has_the_databases_fields_and_maps_areas_to_dsa_categories_and_keywords() -> None:
    statement = statement_of_reasons(decision(
        decision_id=42, report_id="ext/7 a", policy_areas=["adult_sexual", "harassment", "none"],
        reporter_type="trusted_flagger", language="pt-BR"))
    triage = statement.pop("triage")
    assert statement == {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        "incompatible_content_ground": "Terms and conditions, policy area: adult_sexual, harassment",
        "incompatible_content_explanation": statement["incompatible_content_explanation"],
        "content_type": ["CONTENT_TYPE_TEXT"],
        "category": "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
        "category_addition": ["STATEMENT_CATEGORY_CYBER_VIOLENCE"],
        "category_specification": ["KEYWORD_ADULT_SEXUAL_MATERIAL"],
        "territorial_scope": list(EU_COUNTRIES),
        "content_language": "PT",
        "content_date": "2025-02-27",
        "application_date": "2025-03-01",
        "decision_facts": "After a trusted flagger's notice, which an automated model scored for risk, a human "
                          "reviewer found that the reported text violates the policy on adult sexual and harassment "
                          "and removed the content.",
        "source_type": "SOURCE_TRUSTED_FLAGGER",
        "automated_detection": "Yes",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "puid": "ext_7_a-42",
    }
    assert statement["incompatible_content_explanation"].startswith("The content was found incompatible with: "
                                                                    "adult_sexual: Sexually explicit content")
    assert triage == {"decision_id": 42, "report_id": "ext/7 a", "action": "remove",
                      "policy_areas": ["adult_sexual", "harassment"], "queue": "policy_hate", "item_kind": "primary",
                      "decided_at": "2025-03-01T08:30:00+00:00", "appeal_outcome": None}
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,500}", statement["puid"])


@pytest.mark.parametrize(("action", "visibility", "account"), [
    ("remove", ["DECISION_VISIBILITY_CONTENT_REMOVED"], None),
    ("restrict", ["DECISION_VISIBILITY_CONTENT_DISABLED"], None),
    ("age_restrict", ["DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED"], None),
    ("suspend_account", None, "DECISION_ACCOUNT_SUSPENDED"),
])
def test_each_enforcement_action_names_its_restriction(action: str, visibility: list[str] | None,
                                                       account: str | None) -> None:
    statement = statement_of_reasons(decision(action=action))
    assert (statement.get("decision_visibility"), statement.get("decision_account")) == (visibility, account)


@pytest.mark.parametrize("action", ["no_violation", "warn_user", "escalate_legal", "escalate_partner",
                                    "escalate_law_enforcement"])
def test_an_action_that_restricts_nothing_has_no_statement(action: str) -> None:
    with pytest.raises(ValueError, match="restricts neither content nor account"):
        statement_of_reasons(decision(action=action))


@pytest.mark.parametrize(("reporter_type", "source_type"), [
    ("user", "SOURCE_ARTICLE_16"), ("trusted_flagger", "SOURCE_TRUSTED_FLAGGER"), ("partner", "SOURCE_ARTICLE_16"),
    ("press", "SOURCE_ARTICLE_16"), ("regulator", "SOURCE_TYPE_OTHER_NOTIFICATION"),
    ("law_enforcement", "SOURCE_TYPE_OTHER_NOTIFICATION"), ("internal", "SOURCE_VOLUNTARY"),
])
def test_the_reporter_type_gives_the_source_type(reporter_type: str, source_type: str) -> None:
    assert statement_of_reasons(decision(reporter_type=reporter_type))["source_type"] == source_type


def test_every_violation_area_maps_to_a_category_and_an_unknown_language_is_left_out() -> None:
    from model.taxonomy import VIOLATION_AREAS, get_taxonomy

    for area in VIOLATION_AREAS:
        statement = statement_of_reasons(decision(policy_areas=[area.value], language=None))
        assert statement["category"] == get_taxonomy().area(area).dsa_category
        assert "content_language" not in statement


# --- the export: through the API -------------------------------------------------------------------------------

def claim_and_decide(client: TestClient, headers: dict[str, str], body: dict[str, Any],
                     queue: str = "human_escalation") -> dict[str, Any]:
    item: dict[str, Any] = client.post(f"/v1/queues/{queue}:claim", headers=headers).json()
    assert client.post(f"/v1/items/{item['id']}:decide", json=body, headers=headers).status_code == 200
    return item


def test_only_enforcement_decisions_are_exported_without_report_text_or_note_and_appeals_are_counted(
        api_on_each_database: API, tmp_path: Path) -> None:
    client, keys = api_on_each_database
    start = datetime.now(UTC) - HOUR
    reports = [{"report_id": f"s-{i}", "text": f"{SECRET_TEXT} ({i})", "reporter_type": "press"} for i in range(3)]
    assert client.post("/v1/reports:batchScore", json={"reports": reports}, headers=keys.intake).status_code == 200
    removed = claim_and_decide(client, keys.reviewer, {"risk_tier": "high", "policy_areas": ["privacy"],
                                                       "action": "remove", "note": SECRET_NOTE})
    claim_and_decide(client, keys.reviewer, {"risk_tier": "low", "policy_areas": ["none"], "action": "no_violation",
                                             "note": SECRET_NOTE})
    claim_and_decide(client, keys.reviewer, {"risk_tier": "high", "policy_areas": ["violence_incitement"],
                                             "action": "escalate_legal", "note": SECRET_NOTE})
    report_id = removed["report"]["report_id"]
    filed = client.post(f"/v1/reports/{report_id}:appeal", headers=keys.intake,
                        json={"appeal_id": "ap-1", "appellant": "affected_user", "reason": "it was news"})
    assert filed.status_code == 201, filed.text
    claim_and_decide(client, keys.admin, {"risk_tier": "low", "policy_areas": ["none"], "action": "no_violation"},
                     queue="appeals")
    end = datetime.now(UTC) + HOUR
    sessions: sessionmaker[Session] = client.app.state.triage.sessions  # type: ignore[attr-defined]

    summary = export_statements(sessions, tmp_path / "sor.jsonl", start, end)

    raw = (tmp_path / "sor.jsonl").read_text(encoding="utf-8")
    assert SECRET_TEXT not in raw and "Secret Lane" not in raw and "7946" not in raw and "it was news" not in raw
    [statement] = read_lines(tmp_path / "sor.jsonl")
    assert summary.written == 1
    assert statement["triage"]["report_id"] == report_id and statement["triage"]["appeal_outcome"] == "reversed"
    assert statement["category"] == "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS"
    assert (statement["source_type"], statement["decision_visibility"]) == (
        "SOURCE_ARTICLE_16", ["DECISION_VISIBILITY_CONTENT_REMOVED"])
    assert keys.reviewer_id not in raw and keys.admin_id not in raw

    with sessions() as session:
        report = transparency_report(session, start, end)
    assert report.enforcement_decisions == 1
    assert report.decisions_by_action["no_violation"] == 2 and report.human_decisions == 4
    assert report.appeals == AppealFigures(filed_by_appellant={"reporter": 0, "affected_user": 1}, decided=1,
                                           upheld=0, reversed=1,
                                           median_hours_to_decide=report.appeals.median_hours_to_decide)
    assert report.appeals.reversal_rate == 1.0


def test_a_second_reviewer_key_does_not_change_what_is_exported(api_on_each_database: API, tmp_path: Path) -> None:
    """A blind second review of a removal is a QA check: the removal has one statement, not two."""
    client, keys = api_on_each_database
    sessions: sessionmaker[Session] = client.app.state.triage.sessions  # type: ignore[attr-defined]
    with transaction(sessions) as session:
        second = create_key(session, "second", Role.REVIEWER)
    second_headers = {"Authorization": f"Bearer {second.secret}"}
    start = datetime.now(UTC) - HOUR
    press_reports(client, keys.intake, 1)
    first = claim_and_decide(client, keys.reviewer, {"risk_tier": "high", "policy_areas": ["hate_speech"],
                                                     "action": "remove"})
    with transaction(sessions) as session:  # draw the second review by hand: the policy draws 10 %
        session.execute(insert(QueueItemRow), [{
            "report_pk": session.get(QueueItemRow, first["id"]).report_pk,  # type: ignore[union-attr]
            "queue": "human_escalation", "kind": "second_review", "status": "open", "priority": 1, "due_at": None,
            "created_at": datetime.now(UTC), "claimed_by": None, "lease_expires_at": None, "closed_at": None,
            "blind_to": keys.reviewer_id}])
    assert claim_and_decide(client, second_headers, {"risk_tier": "high", "policy_areas": ["hate_speech"],
                                                      "action": "remove"})["kind"] == "second_review"
    summary = export_statements(sessions, tmp_path / "sor.jsonl", start, datetime.now(UTC) + HOUR)
    assert summary.written == 1
    assert read_lines(tmp_path / "sor.jsonl")[0]["triage"]["item_kind"] == "primary"


# --- the export and the report: a known dataset ----------------------------------------------------------------

@pytest.fixture
def seeded(database_url: str) -> Iterator[tuple[sessionmaker[Session], dict[str, int]]]:
    """A March 2025 dataset with decisions around its edges; the ids of the decisions that matter."""
    sessions = database(database_url)
    ids: dict[str, int] = {}
    with transaction(sessions) as session:
        seed = Seed(session)
        # In the period: enforcement decisions 2 h, 4 h, 10 h after their report (median 4 h).
        r1 = seed.report(T0, reporter_type="trusted_flagger")
        ids["at_start"] = seed.decide(r1, T0 + 2 * HOUR, "restrict", ["spam_fraud"])
        r2 = seed.report(T0 + HOUR)
        ids["remove"] = seed.decide(r2, T0 + 5 * HOUR, "remove", ["hate_speech"])
        r3 = seed.report(T0 + 2 * HOUR, language=None)
        ids["suspend"] = seed.decide(r3, T0 + 12 * HOUR, "suspend_account", ["adult_sexual"])
        # In the period, not enforcement: no violation, a warning, an escalation, a blind second review.
        r4 = seed.report(T0 + 3 * HOUR)
        seed.decide(r4, T0 + 4 * HOUR, "no_violation")
        seed.decide(r4, T0 + 5 * HOUR, "remove", kind="second_review")
        seed.decide(seed.report(T0 + 3 * HOUR), T0 + 6 * HOUR, "warn_user")
        seed.decide(seed.report(T0 + 3 * HOUR), T0 + 6 * HOUR, "escalate_legal", ["violence_incitement"])
        # Outside the period: before it, and at its (exclusive) end.
        seed.decide(seed.report(T0 - 10 * HOUR), T0 - HOUR, "remove")
        seed.decide(seed.report(T0), datetime(2025, 4, 1, tzinfo=UTC), "remove")
        # Automated: two auto-closed reports in the period, one before.
        auto = seed.report(T0 + HOUR, route_action="auto_close")
        seed.report(T0 + 2 * HOUR, route_action="auto_close")
        seed.report(T0 - HOUR, route_action="auto_close")
        # Appeals: the removal upheld (1 day), the auto-close reversed to a removal (3 days), one still open.
        seed.appeal(r2, T0 + 6 * HOUR, ids["remove"], "remove", decided_at=T0 + 30 * HOUR, action="remove",
                    outcome="upheld")
        ids["reversal"] = seed.appeal(auto, T0 + 2 * HOUR, None, "auto_close", appellant="reporter",
                                      decided_at=T0 + 74 * HOUR, action="remove", outcome="reversed") or 0
        seed.appeal(r1, T0 + 3 * HOUR, ids["at_start"], "restrict")
    yield sessions, ids


MARCH = (T0, datetime(2025, 4, 1, tzinfo=UTC))


def test_only_the_periods_enforcement_decisions_are_exported_in_id_order(
        seeded: tuple[sessionmaker[Session], dict[str, int]], tmp_path: Path) -> None:
    sessions, ids = seeded
    summary = export_statements(sessions, tmp_path / "march.jsonl", *MARCH)
    rows = read_lines(tmp_path / "march.jsonl")
    assert [r["triage"]["decision_id"] for r in rows] == [ids["at_start"], ids["remove"], ids["suspend"],
                                                          ids["reversal"]]
    assert summary.written == 4
    assert [r["triage"]["appeal_outcome"] for r in rows] == [None, "upheld", None, None]
    assert [r["triage"]["item_kind"] for r in rows] == ["primary", "primary", "primary", "appeal"]
    assert rows[2]["decision_account"] == "DECISION_ACCOUNT_SUSPENDED" and "content_language" not in rows[2]
    assert rows[0]["content_language"] == "EN" and rows[0]["application_date"] == "2025-03-01"
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_report_counts_the_median_time_to_action_and_the_appeal_reversals(
        seeded: tuple[sessionmaker[Session], dict[str, int]]) -> None:
    sessions, _ = seeded
    with sessions() as session:
        report = transparency_report(session, *MARCH)
    assert {k: v for k, v in report.enforcement_by_category.items() if v} == {
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": 1, "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH": 2,
        "STATEMENT_CATEGORY_OTHER_VIOLATION_TC": 1}
    assert report.enforcement_by_category["STATEMENT_CATEGORY_SELF_HARM"] == 0
    assert report.enforcement_by_action == {"remove": 2, "restrict": 1, "age_restrict": 0, "suspend_account": 1}
    assert {k: v for k, v in report.decisions_by_action.items() if v} == {
        "remove": 3, "restrict": 1, "suspend_account": 1, "no_violation": 1, "warn_user": 1, "escalate_legal": 1}
    assert (report.automated_decisions, report.human_decisions) == (2, 8)
    # 2 h, 4 h, 10 h, and the reversal 73 h after its report (received at T0 + 1 h): median (4 + 10) / 2.
    assert report.median_hours_to_action == 7.0
    assert report.appeals == AppealFigures(filed_by_appellant={"reporter": 1, "affected_user": 2}, decided=2,
                                           upheld=1, reversed=1, median_hours_to_decide=48.0)
    assert report.appeals.reversal_rate == 0.5


def test_an_empty_period_reports_zeros_and_no_medians(database_url: str) -> None:
    with database(database_url)() as session:
        report = transparency_report(session, *MARCH)
    assert report.enforcement_decisions == 0 and report.median_hours_to_action is None
    assert report.appeals.reversal_rate is None and report.appeals.median_hours_to_decide is None


def test_a_period_must_be_aware_and_not_empty(database_url: str, tmp_path: Path) -> None:
    sessions = database(database_url)
    with pytest.raises(ValueError, match="timezone-aware"):
        export_statements(sessions, tmp_path / "x.jsonl", datetime(2025, 3, 1), datetime(2025, 4, 1))
    with pytest.raises(ValueError, match="not before end"):
        export_statements(sessions, tmp_path / "x.jsonl", MARCH[1], MARCH[0])


def test_an_export_of_more_than_ten_thousand_decisions_writes_every_one(database_url: str, tmp_path: Path) -> None:
    """The well-known 10k cap of decision exports does not apply: 10,050 decisions, 10,050 lines."""
    n = 10_050
    sessions = database(database_url)
    with transaction(sessions) as session:
        pks = list(session.scalars(insert(ReportRow).returning(ReportRow.id, sort_by_parameter_order=True), [
            {"report_id": f"bulk-{i}", "payload_sha256": "0" * 64, "text": SECRET_TEXT, "language_hint": None,
             "reporter_type": "user", "channel": "in_app", "surface": "post", "reporter_reason": None,
             "followers": None, "prior_strikes": None, "report_count": 1, "created_at": T0, "received_at": T0,
             "submitted_by": None} for i in range(n)]))
        items = list(session.scalars(insert(QueueItemRow).returning(QueueItemRow.id, sort_by_parameter_order=True), [
            {"report_pk": pk, "queue": "human_escalation", "kind": "primary", "status": "done", "priority": 1,
             "due_at": None, "created_at": T0, "claimed_by": "k1", "lease_expires_at": None, "closed_at": T0,
             "blind_to": None} for pk in pks]))
        session.execute(insert(ReviewDecisionRow), [
            {"queue_item_id": item, "report_pk": pk, "reviewer": "k1", "risk_tier": "medium",
             "policy_areas": ["spam_fraud"], "action": "remove", "note": SECRET_NOTE, "model_version": "m:1",
             "decided_at": T0 + timedelta(seconds=i)} for i, (pk, item) in enumerate(zip(pks, items, strict=True))])
    summary = export_statements(sessions, tmp_path / "all.jsonl", *MARCH)
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary.written == len(lines) == n
    assert json.loads(lines[-1])["puid"].startswith(f"bulk-{n - 1}-")
    assert len({json.loads(line)["puid"] for line in lines}) == n


# --- CSV and HTML ------------------------------------------------------------------------------------------------

def small_report(**fields: Any) -> TransparencyReport:
    report = TransparencyReport(
        start=MARCH[0], end=MARCH[1],
        enforcement_by_category={"STATEMENT_CATEGORY_VIOLENCE": 3, "STATEMENT_CATEGORY_SELF_HARM": 0},
        enforcement_by_action={"remove": 3}, decisions_by_action={"remove": 3, "no_violation": 5},
        automated_decisions=11, human_decisions=8, median_hours_to_action=2.5,
        appeals=AppealFigures(filed_by_appellant={"reporter": 1, "affected_user": 2}, decided=2, upheld=1,
                              reversed=1, median_hours_to_decide=36.0))
    return replace(report, **fields)


def test_the_csv_is_one_long_section_key_value_table(tmp_path: Path) -> None:
    path = write_csv(small_report(), tmp_path / "r.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["section", "key", "value"]
    assert all(len(row) == 3 for row in rows)
    table = {(s, k): v for s, k, v in rows[1:]}
    assert table[("enforcement_by_category", "STATEMENT_CATEGORY_VIOLENCE")] == "3"
    assert table[("decisions", "automated")] == "11" and table[("decisions", "human")] == "8"
    assert table[("time_to_action", "median_hours")] == "2.5"
    assert table[("appeals", "reversal_rate")] == "0.5" and table[("appeals", "filed")] == "3"
    assert table[("period", "to_exclusive")] == "2025-04-01T00:00:00+00:00"


def test_the_html_page_is_self_contained_with_svg_charts_and_escapes_labels(tmp_path: Path) -> None:
    report = small_report(decisions_by_action={"<script>alert(1)</script>": 2, "remove": 3})
    page = write_html(report, tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 4
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert "Appeal reversal rate: <strong>50.0%</strong>" in page
    assert render_html(small_report(median_hours_to_action=None)).count("n/a") >= 1


# --- the CLI -----------------------------------------------------------------------------------------------------

@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Callable[..., Result], str]:
    """``triage report ARGS`` in process, on a temporary SQLite database."""
    from triage.cli import app

    url = f"sqlite:///{tmp_path / 'cli.db'}"

    def run(*args: str) -> Result:
        with monkeypatch.context() as patch:
            patch.setenv("TRIAGE_DATABASE_URL", url)
            get_settings.cache_clear()
            try:
                return CliRunner().invoke(app, ["report", *args])
            finally:
                get_settings.cache_clear()

    return run, url


def test_the_cli_writes_the_report_and_the_statements(cli: tuple[Callable[..., Result], str],
                                                      tmp_path: Path) -> None:
    run, url = cli
    with transaction(database(url)) as session:
        seed = Seed(session)
        seed.decide(seed.report(T0), T0 + 3 * HOUR, "remove", ["self_harm"])
    result = run("transparency", "--from", "2025-03-01", "--to", "2025-04-01", "--out-dir", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "transparency-2025-03-01-2025-04-01.csv").is_file()
    assert (tmp_path / "out" / "transparency-2025-03-01-2025-04-01.html").is_file()
    assert "enforcement decisions  1 (median 3.0 h from report to action)" in result.output
    result = run("statements", "--from", "2025-03-01", "--to", "2025-04-01T00:00:00Z",
                 "--out", str(tmp_path / "sor.jsonl"))
    assert result.exit_code == 0, result.output
    assert "wrote 1 statements of reasons" in result.output
    assert read_lines(tmp_path / "sor.jsonl")[0]["category"] == "STATEMENT_CATEGORY_SELF_HARM"
    default = run("statements", "--from", "2025-03-01", "--to", "2025-04-01")
    assert default.exit_code == 0, default.output
    assert (get_settings().work_dir / "reports" / "statements-2025-03-01-2025-04-01.jsonl").is_file()


def test_the_cli_refuses_a_bad_date_or_an_empty_period_naming_the_option(
        cli: tuple[Callable[..., Result], str]) -> None:
    run, _ = cli
    for command in ("transparency", "statements"):
        result = run(command, "--from", "March 1st", "--to", "2025-04-01")
        assert result.exit_code == 2 and "error: --from: 'March 1st' is not an ISO 8601 date" in result.output
        result = run(command, "--from", "2025-03-01", "--to", "2025-13-01")
        assert result.exit_code == 2 and "error: --to: '2025-13-01'" in result.output
        result = run(command, "--from", "2025-04-01", "--to", "2025-03-01")
        assert result.exit_code == 2 and "error: --from: '2025-04-01' is not before --to '2025-03-01'" in result.output
