"""The service database on SQLite and PostgreSQL: migrations, the schema, the append-only audit log, UTC
timestamps, hashed API keys, idempotent scoring under concurrency and all-or-nothing batches."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from model.schema import Report, ReporterType
from serving import audit
from serving.auth import Principal, Role, authenticate, create_key, revoke_key
from serving.db.engine import current_revision, head_revision, make_engine, make_sessionmaker, transaction, upgrade
from serving.db.models import ApiKeyRow, AuditRow, Base, QueueItemRow, ReportRow, RouteRow, ScoreRow
from serving.deps import AppState
from serving.service import ReportConflict, ScoringService
from tests.support.api import Keys

THREADS = 8


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty database."""
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions on a database migrated to head."""
    upgrade(engine)
    return make_sessionmaker(engine)


@pytest.fixture
def state(api_on_each_database: tuple[TestClient, Keys]) -> AppState:
    """A running app (with the tiny model) on this test's database."""
    client, _ = api_on_each_database
    return client.app.state.triage  # type: ignore[attr-defined,no-any-return]


def service_of(state: AppState) -> ScoringService:
    assert state.service is not None, "start_client waits until the model is loaded"
    return state.service


def intake(state: AppState) -> Principal:
    with transaction(state.sessions) as session:
        key = create_key(session, "db-test-intake", Role.INTAKE)
    return Principal(key_id=key.key_id, name=key.name, role=key.role)


def count(sessions: sessionmaker[Session], table: Any, *where: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def audit_row(sessions: sessionmaker[Session], row_id: int) -> dict[str, Any]:
    with sessions() as session:
        row = session.get_one(AuditRow, row_id)
        return {column.key: getattr(row, column.key) for column in AuditRow.__table__.columns}


def stored_report_ids(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(ReportRow.report_id)))


# --- migrations -----------------------------------------------------------------------------------

def test_upgrade_migrates_an_empty_database_to_head_and_is_idempotent(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_the_migrated_schema_matches_the_models(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


# --- the audit log --------------------------------------------------------------------------------

def add_audit_entry(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as session:
        audit.record(session, "system", "test.done", "report", "r-1", {"tier": "low"})
        session.flush()
        return session.scalars(select(AuditRow.id).where(AuditRow.action == "test.done")).one()


def test_audit_entries_can_be_added(sessions: sessionmaker[Session]) -> None:
    row_id = add_audit_entry(sessions)
    row = audit_row(sessions, row_id)
    assert (row["actor"], row["action"], row["subject_type"], row["subject_id"]) == ("system", "test.done",
                                                                                   "report", "r-1")
    assert row["details"] == {"tier": "low"}


@pytest.mark.parametrize("statement", [
    pytest.param(lambda row_id: update(AuditRow).where(AuditRow.id == row_id).values(actor="mallory"), id="update"),
    pytest.param(lambda row_id: delete(AuditRow).where(AuditRow.id == row_id), id="delete"),
])
def test_the_audit_log_refuses_updates_and_deletes(sessions: sessionmaker[Session], statement: Any) -> None:
    row_id = add_audit_entry(sessions)
    before = audit_row(sessions, row_id)
    with pytest.raises(DBAPIError, match="append-only"), transaction(sessions) as session:
        session.execute(statement(row_id))
    assert audit_row(sessions, row_id) == before


# --- timestamps -----------------------------------------------------------------------------------

def test_timestamps_come_back_as_the_same_instant_in_utc(sessions: sessionmaker[Session]) -> None:
    sent = datetime(2026, 11, 22, 23, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    with transaction(sessions) as session:
        session.add(AuditRow(at=sent, actor="system", action="test.time", subject_type="report", subject_id="r-1",
                             details={}))
    with sessions() as session:
        read = session.scalars(select(AuditRow.at).where(AuditRow.action == "test.time")).one()
    assert read.tzinfo is UTC
    assert read == sent
    assert read.isoformat() == "2026-11-23T04:30:15.123456+00:00"


def test_a_naive_timestamp_is_refused(sessions: sessionmaker[Session]) -> None:
    naive = datetime(2026, 11, 22, 10, 0)
    with pytest.raises(StatementError, match="naive datetime"), transaction(sessions) as session:
        session.add(AuditRow(at=naive, actor="system", action="test.time", subject_type="report",
                             subject_id="r-1", details={}))
    assert count(sessions, AuditRow) == 0


# --- API keys -------------------------------------------------------------------------------------

def new_key(sessions: sessionmaker[Session], role: Role = Role.REVIEWER) -> tuple[str, str]:
    """(key_id, the full key as shown once to its creator)."""
    with transaction(sessions) as session:
        key = create_key(session, "db-test", role)
    return key.key_id, key.secret


def test_only_the_sha256_of_a_key_secret_is_stored(sessions: sessionmaker[Session]) -> None:
    key_id, full_key = new_key(sessions)
    secret = full_key.split("_", 2)[2]
    with sessions() as session:
        row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).one()
        stored = [str(getattr(row, column.key)) for column in ApiKeyRow.__table__.columns]
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in value or full_key in value for value in stored)


def test_a_key_authenticates_with_its_role(sessions: sessionmaker[Session]) -> None:
    key_id, full_key = new_key(sessions, Role.INTAKE)
    with sessions() as session:
        assert authenticate(session, full_key) == Principal(key_id=key_id, name="db-test", role=Role.INTAKE)


def test_a_wrong_secret_is_refused(sessions: sessionmaker[Session]) -> None:
    key_id, full_key = new_key(sessions)
    wrong = f"trg_{key_id}_{'A' * 43}"
    assert wrong != full_key
    with sessions() as session:
        assert authenticate(session, wrong) is None


@pytest.mark.parametrize("mangle", [
    pytest.param(lambda key: key[:-1], id="truncated"),
    pytest.param(lambda key: key + "x", id="too long"),
    pytest.param(lambda key: key.replace("trg_", "api_", 1), id="wrong prefix"),
    pytest.param(lambda key: key.split("_", 2)[2], id="secret only"),
    pytest.param(lambda key: "", id="empty"),
])
def test_a_malformed_key_is_refused(sessions: sessionmaker[Session], mangle: Any) -> None:
    _, full_key = new_key(sessions)
    with sessions() as session:
        assert authenticate(session, mangle(full_key)) is None


def test_a_revoked_key_is_refused(sessions: sessionmaker[Session]) -> None:
    key_id, full_key = new_key(sessions)
    with transaction(sessions) as session:
        assert revoke_key(session, key_id) is True
    with transaction(sessions) as session:
        assert revoke_key(session, key_id) is False, "a key is revoked once"
    with sessions() as session:
        assert authenticate(session, full_key) is None
    assert count(sessions, AuditRow, AuditRow.action == "api_key.revoked", AuditRow.subject_id == key_id) == 1


# --- scoring: idempotency and atomicity -----------------------------------------------------------

def report(report_id: str, text: str = "you are a wonderful person") -> Report:
    """A press report: those always get a queue item."""
    return Report(report_id=report_id, text=text, reporter_type=ReporterType.PRESS)


def test_the_same_report_sent_concurrently_is_stored_once(state: AppState) -> None:
    service, principal = service_of(state), intake(state)
    start = threading.Barrier(THREADS, timeout=30)

    def send() -> Any:
        start.wait()  # every thread sends at the same moment
        return service.score([report("same-1")], principal)[0]

    with ThreadPoolExecutor(THREADS) as pool:
        decisions = [f.result(timeout=120) for f in [pool.submit(send) for _ in range(THREADS)]]

    # Compared as JSON text: a replay answers byte for byte what was decided (tiers in order on PostgreSQL too).
    answers = [d.model_dump_json(exclude={"replayed"}) for d in decisions]
    assert all(answer == answers[0] for answer in answers), "every sender gets the same decision"
    assert sorted(d.replayed for d in decisions) == [False] + [True] * (THREADS - 1)
    sessions = state.sessions
    assert count(sessions, ReportRow, ReportRow.report_id == "same-1") == 1
    assert count(sessions, ScoreRow) == 1 and count(sessions, RouteRow) == 1
    assert count(sessions, QueueItemRow) == 1  # a press report gets one queue item, never one per sender
    assert count(sessions, AuditRow, AuditRow.action == "report.scored", AuditRow.subject_id == "same-1") == 1


def test_a_batch_conflicting_with_a_stored_report_stores_nothing(state: AppState) -> None:
    service, principal = service_of(state), intake(state)
    service.score([report("kept")], principal)
    batch = [report("new-1"), report("kept", text="other content"), report("new-2")]
    with pytest.raises(ReportConflict):
        service.score(batch, principal)
    assert stored_report_ids(state.sessions) == {"kept"}
    assert count(state.sessions, AuditRow, AuditRow.action == "report.scored") == 1


def test_a_batch_failing_inside_the_transaction_stores_nothing(state: AppState,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    service, principal = service_of(state), intake(state)
    service.score([report("kept")], principal)
    # As if another request stored "kept" between the service's read and its write, every time: the insert of
    # "kept" fails in the database after "new-1" was already written in the same transaction.
    monkeypatch.setattr(service, "_stored", lambda report_ids: {})
    with pytest.raises(IntegrityError):
        service.score([report("new-1"), report("kept"), report("new-2")], principal)
    assert stored_report_ids(state.sessions) == {"kept"}
    assert count(state.sessions, ScoreRow) == 1 and count(state.sessions, RouteRow) == 1
    assert count(state.sessions, QueueItemRow) == 1
    assert count(state.sessions, AuditRow, AuditRow.action == "report.scored") == 1
