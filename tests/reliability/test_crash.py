"""Crash: ``kill -9`` a real ``triage serve`` in the middle of mixed load, start it again on the same port and
database, and let the load script's client retry what failed with the same report_ids. On SQLite (a file) and
on PostgreSQL (marker ``postgres``). Then: every report and review decision answered 2xx, before or after the
crash, is stored once; a report the first server stored is answered ``replayed: true`` with the decision it
got; nothing is half-written.

    python -m pytest -q tests/reliability/test_crash.py
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from benchmarks.load import BATCH, DECIDE, SCORE, LoadConfig, LoadGenerator, LoadResult, verify
from benchmarks.server import ManagedServer
from serving.db.models import ReportRow

pytestmark = pytest.mark.slow  # kill -9 of a `triage serve` process under load: about 20 s
#: Arrivals per second; seconds of load before the kill, and after the restarted server is ready.
RATE, BEFORE, AFTER = 8.0, 5.0, 3.0


async def load_with_a_crash(server: ManagedServer, intake: str, reviewer: str) -> tuple[LoadResult, float, datetime]:
    """The load, with the server SIGKILLed after ``BEFORE`` seconds and started again at once; arrivals go on
    (the client meets refused connections, then 503 while the model loads, and retries) until ``AFTER`` seconds
    after the new server is ready. Returns the result and when the kill happened (seconds into the run, and
    wall clock)."""
    generator = LoadGenerator(server.url, intake, reviewer,
                              LoadConfig(rate=RATE, duration=300, seed=11, give_up_after=120))
    load = asyncio.create_task(generator.run())
    await asyncio.sleep(BEFORE)
    killed_at, killed_wall = generator.elapsed(), datetime.now(UTC)
    server.kill()
    await asyncio.to_thread(server.start)
    await asyncio.sleep(AFTER)
    generator.stop()
    return await load, killed_at, killed_wall


def stored_received_at(database_url: str, report_ids: set[str]) -> dict[str, datetime]:
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            rows = session.execute(select(ReportRow.report_id, ReportRow.received_at)
                                   .where(ReportRow.report_id.in_(sorted(report_ids)))).all()
            return {rid: at for rid, at in rows}
    finally:
        engine.dispose()


def without_replayed(decision: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in decision.items() if k != "replayed"}


def test_kill_9_mid_load_then_restart_loses_nothing_and_duplicates_nothing(
        env: dict[str, str], database_url: str, tmp_path: Path) -> None:
    server = ManagedServer({**env, "TRIAGE_DATABASE_URL": database_url}, tmp_path / "server.log")
    intake, reviewer = server.create_key("crash-intake", "intake"), server.create_key("crash-reviewer", "reviewer")
    server.start()
    try:
        result, killed_at, killed_wall = asyncio.run(load_with_a_crash(server, intake, reviewer))

        # The kill hit the load: requests in flight or sent during the restart failed and were retried, and
        # requests were answered on both sides of it.
        retried = [op for op in result.ops if op.retried]
        assert any(a.status is None for op in retried for a in op.attempts), "no request met the crash"
        assert any(op.finished_at < killed_at for op in result.ops if op.outcome == "ok")
        assert any(op.attempts[0].ended_at > killed_at and not op.retried for op in result.ops)
        # Every request ended with its answer: nothing given up.
        assert [op for op in result.ops if op.outcome == "failed"] == []
        assert {SCORE, BATCH, DECIDE} <= {op.kind for op in result.ops}

        # Every report and decision answered 2xx is stored once, none that was not sent, none half-written;
        # nothing is stored that the client does not hold a 2xx answer for (every failure was retried).
        check = verify(result, database_url)
        assert check.problems() == []
        assert check.reports_stored == check.reports_acknowledged == len(result.sent_report_ids())
        assert check.reports_unacknowledged_stored == []
        assert check.decisions_stored == check.decisions_acknowledged > 0

        # A retried report is a replay exactly when the first server had stored it before it died.
        received = stored_received_at(database_url, result.sent_report_ids())
        for op in result.ops:
            for decision in op.decisions():
                stored_before_crash = received[decision["report_id"]] < killed_wall
                assert decision["replayed"] is (op.retried and stored_before_crash), (op.kind, op.attempts)

        # Sent again now, every report answered before the crash is replayed, with the decision it got then.
        before = [op for op in result.ops if op.kind in (SCORE, BATCH) and op.outcome == "ok"
                  and op.finished_at < killed_at]
        answered = {d["report_id"]: d for op in before for d in op.decisions()}
        bodies = [report for op in before for report in op.report_bodies()]
        headers = {"Authorization": f"Bearer {intake}"}
        single = httpx.post(f"{server.url}/v1/reports:score", json=bodies[0], headers=headers, timeout=30)
        assert single.status_code == 200 and single.headers["Idempotent-Replayed"] == "true"
        for start in range(0, len(bodies), 256):
            again = httpx.post(f"{server.url}/v1/reports:batchScore", json={"reports": bodies[start:start + 256]},
                               headers=headers, timeout=60)
            assert again.status_code == 200, again.text
            for decision in again.json()["results"]:
                assert decision["replayed"] is True
                assert without_replayed(decision) == without_replayed(answered[decision["report_id"]])
        assert verify(result, database_url).problems() == []  # and the replays stored nothing
        assert server.alive()
    finally:
        server.stop()
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
