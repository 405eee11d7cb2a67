"""Retention: `triage retention apply` redacts the text and reviewer notes of old, closed reports in batches, and
keeps every row, so decisions, audit, queue counts, agreement and trends stay as they were. On SQLite and on
PostgreSQL, including a ``kill -9`` in the middle of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from model.settings import DEFAULT_ROUTING_POLICY, Settings, get_settings
from serving import audit, retention
from serving.db.engine import make_engine, make_sessionmaker, transaction, upgrade
from serving.db.models import (
    ApiKeyRow,
    AuditRow,
    IdempotentActionRow,
    QueueItemRow,
    ReportRow,
    ReviewDecisionRow,
    RouteRow,
    ScoreRow,
    WebhookEventRow,
    utcnow,
)
from serving.decisions import export_decisions
from serving.model_loader import LoadedModel
from serving.retention import REDACTED_TEXT
from serving.trends import trends
from tests.support import REPO
from tests.support.api import Keys, start_client

API = tuple[TestClient, Keys]
DAY = timedelta(days=1)
TABLES = (ReportRow, ScoreRow, RouteRow, QueueItemRow, ReviewDecisionRow, ApiKeyRow, AuditRow, WebhookEventRow,
          IdempotentActionRow)


# --- helpers ---------------------------------------------------------------------------------------

def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[dict[str, Any]]]:
    """Every row of the service's tables, in id order."""
    with sessions() as session:
        return {model.__tablename__: [dict(row) for row in session.execute(
            select(model.__table__).order_by(model.__table__.c.id)).mappings()] for model in TABLES}


def without(rows: list[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def database(url: str) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(url)
    upgrade(engine)
    return engine, make_sessionmaker(engine)


def seed(sessions: sessionmaker[Session], n: int, received_at: datetime, *, status: str = "done",
         start: int = 0) -> None:
    """``n`` reports ``r-<i>`` (text ``text of report <i>``), each with one queue item in ``status`` and, when it
    is done, a decision with the note ``note on report <i>``, inserted directly (fast)."""
    numbers = range(start, start + n)
    with transaction(sessions) as session:
        pks = list(session.scalars(insert(ReportRow).returning(ReportRow.id, sort_by_parameter_order=True), [
            {"report_id": f"r-{i}", "payload_sha256": "0" * 64, "text": f"text of report {i}",
             "language_hint": "en", "reporter_type": "user", "channel": "in_app", "surface": "post",
             "reporter_reason": None, "followers": None, "prior_strikes": None, "report_count": 1,
             "created_at": received_at, "received_at": received_at, "submitted_by": None} for i in numbers]))
        done = status == "done"
        items = list(session.scalars(insert(QueueItemRow).returning(QueueItemRow.id, sort_by_parameter_order=True), [
            {"report_pk": pk, "queue": "human_escalation", "kind": "primary", "status": status, "priority": 1,
             "due_at": None, "created_at": received_at, "claimed_by": "k1" if done else None,
             "lease_expires_at": None, "closed_at": received_at if done else None, "blind_to": None}
            for pk in pks]))
        if done:
            session.execute(insert(ReviewDecisionRow), [
                {"queue_item_id": item, "report_pk": pk, "reviewer": "k1", "risk_tier": "low",
                 "policy_areas": ["none"], "action": "no_violation", "note": f"note on report {i}",
                 "model_version": "m:1", "decided_at": received_at}
                for i, pk, item in zip(numbers, pks, items, strict=True)])


def report_states(sessions: sessionmaker[Session]) -> dict[str, tuple[str, list[str | None]]]:
    """report_id -> (text, the notes of its decisions)."""
    with sessions() as session:
        notes: dict[int, list[str | None]] = {}
        for pk, note in session.execute(select(ReviewDecisionRow.report_pk, ReviewDecisionRow.note)
                                        .order_by(ReviewDecisionRow.id)):
            notes.setdefault(pk, []).append(note)
        return {rid: (body, notes.get(pk, [])) for pk, rid, body in
                session.execute(select(ReportRow.id, ReportRow.report_id, ReportRow.text).order_by(ReportRow.id))}


def retention_audit(sessions: sessionmaker[Session], action: str = retention.REPORTS_REDACTED) -> list[AuditRow]:
    with sessions() as session:
        return list(session.scalars(select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)))


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``triage retention ARGS`` in process, on ``url``, with ``env`` added (TRIAGE_RETENTION_DAYS unset
    unless given)."""
    from triage.cli import app

    monkeypatch.delenv("TRIAGE_RETENTION_DAYS", raising=False)

    def run(url: str, *args: str, env: dict[str, str] | None = None) -> Result:
        with monkeypatch.context() as patch:
            patch.setenv("TRIAGE_DATABASE_URL", url)
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            get_settings.cache_clear()
            try:
                return CliRunner().invoke(app, ["retention", *args])
            finally:
                get_settings.cache_clear()

    return run


# --- through the service: what is kept ---------------------------------------------------------------

@pytest.fixture
def second_reviews_on_each_database(database_url: str, tmp_path: Path, tiny_artifact: Path,
                                    tiny_model: LoadedModel) -> Iterator[API]:
    """A running app whose policy sends every escalated decision to a blind second review."""
    policy = tmp_path / "policy.toml"
    policy.write_text(DEFAULT_ROUTING_POLICY.read_text().replace("second_review_rate = 0.10",
                                                                 "second_review_rate = 1.0"))
    settings = Settings(work_dir=tmp_path / "var", model_path=tiny_artifact, database_url=database_url,
                        log_format="text", routing_policy=policy)
    client, keys = start_client(settings, tiny_model)
    try:
        yield client, keys
    finally:
        client.__exit__(None, None, None)


def press_report(client: TestClient, keys: Keys, report_id: str) -> dict[str, Any]:
    report = {"report_id": report_id, "text": f"a journalist asks about post {report_id}, says Jane Doe",
              "reporter_type": "press"}
    response = client.post("/v1/reports:score", json=report, headers=keys.intake)
    assert response.status_code == 200, response.text
    return report


def decide_next(client: TestClient, headers: dict[str, str], note: str, tier: str = "high") -> None:
    item = client.post("/v1/queues/human_escalation:claim", headers=headers)
    assert item.status_code == 200, item.text
    decided = client.post(f"/v1/items/{item.json()['id']}:decide", headers=headers, json={
        "risk_tier": tier, "policy_areas": ["harassment"], "action": "remove", "note": note})
    assert decided.status_code == 200, decided.text


def queue_counts(client: TestClient, keys: Keys) -> list[dict[str, Any]]:
    """GET /v1/queues without the oldest item's age (it grows by the second)."""
    body = client.get("/v1/queues", headers=keys.reviewer).json()

    def counts(queue: dict[str, Any]) -> dict[str, Any]:
        return {k: [counts(m) for m in v] if k == "markets" else v for k, v in queue.items()
                if k != "oldest_open_age_seconds"}

    return [counts(queue) for queue in body["queues"]]


def test_apply_redacts_old_closed_reports_only_and_keeps_decisions_audit_and_counts(
        second_reviews_on_each_database: API, database_url: str, cli: Callable[..., Result],
        tmp_path: Path) -> None:
    client, keys = second_reviews_on_each_database
    sessions: sessionmaker[Session] = client.app.state.triage.sessions  # type: ignore[attr-defined]
    # old-done: both reviews decided; recent-done: the same, but recent; old-second: its blind second review
    # is open; old-open: never claimed.
    sent = {}
    for rid in ("old-done", "recent-done"):
        sent[rid] = press_report(client, keys, rid)
        decide_next(client, keys.reviewer, f"first review of {rid}: Jane Doe, +44 20 7946 0958")
        decide_next(client, keys.admin, f"second review of {rid}", tier="medium")
    sent["old-second"] = press_report(client, keys, "old-second")
    decide_next(client, keys.reviewer, "first review of old-second")
    sent["old-open"] = press_report(client, keys, "old-open")
    now = utcnow()
    with transaction(sessions) as session:
        session.execute(update(ReportRow).where(ReportRow.report_id.in_(["old-done", "old-second", "old-open"]))
                        .values(received_at=now - 100 * DAY))
        session.add_all([IdempotentActionRow(principal=keys.reviewer_id, idempotency_key=key, fingerprint="0" * 64,
                                             status_code=200, result_kind="item", result_id=1, created_at=at)
                         for key, at in (("dead", now - 2 * DAY), ("live", now - timedelta(hours=1)))])
    before = snapshot(sessions)
    texts_before = report_states(sessions)
    queues_before = queue_counts(client, keys)
    agreement_before = client.get("/v1/qa/agreement", headers=keys.reviewer).json()
    trend_end = now + DAY
    with sessions() as session:
        trends_before = trends(session, trend_end, 30 * DAY, 6)
    assert export_decisions(sessions, tmp_path / "before.jsonl").written == 5

    dry = cli(database_url, "apply", env={"TRIAGE_RETENTION_DAYS": "90"})

    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert lines[0].startswith("retention: reports received before ") and "(older than 90 days)" in lines[0]
    assert lines[1].split()[:2] == ["reports", "1"] and "(rows kept; 0 already redacted)" in lines[1]
    assert lines[2].split()[:2] == ["review_decisions", "2"]
    assert lines[3].split()[:2] == ["idempotent_actions", "1"]
    assert lines[4] == "  scores, routes, queue_items, audit_log, webhook_events: untouched"
    assert lines[5].split()[:4] == ["held", "for", "review", "2"] and "never redacted while waiting" in lines[5]
    assert lines[6] == "dry run: nothing changed; run again with --execute to apply"
    assert snapshot(sessions) == before, "a dry run changes nothing"

    applied = cli(database_url, "apply", "--older-than", "90", "--execute")

    assert applied.exit_code == 0, applied.output
    out = applied.output.splitlines()
    assert "batch 1: redacted 1 reports (ids " in out[-3] and out[-3].endswith("cleared 2 notes")
    assert out[-2].startswith("batch 1: deleted 1 idempotency records")
    assert out[-1].startswith("done: redacted 1 reports in 1 batches, cleared 2 notes, deleted 1 idempotency "
                              "records (audit: actor retention, retention_run ret_")
    after = snapshot(sessions)
    states = report_states(sessions)
    assert states["old-done"] == (REDACTED_TEXT, [None, None])
    for rid in ("recent-done", "old-second", "old-open"):
        assert states[rid] == texts_before[rid], f"{rid} is recent or waiting for review: untouched"
    assert states["old-second"][1] == ["first review of old-second"], "its note stays until its review closes"
    # Every row is kept; only reports.text and review_decisions.note changed.
    assert without(after["reports"], "text") == without(before["reports"], "text")
    assert without(after["review_decisions"], "note") == without(before["review_decisions"], "note")
    for table in ("scores", "routes", "queue_items", "api_keys", "webhook_events"):
        assert after[table] == before[table], table
    assert [row["idempotency_key"] for row in after["idempotent_actions"]] == ["live"]
    # The audit log keeps every entry and gains one per batch, with ids and counts, never text or notes.
    assert after["audit_log"][:len(before["audit_log"])] == before["audit_log"]
    added = after["audit_log"][len(before["audit_log"]):]
    assert [(a["actor"], a["action"], a["subject_type"]) for a in added] == [
        ("retention", "retention.reports_redacted", "retention_run"),
        ("retention", "retention.idempotency_keys_deleted", "retention_run")]
    assert added[0]["subject_id"] == added[1]["subject_id"]
    assert added[0]["details"]["report_ids"] == ["old-done"]
    assert (added[0]["details"]["reports"], added[0]["details"]["notes_cleared"]) == (1, 2)
    assert added[1]["details"]["rows"] == 1
    assert "Jane" not in str(added) and "journalist" not in str(added)
    # Counts, agreement and trends read the kept rows: the same figures.
    assert queue_counts(client, keys) == queues_before
    assert client.get("/v1/qa/agreement", headers=keys.reviewer).json() == agreement_before
    with sessions() as session:
        assert trends(session, trend_end, 30 * DAY, 6) == trends_before
    # A resend of the redacted report is still answered as a replay of its decision.
    resent = client.post("/v1/reports:score", json=sent["old-done"], headers=keys.intake)
    assert resent.status_code == 200 and resent.json()["replayed"] is True
    # The decisions export skips (and counts) the redacted report's two decisions.
    summary = export_decisions(sessions, tmp_path / "after.jsonl")
    assert (summary.written, summary.skipped_redacted) == (3, 2)
    exported = summary.path.read_text(encoding="utf-8")
    assert "old-done" not in exported and REDACTED_TEXT not in exported

    again = cli(database_url, "apply", "--older-than", "90", "--execute")

    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[1].split()[:2] == ["reports", "0"]
    assert "(rows kept; 1 already redacted)" in again.output
    assert again.output.splitlines()[-1].startswith(
        "done: redacted 0 reports in 0 batches, cleared 0 notes, deleted 0 idempotency records")
    assert snapshot(sessions) == after, "a second run changes nothing, not even the audit log"


# --- batches -------------------------------------------------------------------------------------------

def test_reports_are_redacted_in_batches_each_with_its_audit_record(database_url: str) -> None:
    engine, sessions = database(database_url)
    old = utcnow() - 40 * DAY
    seed(sessions, 7, old)
    seed(sessions, 2, old, status="claimed", start=7)
    seed(sessions, 1, utcnow(), start=9)
    seen: list[retention.Batch] = []

    done = retention.apply(sessions, 30, batch_size=3, on_batch=seen.append)

    assert (done.reports_redacted, done.report_batches, done.notes_cleared) == (7, 3, 7)
    assert [(b.kind, b.number, b.rows, b.notes_cleared) for b in seen] == [
        ("reports", 1, 3, 3), ("reports", 2, 3, 3), ("reports", 3, 1, 1)]
    records = retention_audit(sessions)
    assert [r.details["report_ids"] for r in records] == [["r-0", "r-1", "r-2"], ["r-3", "r-4", "r-5"], ["r-6"]]
    assert {r.subject_id for r in records} == {done.run_id}
    states = report_states(sessions)
    assert all(states[f"r-{i}"] == (REDACTED_TEXT, [None]) for i in range(7))
    assert states["r-7"] == ("text of report 7", []) and states["r-9"] == ("text of report 9", ["note on report 9"])
    with sessions() as session:
        plan = retention.plan(session, 30)
    assert (plan.reports_to_redact, plan.already_redacted, plan.held_for_review) == (0, 7, 2)
    engine.dispose()


def test_a_failure_inside_a_batch_rolls_that_whole_batch_back_and_a_rerun_finishes(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, sessions = database(database_url)
    seed(sessions, 10, utcnow() - 40 * DAY)
    real_record = audit.record
    calls = []

    def fails_in_the_second_batch(session: Session, *args: Any, **kwargs: Any) -> None:
        calls.append(args)
        if len(calls) == 2:  # after the batch's texts and notes were changed, before its commit
            raise RuntimeError("the database went away")
        real_record(session, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(audit, "record", fails_in_the_second_batch)
        with pytest.raises(RuntimeError, match="went away"):
            retention.apply(sessions, 30, batch_size=4)

    states = report_states(sessions)
    assert [rid for rid, (body, _) in states.items() if body == REDACTED_TEXT] == ["r-0", "r-1", "r-2", "r-3"]
    assert all(states[f"r-{i}"] == (f"text of report {i}", [f"note on report {i}"]) for i in range(4, 10)), \
        "the failed batch left neither texts nor notes changed"
    assert len(retention_audit(sessions)) == 1

    done = retention.apply(sessions, 30, batch_size=4)

    assert (done.reports_redacted, done.report_batches) == (6, 2)
    assert all(state == (REDACTED_TEXT, [None]) for state in report_states(sessions).values())
    ids = [rid for record in retention_audit(sessions) for rid in record.details["report_ids"]]
    assert sorted(ids) == sorted(f"r-{i}" for i in range(10)), "each report in exactly one batch's record"
    engine.dispose()


def test_a_report_with_the_marker_text_but_a_note_left_still_has_its_note_cleared(database_url: str) -> None:
    engine, sessions = database(database_url)
    seed(sessions, 2, utcnow() - 40 * DAY)
    with transaction(sessions) as session:  # as the operator's guide's manual SQL left it: text only
        session.execute(update(ReportRow).where(ReportRow.report_id == "r-0").values(text=REDACTED_TEXT))

    done = retention.apply(sessions, 30)

    assert (done.reports_redacted, done.notes_cleared) == (2, 2)
    assert all(state == (REDACTED_TEXT, [None]) for state in report_states(sessions).values())
    engine.dispose()


def test_two_runs_at_once_redact_each_report_once(database_url: str) -> None:
    engine, sessions = database(database_url)
    n = 600
    seed(sessions, n, utcnow() - 40 * DAY)

    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(retention.apply, sessions, 30, batch_size=7) for _ in range(2)]
        done = [run.result(timeout=120) for run in runs]

    assert sum(d.reports_redacted for d in done) == n
    assert all(state == (REDACTED_TEXT, [None]) for state in report_states(sessions).values())
    ids = [rid for record in retention_audit(sessions) for rid in record.details["report_ids"]]
    assert len(ids) == n and len(set(ids)) == n, "no report in two runs' audit records"
    engine.dispose()


# --- the command line ------------------------------------------------------------------------------------

def test_bad_input_is_a_clear_error_naming_the_option(cli: Callable[..., Result], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    for args, message in [
        (("--older-than", "0"), "error: --older-than: 0 is not a number of days from 1 to 36500"),
        (("--older-than", "-3"), "error: --older-than: -3 is not a number of days from 1 to 36500"),
        ((), "error: no retention age: set TRIAGE_RETENTION_DAYS (days) or give --older-than DAYS"),
        (("--older-than", "30", "--batch-size", "0"), "error: --batch-size: 0 is not from 1 to 10000"),
        (("--older-than", "30", "--pause", "-1"), "error: --pause: -1.0 is not from 0 to 60 seconds"),
    ]:
        result = cli(url, "apply", "--execute", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    assert "'--older-than'" in cli(url, "apply", "--older-than", "soon").output
    with pytest.raises(ValidationError, match="retention_days"):
        Settings(retention_days=0)


def test_status_shows_the_setting_the_redacted_count_and_the_last_run(cli: Callable[..., Result],
                                                                     tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    engine, sessions = database(url)
    seed(sessions, 3, utcnow() - 40 * DAY)
    seed(sessions, 1, utcnow(), start=3)

    before = cli(url, "status")
    assert before.exit_code == 0, before.output
    assert before.output.splitlines()[0].startswith("retention: TRIAGE_RETENTION_DAYS is not set")
    assert "reports: 4 (0 redacted)" in before.output and "last run: none" in before.output

    assert cli(url, "apply", "--execute", env={"TRIAGE_RETENTION_DAYS": "30"}).exit_code == 0
    after = cli(url, "status", env={"TRIAGE_RETENTION_DAYS": "30"})

    assert after.output.splitlines()[0].startswith("retention: TRIAGE_RETENTION_DAYS=30")
    assert "reports: 4 (3 redacted)" in after.output
    assert "last run: ret_" in after.output and after.output.rstrip().endswith("3 reports redacted")
    engine.dispose()


# --- a kill in the middle of a run -----------------------------------------------------------------------

def wait_for(condition: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen[str],
             poll: float = 0.002) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run exited ({proc.returncode}) before {what}"
        assert time.monotonic() < end, f"no {what} within {timeout} s"
        time.sleep(poll)


def scalar(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def audited_batches(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(AuditRow)
                               .where(AuditRow.action == retention.REPORTS_REDACTED)) or 0)


@pytest.mark.slow  # a `triage retention apply` process, killed
def test_kill_9_mid_run_leaves_whole_batches_and_a_rerun_finishes(database_url: str, tmp_path: Path) -> None:
    """SQLite: the process is killed right after its first batch commits; it spends nearly all its time inside
    a batch's transaction, so the kill lands inside one. PostgreSQL: a SHARE lock on review_decisions holds
    the process inside a batch, its report texts changed but not committed, when it is killed."""
    n, batch = 5000, 25
    engine, sessions = database(database_url)
    seed(sessions, n, utcnow() - 400 * DAY)
    postgres = engine.dialect.name == "postgresql"
    env = {**os.environ, "TRIAGE_DATABASE_URL": database_url, "TRIAGE_WORK_DIR": str(tmp_path / "var"),
           "TRIAGE_RETENTION_DAYS": "365"}
    command = [sys.executable, "-m", "triage", "retention", "apply", "--execute", "--batch-size", str(batch)]
    with (tmp_path / "run.log").open("w") as log:
        proc = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: audited_batches(engine) >= 1, 120, "first committed batch", proc)
        if postgres:
            with engine.connect() as blocker:
                blocker.execute(text("LOCK TABLE review_decisions IN SHARE MODE"))
                waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() " \
                          "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE review_decisions%'"
                wait_for(lambda: scalar(engine, waiting) > 0, 30, "batch waiting on the lock", proc, poll=0.05)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                blocker.rollback()  # the lock goes; the killed client's backend finds its socket closed
            gone = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() " \
                   "AND query LIKE 'UPDATE review_decisions%' AND pid <> pg_backend_pid()"
            end = time.monotonic() + 30
            while scalar(engine, gone):
                assert time.monotonic() < end, "the killed run's session is still there"
                time.sleep(0.05)
        else:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    log_text = (tmp_path / "run.log").read_text()
    assert "done:" not in log_text, f"the run finished before the kill:\n{log_text[-2000:]}"

    states = report_states(sessions)
    redacted = [rid for rid, state in states.items() if state == (REDACTED_TEXT, [None])]
    untouched = [rid for rid, (body, notes) in states.items()
                 if (body, notes) == (f"text of report {rid[2:]}", [f"note on report {rid[2:]}"])]
    assert len(redacted) + len(untouched) == n, "a report half redacted (text without its notes, or the reverse)"
    records = retention_audit(sessions)
    assert 1 <= len(records) < n // batch, "killed mid-run"
    assert len(redacted) == len(records) * batch, "whole batches only"
    assert redacted == [f"r-{i}" for i in range(len(redacted))], "batches in id order, none skipped"
    assert sorted(rid for r in records for rid in r.details["report_ids"]) == sorted(redacted), \
        "the audit names exactly what was redacted"

    rerun = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)

    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines()[1].split()[:2] == ["reports", str(n - len(redacted))]
    assert all(state == (REDACTED_TEXT, [None]) for state in report_states(sessions).values())
    ids = [rid for record in retention_audit(sessions) for rid in record.details["report_ids"]]
    assert sorted(ids) == sorted(states), "every report redacted in exactly one committed batch"
    engine.dispose()
