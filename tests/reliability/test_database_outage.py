"""Faults: PostgreSQL goes away under a running ``triage serve``, and comes back.

A private, throwaway PostgreSQL cluster (``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin``, trust
auth, a free port on 127.0.0.1, its socket directory and data in a temporary folder) is started for the test and
stopped with ``pg_ctl stop -m immediate``, as a crash would stop it; the shared server on 5432 is never touched.
While it is down: ``/ready`` answers 503 naming the database, scoring and the review API answer 503 with
``Retry-After`` and a clear message, never 500, without hanging, and the server process stays up. When it is
back: ``/ready`` is 200 and scoring works again within a bounded time, with nothing half-written: the reports
answered before the outage are stored once, those refused during it are not stored at all.

Skipped where the PostgreSQL binaries are missing, except with TRIAGE_REQUIRE_POSTGRES=1 (then it fails).

    python -m pytest -q tests/reliability/test_database_outage.py
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from benchmarks.load import LoadConfig, LoadGenerator, LoadResult, verify
from benchmarks.server import ManagedServer
from serving.db.models import QueueItemRow, ReportRow, RouteRow, ScoreRow
from tests.support.server import free_port, wait_ready

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # `triage serve` processes through outages: 10-15 s each

#: How long the service may take to answer again once the database is back.
RECOVERY_SECONDS = 30.0
#: How long requests are sent during the outage: past the server's API key cache (TRIAGE_AUTH_CACHE_SECONDS,
#: 5 s by default), so both a remembered key and a key that needs the database to authenticate are refused.
OUTAGE_SECONDS = 6.0


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                   if p.parent.name.isdigit() else 0)
    return next((b for b in reversed(found) if (b / "initdb").is_file() and (b / "pg_ctl").is_file()), None)


class PrivateCluster:
    """A PostgreSQL cluster of its own in ``root`` on ``port``. PostgreSQL refuses to run as root: when this
    process is root, the binaries run as the ``postgres`` user, who owns ``root``."""

    def __init__(self, binaries: Path, root: Path, port: int) -> None:
        self.bin, self.root, self.port = binaries, root, port
        self.data, self.sockets, self.log = root / "data", root / "sockets", root / "postgres.log"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        self.sockets.mkdir()
        if self.user:
            shutil.chown(self.sockets, self.user, self.user)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([str(self.bin / args[0]), *args[1:]], cwd=self.root, capture_output=True, text=True,
                              timeout=120, user=self.user, group=self.user, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.is_file() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip()}\n{log}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "--no-locale",
                  "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")

    def stop_immediately(self) -> None:
        """As a crash: no checkpoint, clients cut off (the next start recovers from the WAL)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").is_file()


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    binaries = postgres_bin()
    if binaries is None:
        if os.environ.get("TRIAGE_REQUIRE_POSTGRES") == "1":
            pytest.fail("TRIAGE_REQUIRE_POSTGRES=1 but no PostgreSQL binaries in /usr/lib/postgresql/*/bin")
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin: "
                    "install Debian's postgresql package")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
    # Not pytest's tmp_path: its parents are private to this user, and PostgreSQL may run as another.
    root = Path(tempfile.mkdtemp(prefix="triage-pg-"))
    cluster = PrivateCluster(binaries, root, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            subprocess.run([str(binaries / "pg_ctl"), "-D", str(cluster.data), "-m", "immediate", "stop"],
                           cwd=root, capture_output=True, timeout=60, user=cluster.user, group=cluster.user,
                           check=False)
        shutil.rmtree(root, ignore_errors=True)


def report(report_id: str, text: str = "I know where you live and I am coming for you tonight") -> dict[str, Any]:
    return {"report_id": report_id, "text": text, "language": "en"}


def assert_unavailable(response: httpx.Response) -> None:
    """503 with Retry-After and the error body that says the database is the problem."""
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert body["error"] == "unavailable"
    assert "database is unavailable" in body["message"]


def stored(url: str) -> dict[str, tuple[bool, bool, int]]:
    """report_id -> (has a score, has a route, queue items), for every stored report."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            scores = set(session.scalars(select(ScoreRow.report_pk)))
            routes = set(session.scalars(select(RouteRow.report_pk)))
            items = list(session.scalars(select(QueueItemRow.report_pk)))
            return {rid: (pk in scores, pk in routes, items.count(pk))
                    for pk, rid in session.execute(select(ReportRow.id, ReportRow.report_id))}
    finally:
        engine.dispose()


def test_postgresql_outage_answers_503_stores_nothing_and_the_service_recovers(
        cluster: PrivateCluster, env: dict[str, str], tmp_path: Path) -> None:
    server = ManagedServer({**env, "TRIAGE_DATABASE_URL": cluster.url}, tmp_path / "server.log")
    intake = {"Authorization": f"Bearer {server.create_key('outage-intake', 'intake')}"}
    reviewer = {"Authorization": f"Bearer {server.create_key('outage-reviewer', 'reviewer')}"}
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=15) as client:
            # Before: a few reports scored and stored, one of them in a batch.
            answered = {}
            for i in range(3):
                response = client.post("/v1/reports:score", json=report(f"before-{i}"), headers=intake)
                assert response.status_code == 200, response.text
                answered[f"before-{i}"] = response.json()
            batch = client.post("/v1/reports:batchScore", headers=intake,
                                json={"reports": [report("before-3"), report("before-4", "lovely weather today")]})
            assert batch.status_code == 200, batch.text
            answered |= {d["report_id"]: d for d in batch.json()["results"]}
            assert client.get("/v1/queues", headers=reviewer).status_code == 200

            cluster.stop_immediately()

            ready = client.get("/ready")
            assert ready.status_code == 503 and int(ready.headers["Retry-After"]) > 0
            assert ready.json()["status"] == "not_ready"
            assert ready.json()["database"].startswith("unavailable")
            assert ready.json()["model"]["status"] == "loaded"  # the model is fine: only the database is named

            refused: list[str] = []
            deadline = time.monotonic() + OUTAGE_SECONDS
            n = 0
            while time.monotonic() < deadline:
                started = time.monotonic()
                single = client.post("/v1/reports:score", json=report(f"during-{n}"), headers=intake)
                assert_unavailable(single)
                many = client.post("/v1/reports:batchScore", headers=intake,
                                   json={"reports": [report(f"during-{n}-a"), report(f"during-{n}-b")]})
                assert_unavailable(many)
                refused += [f"during-{n}", f"during-{n}-a", f"during-{n}-b"]
                # A report stored before the outage cannot be read or replayed now either: 503, not a 500.
                assert_unavailable(client.get("/v1/reports/before-0", headers=intake))
                assert_unavailable(client.post("/v1/reports:score", json=report("before-0"), headers=intake))
                assert_unavailable(client.get("/v1/queues", headers=reviewer))
                assert time.monotonic() - started < 10, "requests hang while the database is down"
                n += 1
                time.sleep(0.5)
            assert client.get("/health").status_code == 200
            assert server.alive()

            cluster.start()
            wait_ready(client, RECOVERY_SECONDS, poll=0.2)  # after the database came back

            # Nothing half-written: what was answered before is there, whole; what was refused is not there.
            rows = stored(cluster.url)
            assert set(rows) == set(answered)
            for rid, decision in answered.items():
                assert rows[rid][:2] == (True, True), rid
                assert rows[rid][2] == (0 if decision["route"]["action"] == "auto_close" else 1), rid

            # Scoring works again: the refused reports are new, the earlier ones replayed as they were answered.
            for rid in refused[:3]:
                again = client.post("/v1/reports:score", json=report(rid), headers=intake)
                assert again.status_code == 200 and again.json()["replayed"] is False, again.text
            for rid, decision in answered.items():
                again = client.post("/v1/reports:score", headers=intake,
                                    json=report(rid, "lovely weather today") if rid == "before-4" else report(rid))
                assert again.status_code == 200 and again.json()["replayed"] is True, again.text
                assert {**again.json(), "replayed": False} == decision
            assert client.get("/v1/queues", headers=reviewer).status_code == 200
            assert set(stored(cluster.url)) == set(answered) | set(refused[:3])
        assert server.alive()
    finally:
        server.stop()
    # Never a 500: every request the server logged was answered with a status it documents.
    statuses = logged_statuses(server.log_path)
    assert 503 in statuses and 500 not in statuses


def logged_statuses(log_path: Path) -> list[int]:
    return [json.loads(line)["status"] for line in log_path.read_text().splitlines()
            if line.startswith("{") and '"serving.access"' in line]


async def load_through_an_outage(cluster: PrivateCluster, server: ManagedServer, intake: str,
                                 reviewer: str) -> LoadResult:
    """Mixed load at 10/s; after 3 s the database stops (transactions in flight cut off), 4 s later it starts
    again; arrivals go on until 3 s after the server is ready again. The client retries every 503."""
    generator = LoadGenerator(server.url, intake, reviewer,
                              LoadConfig(rate=10, duration=300, seed=21, give_up_after=120))
    load = asyncio.create_task(generator.run())
    await asyncio.sleep(3)
    await asyncio.to_thread(cluster.stop_immediately)
    await asyncio.sleep(4)
    await asyncio.to_thread(cluster.start)
    await asyncio.to_thread(server.wait_ready, RECOVERY_SECONDS)
    await asyncio.sleep(3)
    generator.stop()
    return await load


def test_postgresql_outage_under_load_cuts_transactions_off_cleanly_and_retries_succeed(
        cluster: PrivateCluster, env: dict[str, str], tmp_path: Path) -> None:
    server = ManagedServer({**env, "TRIAGE_DATABASE_URL": cluster.url}, tmp_path / "server.log")
    intake, reviewer = server.create_key("outage-intake", "intake"), server.create_key("outage-reviewer", "reviewer")
    server.start()
    try:
        result = asyncio.run(load_through_an_outage(cluster, server, intake, reviewer))
        assert server.alive()
    finally:
        server.stop()

    # The outage was felt (503s, retried), and every request ended answered.
    assert any(a.status == 503 for op in result.ops for a in op.attempts)
    assert [op for op in result.ops if op.outcome == "failed"] == []
    # What was answered 2xx is stored once and whole; what a cut-off transaction was writing is not there at
    # all (its retry stored it once); nothing is stored without an answer the client holds.
    check = verify(result, cluster.url)
    assert check.problems() == []
    assert check.reports_stored == check.reports_acknowledged == len(result.sent_report_ids())
    assert check.reports_unacknowledged_stored == []
    statuses = logged_statuses(server.log_path)
    assert 503 in statuses and 500 not in statuses
