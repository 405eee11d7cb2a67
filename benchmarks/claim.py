"""The "claim next" of a deep backlog: the time of one claim with and without the reviewer's languages.

Seeds ``--items`` open items in ``human_escalation`` (five languages, spread priorities and deadlines) into a fresh
database (SQLite in a temporary folder, or ``--database-url``, an empty database), then claims ``--claims`` items
as reviewers without languages and as reviewers reading German, each claim its own transaction, and prints the
median and worst time per claim. The languages preference is one more ORDER BY term; what a claim costs at depth
is mostly the search for the most urgent claimable item.

    python -m benchmarks.claim --items 50000
    python -m benchmarks.claim --items 50000 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from model.settings import DEFAULT_ROUTING_POLICY
from serving.auth import Principal, Role
from serving.db.engine import make_engine, make_sessionmaker, transaction, upgrade
from serving.db.models import QueueItemRow, ReportRow, utcnow
from serving.policy import load_policy
from serving.queues import claim_next

LANGUAGES = ("en", "de", "fr", "es", "ar")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--claims", type=int, default=30)
    parser.add_argument("--database-url", default=None, help="An empty database (default: SQLite in a temp folder).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.database_url or f"sqlite:///{Path(tmp) / 'claim.db'}")
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        now = utcnow()
        with transaction(sessions) as session:
            pks = list(session.scalars(insert(ReportRow).returning(ReportRow.id, sort_by_parameter_order=True), [
                {"report_id": f"claim-{i}", "payload_sha256": "0" * 64, "text": "benchmark", "language_hint": None,
                 "reporter_type": "user", "channel": "in_app", "surface": "post", "reporter_reason": None,
                 "followers": None, "prior_strikes": None, "report_count": 1, "created_at": now, "received_at": now,
                 "submitted_by": None} for i in range(args.items)]))
            session.execute(insert(QueueItemRow), [
                {"report_pk": pk, "queue": "human_escalation", "kind": "primary", "status": "open",
                 "priority": 60 + pk % 40, "due_at": now + timedelta(minutes=pk % 600), "created_at": now,
                 "claimed_by": None, "lease_expires_at": None, "closed_at": None, "blind_to": None,
                 "language": LANGUAGES[pk % len(LANGUAGES)], "market": None, "page_at": None} for pk in pks])
        policy = load_policy(DEFAULT_ROUTING_POLICY)
        for label, languages in (("no languages", frozenset[str]()), ("languages de", frozenset({"de"}))):
            times, got = [], []
            for i in range(args.claims):
                reviewer = Principal(key_id=f"bench{i:07d}", name="bench", role=Role.REVIEWER, languages=languages)
                began = time.perf_counter()
                with transaction(sessions) as session:
                    item = claim_next(session, "human_escalation", reviewer, policy)
                    got.append(item.language if item is not None else None)
                times.append(time.perf_counter() - began)
            print(f"{engine.dialect.name}, {args.items:,} open items, {label}: claim median "
                  f"{statistics.median(times) * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms; languages claimed "
                  f"{sorted(set(map(str, got)))}")
        engine.dispose()


if __name__ == "__main__":
    main()
