"""Retention: report text older than a configured age is redacted, in batches; decisions, audit and counts stay.

What a run does to a report received before the cutoff (``reports.received_at``, the server's clock; the client's
``created_at`` is not trusted for this) whose queue items are all closed: ``reports.text`` becomes
``REDACTED_TEXT`` and the reviewer notes of its decisions (``review_decisions.note``, free text that may hold
personal data) and the appellants' reasons of its appeals (``appeals.reason``) become NULL. Every row stays: the
report (its id, content hash, metadata), score, route, queue items, decisions and audit entries, so queue counts,
QA agreement, trends, metrics and a resend of the report (answered as a replay: the idempotency key and content
hash stay) work as before. A report still waiting for review (an open or claimed queue item) is held, whatever its
age, and counted as held. Review-action idempotency records older than ``serving.idempotency.KEY_TTL`` (dead: their
keys are forgotten) are deleted.

Batches: ``batch_size`` reports a transaction, in id order. A batch's text redaction, note clearing and its audit
record (ids and counts, actor ``retention``) commit together or not at all, so a run killed at any moment leaves
every report fully redacted (text and notes) or untouched, and the next run carries on: a report with the marker
text and no note left is not a candidate, so a rerun skips what is done and a finished run's rerun changes nothing.
The marker is the one the operator's guide's manual SQL wrote, so reports redacted that way count as done.

Choosing a batch and changing it are one statement (the choice is a sub-query of the UPDATE), and "every queue item
closed" cannot revert while it runs: a closed item is never reopened, and the only item created for an existing
report (a second review) is created in the transaction that closes another. An appeal is the exception: it opens an
item on a report that may be past the cutoff, and one filed while a batch redacts that report finds its text
redacted (the appeal's reviewer then sees the decision and the appeal, not the content). Two runs at once take
turns batch by batch, so none redacts (or audits) a report the other did: on SQLite that UPDATE is the batch's
first write and holds the write lock; on PostgreSQL each batch transaction first takes an advisory lock
(``RETENTION_LOCK_KEY``, released at its commit or when a killed run's session ends). Without it, a batch chosen
from a snapshot taken before the other run's commit would redact rows again: PostgreSQL rechecks a changed row
against the new text, but the sub-queries on notes against the old snapshot (measured: 607 and 614 redactions of
600 reports by two concurrent runs).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, exists, func, not_, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from serving import audit
from serving.db.engine import transaction
from serving.db.models import (
    AppealRow,
    AuditRow,
    IdempotentActionRow,
    QueueItemRow,
    ReportRow,
    ReviewDecisionRow,
    utcnow,
)
from serving.idempotency import KEY_TTL
from serving.queues import DONE

#: What a redacted report's text becomes (``reports.text`` is NOT NULL). A report whose text is exactly this
#: has nothing left to redact; the decisions export skips it.
REDACTED_TEXT = "[removed: retention]"
ACTOR = "retention"
SUBJECT_TYPE = "retention_run"
REPORTS_REDACTED = "retention.reports_redacted"
KEYS_DELETED = "retention.idempotency_keys_deleted"
DEFAULT_BATCH_SIZE = 500
#: Key of the PostgreSQL advisory lock each batch transaction takes (``serving.db.engine`` uses ..._0001).
RETENTION_LOCK_KEY = 0x747269616765_0002
#: Bounds of ``--batch-size`` and ``--older-than`` (a longer age than this would reach before year 1).
MAX_BATCH_SIZE = 10_000
MAX_DAYS = 36_500


def cutoff_for(older_than_days: int, now: datetime) -> datetime:
    """Reports received before this are past retention."""
    if not 0 < older_than_days <= MAX_DAYS:
        raise ValueError(f"older_than_days must be 1 to {MAX_DAYS}, not {older_than_days}")
    return now - timedelta(days=older_than_days)


def _pending(report: Any) -> ColumnElement[bool]:
    """The report has a queue item not yet closed: it is still waiting for review."""
    return exists().where(QueueItemRow.report_pk == report.id, QueueItemRow.status != DONE)


def _has_note(report: Any) -> ColumnElement[bool]:
    """A reviewer's note or an appellant's reason is left: free text to clear."""
    return or_(exists().where(ReviewDecisionRow.report_pk == report.id, ReviewDecisionRow.note.is_not(None)),
               exists().where(AppealRow.report_pk == report.id, AppealRow.reason.is_not(None)))


def _needs_work(report: Any) -> ColumnElement[bool]:
    return or_(report.text != REDACTED_TEXT, _has_note(report))


def _old(report: Any, cutoff: datetime) -> ColumnElement[bool]:
    return cast("ColumnElement[bool]", report.received_at < cutoff)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run would do now (and what the dry run prints)."""

    older_than_days: int
    cutoff: datetime
    #: Reports past the cutoff, all queue items closed, with text or notes left: a run redacts these.
    reports_to_redact: int
    #: Notes on those reports' decisions: a run sets them to NULL.
    notes_to_clear: int
    #: Reports past the cutoff that are already redacted (marker text, no note).
    already_redacted: int
    #: Reports past the cutoff still waiting for review (an open or claimed item): kept until it is closed.
    held_for_review: int
    idempotency_cutoff: datetime
    #: Idempotency records created before ``idempotency_cutoff``: a run deletes them.
    idempotency_keys_to_delete: int


def plan(session: Session, older_than_days: int, now: datetime | None = None) -> Plan:
    """Count what ``apply`` would do; changes nothing."""
    now = now or utcnow()
    cutoff = cutoff_for(older_than_days, now)
    old = _old(ReportRow, cutoff)

    def reports(*where: ColumnElement[bool]) -> int:
        return int(session.scalar(select(func.count()).select_from(ReportRow).where(old, *where)) or 0)

    closed = not_(_pending(ReportRow))
    notes = session.scalar(
        select(func.count()).select_from(ReviewDecisionRow).join(ReportRow, ReportRow.id == ReviewDecisionRow.report_pk)
        .where(old, closed, ReviewDecisionRow.note.is_not(None)))
    keys_cutoff = now - KEY_TTL
    keys = session.scalar(select(func.count()).select_from(IdempotentActionRow)
                          .where(IdempotentActionRow.created_at < keys_cutoff))
    return Plan(older_than_days=older_than_days, cutoff=cutoff,
                reports_to_redact=reports(closed, _needs_work(ReportRow)), notes_to_clear=int(notes or 0),
                already_redacted=reports(closed, not_(_needs_work(ReportRow))),
                held_for_review=reports(_pending(ReportRow)), idempotency_cutoff=keys_cutoff,
                idempotency_keys_to_delete=int(keys or 0))


@dataclass(frozen=True, slots=True)
class Batch:
    """One committed batch: ``kind`` ``reports`` (redacted) or ``idempotency_keys`` (deleted)."""

    kind: str
    number: int
    first_id: int
    last_id: int
    rows: int
    notes_cleared: int = 0


@dataclass(frozen=True, slots=True)
class Applied:
    run_id: str
    cutoff: datetime
    report_batches: int
    reports_redacted: int
    notes_cleared: int
    idempotency_keys_deleted: int


def _redact_batch(session: Session, cutoff: datetime, after_id: int,
                  batch_size: int) -> tuple[list[tuple[int, str]], int]:
    """Redact the next ``batch_size`` candidates with an id above ``after_id``: (their (id, report_id)s in id
    order, notes cleared)."""
    candidate = aliased(ReportRow, name="candidate")
    chosen = (select(candidate.id)
              .where(candidate.id > after_id, _old(candidate, cutoff), not_(_pending(candidate)),
                     _needs_work(candidate))
              .order_by(candidate.id).limit(batch_size))
    # The choice and the change are one statement (see the module docstring), and it is the batch's first write.
    redacted = sorted((pk, rid) for pk, rid in session.execute(
        update(ReportRow).where(ReportRow.id.in_(chosen.scalar_subquery())).values(text=REDACTED_TEXT)
        .returning(ReportRow.id, ReportRow.report_id).execution_options(synchronize_session=False)))
    if not redacted:
        return [], 0
    pks = [pk for pk, _ in redacted]
    cleared = session.execute(
        update(ReviewDecisionRow)
        .where(ReviewDecisionRow.report_pk.in_(pks), ReviewDecisionRow.note.is_not(None))
        .values(note=None).execution_options(synchronize_session=False))
    session.execute(update(AppealRow).where(AppealRow.report_pk.in_(pks), AppealRow.reason.is_not(None))
                    .values(reason=None).execution_options(synchronize_session=False))
    return redacted, cast("CursorResult[Any]", cleared).rowcount


def _take_turn(session: Session) -> None:
    """On PostgreSQL, wait for another run's batch to commit (see the module docstring); on SQLite the first
    write of the batch does that."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(RETENTION_LOCK_KEY)))


def _delete_keys_batch(session: Session, cutoff: datetime, batch_size: int) -> list[int]:
    ids = list(session.scalars(select(IdempotentActionRow.id).where(IdempotentActionRow.created_at < cutoff)
                               .order_by(IdempotentActionRow.id).limit(batch_size)))
    if ids:
        session.execute(delete(IdempotentActionRow).where(IdempotentActionRow.id.in_(ids))
                        .execution_options(synchronize_session=False))
    return ids


def apply(sessions: sessionmaker[Session], older_than_days: int, *, batch_size: int = DEFAULT_BATCH_SIZE,
          now: datetime | None = None, pause_seconds: float = 0.0,
          on_batch: Callable[[Batch], None] | None = None) -> Applied:
    """Redact the reports past retention and delete the dead idempotency records, ``batch_size`` rows a
    transaction, each with its audit record; ``on_batch`` is called after each commit, and ``pause_seconds``
    slept between batches (to leave a busy database some room)."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be 1 to {MAX_BATCH_SIZE}, not {batch_size}")
    now = now or utcnow()
    cutoff = cutoff_for(older_than_days, now)
    run_id = f"ret_{uuid.uuid4().hex[:16]}"
    after_id = number = redacted_total = notes_total = 0
    while True:
        with transaction(sessions) as session:
            _take_turn(session)
            redacted, cleared = _redact_batch(session, cutoff, after_id, batch_size)
            if not redacted:
                break
            number += 1
            audit.record(session, ACTOR, REPORTS_REDACTED, SUBJECT_TYPE, run_id, {
                "batch": number, "older_than_days": older_than_days, "cutoff": cutoff.isoformat(),
                "reports": len(redacted), "notes_cleared": cleared, "report_ids": [rid for _, rid in redacted]})
        after_id = redacted[-1][0]
        redacted_total += len(redacted)
        notes_total += cleared
        if on_batch is not None:
            on_batch(Batch("reports", number, redacted[0][0], after_id, len(redacted), cleared))
        if pause_seconds:
            time.sleep(pause_seconds)
    keys_cutoff = now - KEY_TTL
    keys_total = keys_batches = 0
    while True:
        with transaction(sessions) as session:
            _take_turn(session)
            ids = _delete_keys_batch(session, keys_cutoff, batch_size)
            if not ids:
                break
            keys_batches += 1
            audit.record(session, ACTOR, KEYS_DELETED, SUBJECT_TYPE, run_id, {
                "batch": keys_batches, "created_before": keys_cutoff.isoformat(), "rows": len(ids),
                "first_id": ids[0], "last_id": ids[-1]})
        keys_total += len(ids)
        if on_batch is not None:
            on_batch(Batch("idempotency_keys", keys_batches, ids[0], ids[-1], len(ids)))
    return Applied(run_id=run_id, cutoff=cutoff, report_batches=number, reports_redacted=redacted_total,
                   notes_cleared=notes_total, idempotency_keys_deleted=keys_total)


@dataclass(frozen=True, slots=True)
class Status:
    reports: int
    redacted: int
    #: When the oldest report whose text is still kept was received (None: none kept).
    oldest_kept: datetime | None
    #: The last run's id, when its last batch committed, and the reports it redacted (None: no run yet).
    last_run: str | None
    last_run_at: datetime | None
    last_run_reports: int


def status(session: Session) -> Status:
    """How much text is redacted, the oldest text kept, and the last run (from the audit log)."""
    total = int(session.scalar(select(func.count()).select_from(ReportRow)) or 0)
    redacted = int(session.scalar(select(func.count()).select_from(ReportRow)
                                  .where(ReportRow.text == REDACTED_TEXT)) or 0)
    oldest = session.scalar(select(func.min(ReportRow.received_at)).where(ReportRow.text != REDACTED_TEXT))
    last = session.scalars(select(AuditRow).where(AuditRow.actor == ACTOR, AuditRow.subject_type == SUBJECT_TYPE)
                           .order_by(AuditRow.id.desc()).limit(1)).one_or_none()
    run_reports = 0
    if last is not None:
        for details in session.scalars(select(AuditRow.details).where(
                AuditRow.subject_type == SUBJECT_TYPE, AuditRow.subject_id == last.subject_id,
                AuditRow.action == REPORTS_REDACTED)):
            run_reports += int(details.get("reports", 0))
    return Status(reports=total, redacted=redacted, oldest_kept=oldest,
                  last_run=last.subject_id if last else None, last_run_at=last.at if last else None,
                  last_run_reports=run_reports)
