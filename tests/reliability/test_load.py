"""Load: the open-loop load script (``benchmarks/load.py``) against a real ``triage serve`` over loopback HTTP,
mixed single and batch scoring and review traffic, then its check of the database.

CI runs 15 s at 20 arrivals/s; the full run (2 minutes at 50/s, the server started by the script) is marked
``slow``, and is the documented command::

    python -m benchmarks.load --model-path var/models/demo --rate 50 --duration 120
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session

from benchmarks.load import (
    BATCH,
    CLAIM,
    DECIDE,
    QUEUES,
    SCORE,
    LoadConfig,
    LoadGenerator,
    LoadResult,
    Mix,
    verify,
)
from serving.db.models import QueueItemRow, ReportRow, ReviewDecisionRow, RouteRow, ScoreRow
from tests.support import REPO
from tests.support.cli import triage

pytestmark = pytest.mark.slow  # a real `triage serve` under load, and the load script as a process

def keys(env: dict[str, str]) -> tuple[str, str]:
    made = [triage("keys", "create", "--name", f"load-{role}", "--role", role, env=env)
            for role in ("intake", "reviewer")]
    for done in made:
        assert done.returncode == 0, done.stderr
    return made[0].stdout.strip(), made[1].stdout.strip()


def run_load(url: str, env: dict[str, str], config: LoadConfig) -> LoadResult:
    intake, reviewer = keys(env)
    return asyncio.run(LoadGenerator(url, intake, reviewer, config).run())


def test_mixed_load_is_answered_without_errors_and_every_2xx_is_stored_exactly_once(
        server: tuple[str, subprocess.Popen[str], Path], env: dict[str, str]) -> None:
    base, process, log_path = server
    result = run_load(base, env, LoadConfig(rate=20, duration=15, seed=3))

    assert result.errors() == [], log_path.read_text()[-3000:]
    summary = result.summary()
    assert summary["attempts_by_class"] == {"2xx": summary["attempts"]}
    # Every kind of traffic was sent, and the reviewer got through whole claim-and-decide cycles.
    assert {SCORE, BATCH, QUEUES, CLAIM, DECIDE} <= set(summary["requests"])
    assert summary["requests"][SCORE] > summary["requests"][BATCH]
    # An open loop: arrivals kept to the schedule (about 300 Poisson arrivals), answered or not.
    assert 0.8 * 20 <= summary["arrival_rate"] <= 1.2 * 20
    assert len(result.ops) == sum(summary["requests"].values())

    check = verify(result, env["TRIAGE_DATABASE_URL"])
    assert check.problems() == []
    assert check.reports_stored == check.reports_acknowledged == len(result.sent_report_ids()) > 300
    assert check.reports_unacknowledged_stored == []
    assert check.decisions_stored == check.decisions_acknowledged == summary["requests"][DECIDE]
    assert all(not d["replayed"] for op in result.ops for d in op.decisions())  # fresh ids: nothing replayed
    assert process.poll() is None


def test_the_database_check_finds_lost_half_written_and_unsent_rows(
        server: tuple[str, subprocess.Popen[str], Path], env: dict[str, str], tmp_path: Path) -> None:
    """The check is not vacuous: on a copy of the database, tampered with, it names each kind of damage."""
    base, _, _ = server
    result = run_load(base, env, LoadConfig(rate=15, duration=5, seed=5, mix=Mix(score=0.5, batch=0.1)))
    live = env["TRIAGE_DATABASE_URL"].removeprefix("sqlite:///")
    copy = tmp_path / "copy.db"
    with sqlite3.connect(live) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    url = f"sqlite:///{copy}"
    assert verify(result, url).ok

    decided = [op for op in result.ops if op.kind == DECIDE and op.outcome == "ok"]
    assert decided
    acknowledged = sorted(set(result.acknowledged()) - {op.answer["report_id"] for op in decided})
    lost, half_written = acknowledged[0], acknowledged[1]
    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        pk = {rid: id_ for id_, rid in session.execute(select(ReportRow.id, ReportRow.report_id))}
        for table in (ReviewDecisionRow, QueueItemRow, RouteRow, ScoreRow):
            session.execute(delete(table).where(table.report_pk == pk[lost]))
        session.execute(delete(ReportRow).where(ReportRow.id == pk[lost]))
        session.execute(delete(RouteRow).where(RouteRow.report_pk == pk[half_written]))
        stray = session.get(ReportRow, pk[acknowledged[2]])
        assert stray is not None
        session.add(ReportRow(**{c.name: getattr(stray, c.name) for c in ReportRow.__table__.columns
                                 if c.name not in ("id", "report_id")}, report_id=f"{result.prefix}never-sent"))
        session.execute(delete(ReviewDecisionRow).where(ReviewDecisionRow.id == decided[0].answer["id"]))
    engine.dispose()

    check = verify(result, url)
    assert check.reports_missing == [lost]
    assert f"report {half_written} without its route" in check.incomplete
    assert check.reports_unsent == [f"{result.prefix}never-sent"]
    assert check.decisions_missing == [decided[0].item_id]
    assert not check.ok


def test_the_load_command_refuses_bad_input_naming_it(tmp_path: Path) -> None:
    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "hello there", "language": "en"}\n{"language": "en"}\n')
    cases = {
        ("--texts", str(texts)): f"{texts}:2: text: a non-empty string is required",
        ("--model-path", str(tmp_path)): f"--model-path {tmp_path}: not a model artifact folder",
        ("--url", "http://127.0.0.1:9", "--intake-key-file", str(tmp_path / "nope")): "--intake-key-file: give a file",
        ("--batch-share", "0.5"): "mix: the score and batch shares must be >= 0 and add up to at most 1",
        ("--rate", "0"): "rate and duration must be > 0",
    }
    for args, message in cases.items():
        done = subprocess.run([sys.executable, "-m", "benchmarks.load", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)


@pytest.mark.slow
def test_the_documented_two_minute_run_at_50_per_second(tiny_artifact: Path, tmp_path: Path) -> None:
    """The README's command, as documented (the script starts its own server): 2 minutes at 50 arrivals/s."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.load", "--model-path", str(tiny_artifact), "--rate", "50",
         "--duration", "120", "--json", str(tmp_path / "load.json")],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "result        OK" in done.stdout
    assert "missing 0, duplicated 0, never sent 0" in done.stdout
    figures = json.loads((tmp_path / "load.json").read_text())
    assert figures["errors"] == [] and figures["problems"] == []
    assert figures["summary"]["arrival_rate"] >= 0.9 * 50
