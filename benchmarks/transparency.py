"""The statements-of-reasons export and the transparency report at volume: time and memory for a year of decisions.

Seeds ``--decisions`` enforcement decisions (plus a tenth as many appeals, half of them reversed) into a fresh
database (SQLite in a temporary folder, or ``--database-url``, which should be an empty database), in chunks, then
times ``export_statements`` and ``transparency_report`` over the whole period and prints the rows written, rows
per second, and the process's peak resident memory before and after each step: a streamed export stays flat
however many rows there are (no row limit, no list of every decision in memory).

    python -m benchmarks.transparency --decisions 200000
    python -m benchmarks.transparency --decisions 200000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from serving.db.engine import make_engine, make_sessionmaker, transaction, upgrade
from serving.db.models import AppealRow, QueueItemRow, ReportRow, ReviewDecisionRow, RouteRow
from serving.transparency import export_statements, transparency_report

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)
AREAS = (["hate_speech"], ["spam_fraud"], ["violence_incitement"], ["adult_sexual"], ["privacy", "harassment"])
ACTIONS = ("remove", "restrict", "age_restrict", "suspend_account")
CHUNK = 5_000


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _seed_chunk(session: Session, first: int, n: int, total: int) -> None:
    """Decisions ``first`` to ``first + n`` of ``total``, received evenly over the year."""
    span = END - START - timedelta(days=2)
    at = [START + span * (i / total) for i in range(first, first + n)]
    pks = list(session.scalars(insert(ReportRow).returning(ReportRow.id, sort_by_parameter_order=True), [
        {"report_id": f"bench-{i}", "payload_sha256": "0" * 64, "text": "benchmark text", "language_hint": None,
         "reporter_type": ("user", "trusted_flagger", "press")[i % 3], "channel": "in_app", "surface": "post",
         "reporter_reason": None, "followers": None, "prior_strikes": None, "report_count": 1,
         "created_at": t, "received_at": t, "submitted_by": None} for i, t in zip(range(first, first + n), at,
                                                                                  strict=True)]))
    session.execute(insert(RouteRow), [
        {"report_pk": pk, "policy_version": "bench", "tier": "medium", "language": ("en", "de", "fr")[pk % 3],
         "action": "review", "queue": "human_escalation", "priority": 50, "sla_deadline": None,
         "is_grey_area": False, "grey_reasons": [], "rules": [], "decided_at": t, "market": None}
        for pk, t in zip(pks, at, strict=True)])
    items = list(session.scalars(insert(QueueItemRow).returning(QueueItemRow.id, sort_by_parameter_order=True), [
        {"report_pk": pk, "queue": "human_escalation", "kind": "primary", "status": "done", "priority": 50,
         "due_at": None, "created_at": t, "claimed_by": "k1", "lease_expires_at": None, "closed_at": t,
         "blind_to": None, "language": None, "market": None, "page_at": None} for pk, t in zip(pks, at, strict=True)]))
    decided = [t + timedelta(hours=1 + pk % 7) for pk, t in zip(pks, at, strict=True)]
    decisions = list(session.scalars(insert(ReviewDecisionRow).returning(
        ReviewDecisionRow.id, sort_by_parameter_order=True), [
        {"queue_item_id": item, "report_pk": pk, "reviewer": "k1", "risk_tier": "medium",
         "policy_areas": AREAS[pk % len(AREAS)], "action": ACTIONS[pk % len(ACTIONS)], "note": None,
         "model_version": "m:1", "decided_at": d} for pk, item, d in zip(pks, items, decided, strict=True)]))
    appealed = [(pk, item, decision, d) for pk, item, decision, d in zip(pks, items, decisions, decided, strict=True)
                if pk % 10 == 0]
    session.execute(insert(AppealRow), [
        {"appeal_id": f"bench-ap-{pk}", "payload_sha256": "0" * 64, "report_pk": pk, "appellant": "affected_user",
         "reason": None, "submitted_by": "k0", "received_at": d + timedelta(hours=2), "contested_decision_id": decision,
         "contested_action": ACTIONS[pk % len(ACTIONS)], "contested_at": d, "queue_item_id": item,
         "status": "decided", "outcome": "reversed" if pk % 20 == 0 else "upheld", "decision_id": None,
         "decided_at": d + timedelta(hours=30)} for pk, item, decision, d in appealed])


def seed(sessions: sessionmaker[Session], decisions: int) -> None:
    for first in range(0, decisions, CHUNK):
        with transaction(sessions) as session:
            _seed_chunk(session, first, min(CHUNK, decisions - first), decisions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--database-url", default=None, help="An empty database (default: SQLite in a temp folder).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        began = time.monotonic()
        seed(sessions, args.decisions)
        print(f"seeded {args.decisions:,} enforcement decisions on {engine.dialect.name} in "
              f"{time.monotonic() - began:.1f} s; peak RSS {peak_rss_mib():.0f} MiB")

        rss_before = peak_rss_mib()
        began = time.monotonic()
        summary = export_statements(sessions, Path(tmp) / "statements.jsonl", START, END)
        took = time.monotonic() - began
        size = (Path(tmp) / "statements.jsonl").stat().st_size / 2**20
        print(f"export_statements: {summary.written:,} statements ({size:.0f} MiB) in {took:.1f} s = "
              f"{summary.written / took:,.0f}/s; peak RSS {rss_before:.0f} -> {peak_rss_mib():.0f} MiB")

        rss_before = peak_rss_mib()
        began = time.monotonic()
        with sessions() as session:
            report = transparency_report(session, START, END)
        took = time.monotonic() - began
        print(f"transparency_report: {took:.1f} s; peak RSS {rss_before:.0f} -> {peak_rss_mib():.0f} MiB; "
              f"{report.enforcement_decisions:,} enforcement decisions, median time to action "
              f"{report.median_hours_to_action or 0:.1f} h, {report.appeals.filed:,} appeals filed, "
              f"{report.appeals.decided:,} decided, {report.appeals.reversed:,} reversed")
        engine.dispose()


if __name__ == "__main__":
    main()
