"""Reviewer decisions become training data: the JSON Lines export, its CLI, and the corpus build reading it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from model.schema import LabelledExample
from model.settings import Settings, get_settings
from serving import decisions
from serving.db.engine import transaction
from serving.db.models import ReportRow, RouteRow, ScoreRow
from serving.decisions import export_decisions
from serving.model_loader import LoadedModel
from tests.factories import MINI_SOURCES
from tests.support.api import Keys, start_client
from tests.support.cli import triage
from training.data.generic import read_generic

API = tuple[TestClient, Keys]
REMOVE = {"risk_tier": "high", "policy_areas": ["violence_incitement"], "action": "remove",
          "note": "Jane Doe, +44 20 7946 0958, says she was threatened"}
NO_VIOLATION = {"risk_tier": "low", "policy_areas": ["none"], "action": "no_violation", "note": None}
HARASSMENT = {"risk_tier": "medium", "policy_areas": ["harassment"], "action": "warn_user", "note": None}


# --- helpers ---------------------------------------------------------------------------------------

def open_client(settings: Settings, model: LoadedModel, second_review_rate: float | None = None) -> API:
    """A running app; with ``second_review_rate``, a copy of the routing policy drawing second reviews at it."""
    if second_review_rate is not None:
        policy_file = settings.work_dir.parent / "policy.toml"
        policy_file.write_text(settings.routing_policy.read_text().replace(
            "second_review_rate = 0.10", f"second_review_rate = {second_review_rate}"))
        settings = settings.model_copy(update={"routing_policy": policy_file})
    return start_client(settings, model)


def send_press_reports(client: TestClient, keys: Keys, texts: list[str], language: str | None = None) -> None:
    """Press reports always reach human_escalation: one queue item each, report ids p-0, p-1, ..."""
    reports = [{"report_id": f"p-{i}", "text": text, "reporter_type": "press",
                **({"language": language} if language else {})} for i, text in enumerate(texts)]
    assert client.post("/v1/reports:batchScore", json={"reports": reports}, headers=keys.intake).status_code == 200


def claim_and_decide(client: TestClient, headers: dict[str, str], decision: dict[str, Any],
                     queue: str = "human_escalation") -> dict[str, Any]:
    """Claim the next item of ``queue`` and decide it; the claimed item's JSON."""
    claimed = client.post(f"/v1/queues/{queue}:claim", headers=headers)
    assert claimed.status_code == 200, claimed.text
    item: dict[str, Any] = claimed.json()
    decided = client.post(f"/v1/items/{item['id']}:decide", json=decision, headers=headers)
    assert decided.status_code == 200, decided.text
    return item


def sessions_of(client: TestClient) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = client.app.state.triage.sessions  # type: ignore[attr-defined]
    return factory


def set_model_output(client: TestClient, report_id: str, tier: str, areas: list[str]) -> None:
    """Pin what the (randomly initialised) tiny model said about a report."""
    with transaction(sessions_of(client)) as session:
        score = session.scalars(select(ScoreRow).join(ReportRow).where(ReportRow.report_id == report_id)).one()
        score.model_tier, score.areas = tier, areas


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def blind_second_reviews(settings: Settings, tiny_model: LoadedModel) -> Iterator[API]:
    """A running app whose policy sends every escalated decision to a blind second review."""
    client, keys = open_client(settings, tiny_model, second_review_rate=1.0)
    try:
        yield client, keys
    finally:
        client.__exit__(None, None, None)


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """Settings read anew from the environment (``get_settings`` is cached), before and after the test."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


# --- the export ------------------------------------------------------------------------------------

def test_each_decision_becomes_a_generic_corpus_row_with_its_provenance(api_on_each_database: API,
                                                                      tmp_path: Path) -> None:
    client, keys = api_on_each_database
    send_press_reports(client, keys, ["an article quotes this threat against the mayor",
                                      "a journalist asks about this harmless holiday photo"])
    first = claim_and_decide(client, keys.reviewer, REMOVE)
    second = claim_and_decide(client, keys.reviewer, NO_VIOLATION)
    set_model_output(client, first["report"]["report_id"], "high", ["violence_incitement"])
    set_model_output(client, second["report"]["report_id"], "medium", [])

    summary = export_decisions(sessions_of(client), tmp_path / "out" / "decisions.jsonl")

    assert (summary.written, summary.skipped_no_language, summary.disagreements) == (2, 0, 0)
    rows = read_rows(summary.path)
    by_report = {row["report_id"]: row for row in rows}
    threat, harmless = by_report[first["report"]["report_id"]], by_report[second["report"]["report_id"]]
    ids = [int(row["id"].removeprefix("decision-")) for row in rows]
    assert ids == sorted(ids) and len(set(ids)) == 2, "one row per decision, in decision order"
    assert threat["text"] == first["report"]["text"]
    assert (threat["policy_areas"], threat["risk_tier"]) == (["violence_incitement"], "high")
    assert threat["id"].startswith("decision-") and threat["group_id"] == threat["report_id"]
    assert threat["language"] == first["decision"]["language"]["code"] == "en"
    assert threat["label_confidence"] == 1.0
    assert {k: threat[k] for k in ("source", "reviewer", "queue", "item_kind", "action", "model_version")} == {
        "source": "reviewer_decision", "reviewer": keys.reviewer_id, "queue": "human_escalation",
        "item_kind": "primary", "action": "remove", "model_version": "triage-classifier:tiny"}
    assert datetime.fromisoformat(threat["decided_at"]).tzinfo is not None
    assert (threat["model_tier"], threat["model_areas"]) == ("high", ["violence_incitement"])
    assert (threat["model_agreed_tier"], threat["model_agreed_areas"]) == (True, True)
    assert (harmless["policy_areas"], harmless["action"]) == (["none"], "no_violation")
    assert harmless["model_agreed_tier"] is False, "reviewer low, model medium"
    assert harmless["model_agreed_areas"] is True, "'none' and no predicted area are the same"


def test_the_reviewer_note_is_never_exported(api: API, tmp_path: Path) -> None:
    client, keys = api
    send_press_reports(client, keys, ["an article quotes this threat against the mayor"])
    claim_and_decide(client, keys.reviewer, REMOVE)

    summary = export_decisions(sessions_of(client), tmp_path / "decisions.jsonl")

    [row] = read_rows(summary.path)
    assert "note" not in row
    assert "Jane Doe" not in summary.path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("second_decision", "confidence", "disagreements"), [
    (HARASSMENT, 0.5, 1),
    ({**REMOVE, "note": "agree"}, 1.0, 0),
])
def test_a_blind_second_review_that_disagrees_halves_the_confidence_of_both_rows(
        blind_second_reviews: API, tmp_path: Path, second_decision: dict[str, Any], confidence: float,
        disagreements: int) -> None:
    client, keys = blind_second_reviews
    send_press_reports(client, keys, ["an article quotes this threat against the mayor"])
    claim_and_decide(client, keys.reviewer, REMOVE)
    second = claim_and_decide(client, keys.admin, second_decision)
    assert second["kind"] == "second_review"

    summary = export_decisions(sessions_of(client), tmp_path / "decisions.jsonl")

    assert (summary.written, summary.disagreements) == (2, disagreements)
    rows = read_rows(summary.path)
    assert [row["item_kind"] for row in rows] == ["primary", "second_review"]
    assert [row["reviewer"] for row in rows] == [keys.reviewer_id, keys.admin_id]
    assert [row["label_confidence"] for row in rows] == [confidence, confidence]
    assert rows[0]["group_id"] == rows[1]["group_id"] == "p-0", "both reviews of a report stay in one split"


def test_a_later_export_still_sees_a_disagreement_with_an_earlier_review(blind_second_reviews: API,
                                                                          tmp_path: Path) -> None:
    client, keys = blind_second_reviews
    send_press_reports(client, keys, ["an article quotes this threat against the mayor"])
    claim_and_decide(client, keys.reviewer, REMOVE)
    between = datetime.now(UTC)
    claim_and_decide(client, keys.admin, HARASSMENT)

    summary = export_decisions(sessions_of(client), tmp_path / "decisions.jsonl", since=between)

    [row] = read_rows(summary.path)
    assert (row["item_kind"], row["label_confidence"], summary.disagreements) == ("second_review", 0.5, 1)


def test_since_exports_only_the_decisions_made_from_then_on(api: API, tmp_path: Path) -> None:
    client, keys = api
    send_press_reports(client, keys, ["an article quotes this threat against the mayor",
                                      "a journalist asks about this harmless holiday photo"])
    claim_and_decide(client, keys.reviewer, REMOVE)
    between = datetime.now(UTC)
    claim_and_decide(client, keys.reviewer, NO_VIOLATION)

    later = export_decisions(sessions_of(client), tmp_path / "later.jsonl", since=between)
    future = export_decisions(sessions_of(client), tmp_path / "none.jsonl", since=between + timedelta(days=1))

    assert [row["action"] for row in read_rows(later.path)] == ["no_violation"]
    assert future.written == 0 and future.path.read_text() == ""
    with pytest.raises(ValueError, match="timezone-aware"):
        export_decisions(sessions_of(client), tmp_path / "naive.jsonl", since=datetime(2025, 1, 1))


def test_decisions_on_reports_without_any_language_are_skipped_and_counted(api: API, tmp_path: Path) -> None:
    client, keys = api
    send_press_reports(client, keys, ["12 34 ?? !!"])  # no letters: undetected, and no hint
    claim_and_decide(client, keys.reviewer, NO_VIOLATION)

    summary = export_decisions(sessions_of(client), tmp_path / "decisions.jsonl")

    assert (summary.written, summary.skipped_no_language) == (0, 1)
    assert summary.path.read_text() == ""


def test_the_language_is_the_routes_else_the_detected_one_else_the_intake_hint(api: API, tmp_path: Path) -> None:
    client, keys = api
    send_press_reports(client, keys, ["12 34 ?? !!"], language="pt-BR")
    claim_and_decide(client, keys.reviewer, NO_VIOLATION)
    languages = []
    for route_language, detected in [("pt", "es"), (None, "es"), (None, None)]:
        with transaction(sessions_of(client)) as session:
            session.scalars(select(RouteRow)).one().language = route_language
            session.scalars(select(ScoreRow)).one().detected_language = detected
        [row] = read_rows(export_decisions(sessions_of(client), tmp_path / "decisions.jsonl").path)
        languages.append(row["language"])
    assert languages == ["pt", "es", "pt"], "the hint pt-BR is exported as its base code"


def test_the_export_replaces_the_file_whole_or_not_at_all(api: API, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    client, keys = api
    send_press_reports(client, keys, ["an article quotes this threat against the mayor"])
    claim_and_decide(client, keys.reviewer, REMOVE)
    out = tmp_path / "exports" / "decisions.jsonl"
    out.parent.mkdir()
    out.write_text("the previous export\n")

    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(decisions, "_record", broken)
        with pytest.raises(RuntimeError):
            export_decisions(sessions_of(client), out)
    assert out.read_text() == "the previous export\n"
    assert [p.name for p in out.parent.iterdir()] == ["decisions.jsonl"], "no temporary file left behind"

    export_decisions(sessions_of(client), out)
    assert len(read_rows(out)) == 1
    assert [p.name for p in out.parent.iterdir()] == ["decisions.jsonl"]


# --- the corpus reads it ---------------------------------------------------------------------------

def test_the_export_is_read_by_the_generic_corpus_reader(blind_second_reviews: API, tmp_path: Path) -> None:
    client, keys = blind_second_reviews
    send_press_reports(client, keys, ["an article quotes this threat against the mayor"])
    claim_and_decide(client, keys.reviewer, REMOVE)
    claim_and_decide(client, keys.admin, HARASSMENT)
    summary = export_decisions(sessions_of(client), tmp_path / "decisions.jsonl")

    rows = list(read_generic(summary.path, "reviewer_decisions", "internal"))

    assert len(rows) == 2
    for row in rows:
        assert LabelledExample.model_validate(row.example.model_dump()) == row.example
        assert row.example.row_id.startswith("decision-") and row.example.group_id == "p-0"
        assert (row.example.source, row.example.licence, row.example.label_confidence) == (
            "reviewer_decisions", "internal", 0.5)
        assert not row.is_test
        assert row.metadata["source"] == "reviewer_decision" and row.metadata["report_id"] == "p-0"
        assert "note" not in row.metadata
    assert [r.example.risk_tier.value for r in rows] == ["high", "medium"]


def build_args(mini_datasets: Path, tmp_path: Path) -> list[str]:
    return ["data", "build", "--datasets-dir", str(mini_datasets), "--out", str(tmp_path / "corpus"),
            "--card-dir", str(tmp_path / "cards"), *(arg for name in MINI_SOURCES for arg in ("--source", name))]


def test_data_build_reads_decisions_as_the_reviewer_decisions_source(
        api: API, mini_datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        fresh_settings: None) -> None:
    from triage.cli import app

    client, keys = api
    send_press_reports(client, keys, ["an article quotes this threat against the mayor"])
    claim_and_decide(client, keys.reviewer, REMOVE)
    monkeypatch.setenv("TRIAGE_WORK_DIR", str(tmp_path / "empty-work"))
    export = export_decisions(sessions_of(client), tmp_path / "decisions.jsonl").path

    result = CliRunner().invoke(app, [*build_args(mini_datasets, tmp_path), "--decisions", str(export)])

    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    assert manifest["sources"]["reviewer_decisions"]["licence"] == "internal"
    assert manifest["config"]["extra_files"] == [str(export)]
    assert "including reviewer decisions" not in result.output


def test_data_build_includes_the_default_export_when_no_decisions_are_given(
        api: API, mini_datasets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        fresh_settings: None) -> None:
    from triage.cli import app

    client, keys = api
    send_press_reports(client, keys, ["an article quotes this threat against the mayor"])
    claim_and_decide(client, keys.reviewer, REMOVE)
    work = tmp_path / "work"
    monkeypatch.setenv("TRIAGE_WORK_DIR", str(work))
    default = export_decisions(sessions_of(client), work / "decisions" / "decisions.jsonl").path

    result = CliRunner().invoke(app, build_args(mini_datasets, tmp_path))

    assert result.exit_code == 0, result.output
    assert f"including reviewer decisions from {default}" in result.output
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    assert "reviewer_decisions" in manifest["sources"]


def test_two_decision_files_are_two_sources(api: API, mini_datasets: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, fresh_settings: None) -> None:
    from triage.cli import app

    client, keys = api
    send_press_reports(client, keys, ["an article quotes this threat against the mayor"])
    claim_and_decide(client, keys.reviewer, REMOVE)
    monkeypatch.setenv("TRIAGE_WORK_DIR", str(tmp_path / "empty-work"))
    january = export_decisions(sessions_of(client), tmp_path / "january.jsonl").path
    february = export_decisions(sessions_of(client), tmp_path / "february.jsonl").path

    result = CliRunner().invoke(app, [*build_args(mini_datasets, tmp_path), "--decisions", str(january),
                                      "--decisions", str(february)])

    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    assert {"reviewer_decisions:january", "reviewer_decisions:february"} <= set(manifest["sources"])


# --- the CLI ---------------------------------------------------------------------------------------

@pytest.mark.slow  # `triage decisions` processes
def test_the_cli_exports_decisions_to_the_work_folder(api: API, env: dict[str, str], tmp_path: Path) -> None:
    client, keys = api  # the same database as `env`: tmp_path / triage.db
    send_press_reports(client, keys, ["an article quotes this threat against the mayor",
                                      "a journalist asks about this harmless holiday photo"])
    claim_and_decide(client, keys.reviewer, REMOVE)
    claim_and_decide(client, keys.reviewer, NO_VIOLATION)

    result = triage("decisions", "export", env=env)

    assert result.returncode == 0, result.stderr
    default = Path(env["TRIAGE_WORK_DIR"]) / "decisions" / "decisions.jsonl"
    assert result.stdout.strip().splitlines() == [
        f"wrote 2 decisions to {default} (0 skipped without a language, 0 skipped as redacted by retention, "
        "0 skipped as reversed by an appeal, 0 reports with disagreeing reviews at confidence 0.5)"]
    assert [row["action"] for row in read_rows(default)] == ["remove", "no_violation"]

    later = triage("decisions", "export", "--out", str(tmp_path / "later.jsonl"), "--since", "2999-01-01", env=env)
    assert later.returncode == 0, later.stderr
    assert later.stdout.startswith("wrote 0 decisions to ")


@pytest.mark.slow  # a `triage decisions` process
def test_the_cli_refuses_a_bad_since(env: dict[str, str]) -> None:
    result = triage("decisions", "export", "--since", "last tuesday", env=env)

    assert result.returncode == 2
    assert result.stderr.startswith("error: --since: 'last tuesday' is not an ISO 8601")
    assert "Traceback" not in result.stderr
