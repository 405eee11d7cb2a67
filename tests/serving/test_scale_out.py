"""Horizontal scale: several `triage serve` processes on one PostgreSQL database behave as one service.

Two real server processes (uvicorn, the tiny model, each its own work folder, as on two hosts) share one
database and are driven over HTTP by many threads at once: a report_id is stored once whichever process
receives it, a queue item is claimed by exactly one reviewer whichever process they go through, and keys
live in the database (created once, accepted by both; revoked, refused by both within each process's
``TRIAGE_AUTH_CACHE_SECONDS``). Both processes migrate the empty database at start-up, started together.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import Engine, func, select

from serving.auth import Role, create_key, revoke_key
from serving.db.engine import current_revision, head_revision, make_engine, make_sessionmaker, transaction
from serving.db.models import AuditRow, QueueItemRow, ReportRow
from tests.support import REPO
from tests.support.cli import triage
from tests.support.database import postgres_database
from tests.support.server import start_server

pytestmark = pytest.mark.slow  # `triage serve` processes (two at once), and processes migrating together
#: Server B remembers an authenticated key this long; server A not at all.
CACHE_SECONDS_B = 4.0
REMOVE = {"risk_tier": "high", "policy_areas": ["violence_incitement"], "action": "remove", "note": "credible"}


@dataclass
class Server:
    name: str
    base: str
    process: subprocess.Popen[str]
    log: Path
    client: httpx.Client


@dataclass
class Cluster:
    a: Server
    b: Server
    url: str
    engine: Engine
    env: dict[str, str]  # for `triage` commands against the shared database

    @property
    def servers(self) -> tuple[Server, Server]:
        return self.a, self.b

    def other(self, server: Server) -> Server:
        return self.b if server is self.a else self.a

    def intake_headers(self) -> dict[str, str]:
        with transaction(make_sessionmaker(self.engine)) as session:
            key = create_key(session, "scale-intake", Role.INTAKE)
        return {"Authorization": f"Bearer {key.secret}"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, tiny_artifact: Path) -> Iterator[Cluster]:
    """Two `triage serve` processes on one fresh PostgreSQL database, started at the same moment (so both run
    the start-up migration of the empty database together). A reads keys from the database on every request;
    B caches an authenticated key for CACHE_SECONDS_B."""
    databases = cast("Generator[str, None, None]", postgres_database())  # closing it drops the database
    url = next(databases)
    root = tmp_path_factory.mktemp("scale")
    # The rate limit is per process and not under test here: off, so that a changed default cannot starve it.
    common = {**os.environ, "TRIAGE_DATABASE_URL": url, "TRIAGE_MODEL_PATH": str(tiny_artifact),
              "TRIAGE_LOG_FORMAT": "json", "TRIAGE_WORK_DIR": str(root / "cli-var"),
              "TRIAGE_RATE_LIMIT_PER_SECOND": "0"}
    envs = {"a": {**common, "TRIAGE_WORK_DIR": str(root / "a-var"), "TRIAGE_AUTH_CACHE_SECONDS": "0"},
            "b": {**common, "TRIAGE_WORK_DIR": str(root / "b-var"), "TRIAGE_AUTH_CACHE_SECONDS": str(CACHE_SECONDS_B)}}
    started = {name: start_server(env, root / f"{name}.log") for name, env in envs.items()}
    engine = make_engine(url)
    try:
        deadline = time.monotonic() + 120  # both load the model at once, on a loaded CI machine
        for live in started.values():
            live.wait_ready(deadline=deadline)
        a, b = (Server(name, live.base, live.process, live.log_path, httpx.Client(base_url=live.base, timeout=60))
                for name, live in started.items())
        yield Cluster(a=a, b=b, url=url, engine=engine, env=common)
        a.client.close()
        b.client.close()
    finally:
        for live in started.values():
            live.stop(strict=False)
        engine.dispose()
        databases.close()


def _concurrently(calls: list[Any], workers: int) -> list[Any]:
    """Run the zero-argument ``calls`` on ``workers`` threads, released together; results in order."""
    gate = threading.Barrier(workers, timeout=60)
    local = threading.local()

    def run(call: Any) -> Any:
        if not getattr(local, "released", False):
            gate.wait()
            local.released = True
        return call()

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run, calls))


def test_processes_started_together_on_an_empty_database_all_migrate_it(database_url: str) -> None:
    """Every server migrates at start-up; four started at once on an empty database must all come up.

    Each process imports everything first, then all are released together into ``upgrade`` (the function
    the server calls at start-up), so they really race. Without a lock 3 of 4 died on PostgreSQL
    (duplicate key in pg_type) and most on SQLite ("table reports already exists")."""
    code = ("import sys\nfrom serving.db.engine import make_engine, upgrade\n"
            "engine = make_engine(sys.argv[1])\nprint('ready', flush=True)\nsys.stdin.readline()\n"
            "upgrade(engine)\nprint('migrated', flush=True)\n")
    processes = [subprocess.Popen([sys.executable, "-c", code, database_url], cwd=REPO, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(4)]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("\n")
            process.stdin.flush()
        results = [process.communicate(timeout=120) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0 and out.strip() == "migrated", err[-2000:]
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_report_sent_to_both_processes_at_once_is_stored_once(cluster: Cluster) -> None:
    headers = cluster.intake_headers()
    ids = [f"idem-{i}" for i in range(16)]
    body = {rid: {"report_id": rid, "text": f"report {rid}: this seller asks for gift cards", "report_count": 2}
            for rid in ids}
    # Each id six times in a row, alternating servers: with 12 threads, six sends of one id are in flight
    # at once, three on each process.
    sends = [(rid, server) for rid in ids for server in itertools.islice(itertools.cycle(cluster.servers), 6)]

    def send(rid: str, server: Server) -> tuple[str, Server, httpx.Response]:
        return rid, server, server.client.post("/v1/reports:score", json=body[rid], headers=headers)

    answers = _concurrently([lambda rid=rid, server=server: send(rid, server) for rid, server in sends], 12)

    by_id: dict[str, list[tuple[Server, dict[str, Any]]]] = defaultdict(list)
    for rid, server, response in answers:
        assert response.status_code == 200, response.text
        assert (response.headers.get("idempotent-replayed") == "true") is response.json()["replayed"]
        by_id[rid].append((server, response.json()))
    stored_by: dict[str, Server] = {}
    for rid, replies in by_id.items():
        fresh = [server for server, reply in replies if not reply["replayed"]]
        assert len(fresh) == 1, f"{rid}: {len(fresh)} answers were not replays"
        stored_by[rid] = fresh[0]
        decisions = [{k: v for k, v in reply.items() if k != "replayed"} for _, reply in replies]
        assert all(d == decisions[0] for d in decisions), f"{rid}: the answers differ"
    with cluster.engine.connect() as conn:
        rows = {rid: n for rid, n in conn.execute(select(ReportRow.report_id, func.count())
                                                  .where(ReportRow.report_id.in_(ids)).group_by(ReportRow.report_id))}
    assert rows == dict.fromkeys(ids, 1)
    retried = sum(server.log.read_text().count("concurrent insert of a report_id") for server in cluster.servers)
    assert retried > 0, "no two sends of one report_id overlapped: the race was not exercised"

    # Other content under a stored id is refused by the process that did not store it, and stores nothing.
    for rid in ids[:4]:
        other = cluster.other(stored_by[rid])
        conflict = other.client.post("/v1/reports:score", json={**body[rid], "text": "something else entirely"},
                                     headers=headers)
        assert conflict.status_code == 409, conflict.text
        assert [f["field"] for f in conflict.json()["fields"]] == ["report_id"]
    with cluster.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ReportRow).where(ReportRow.report_id.in_(ids))) == 16
    for server in cluster.servers:
        assert "gift cards" not in server.log.read_text(), "report text in the logs"


@pytest.mark.postgres
def test_reviewers_claiming_through_both_processes_never_share_an_item(cluster: Cluster) -> None:
    headers = cluster.intake_headers()
    for server, half in zip(cluster.servers, (range(0, 15), range(15, 30)), strict=True):
        reports = [{"report_id": f"claim-{i}", "text": f"article {i} quotes this post", "reporter_type": "press"}
                   for i in half]  # press reports always reach human_escalation
        assert server.client.post("/v1/reports:batchScore", json={"reports": reports},
                                  headers=headers).status_code == 200
    with cluster.engine.connect() as conn:
        waiting = set(conn.scalars(select(QueueItemRow.id).where(QueueItemRow.queue == "human_escalation",
                                                                 QueueItemRow.status == "open")))
    assert len(waiting) >= 30
    with transaction(make_sessionmaker(cluster.engine)) as session:
        reviewers = [create_key(session, f"scale-reviewer-{i}", Role.REVIEWER) for i in range(6)]

    def drain(index: int) -> list[tuple[int, str, Server]]:
        """One reviewer claiming until the queue is empty, through A and B in turn."""
        key = reviewers[index]
        got: list[tuple[int, str, Server]] = []
        for server in itertools.islice(itertools.cycle(cluster.servers), index % 2, None):
            response = server.client.post("/v1/queues/human_escalation:claim",
                                          headers={"Authorization": f"Bearer {key.secret}"})
            if response.status_code == 204:
                return got
            assert response.status_code == 200, response.text
            item = response.json()
            assert item["claimed_by"] == key.key_id
            got.append((item["id"], key.key_id, server))
        raise AssertionError("unreachable")

    per_reviewer = _concurrently([lambda i=i: drain(i) for i in range(len(reviewers))], len(reviewers))
    claims = [claim for claims in per_reviewer for claim in claims]
    claimed_ids = Counter(item_id for item_id, _, _ in claims)
    assert max(claimed_ids.values()) == 1, "an item was claimed twice"
    assert set(claimed_ids) == waiting and sum(len(c) for c in per_reviewer) == len(waiting)
    assert {server.name for _, _, server in claims} == {"a", "b"}
    with cluster.engine.connect() as conn:
        holders = {item_id: holder for item_id, holder in conn.execute(
            select(QueueItemRow.id, QueueItemRow.claimed_by).where(QueueItemRow.id.in_(waiting)))}
        audited = Counter(conn.scalars(select(AuditRow.subject_id).where(AuditRow.action == "item.claimed")))
    assert holders == {item_id: holder for item_id, holder, _ in claims}
    assert all(audited[str(item_id)] == 1 for item_id in waiting)

    # A claim made through one process is honoured by the other: only its holder may decide it there.
    item_id, holder, through = claims[0]
    elsewhere = cluster.other(through)
    secret = {k.key_id: k.secret for k in reviewers}
    intruder = next(k for k in reviewers if k.key_id != holder)
    refused = elsewhere.client.post(f"/v1/items/{item_id}:decide", json=REMOVE,
                                    headers={"Authorization": f"Bearer {intruder.secret}"})
    assert refused.status_code == 409 and "claimed by another reviewer" in refused.json()["message"]
    decided = elsewhere.client.post(f"/v1/items/{item_id}:decide", json=REMOVE,
                                    headers={"Authorization": f"Bearer {secret[holder]}"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["reviewer"] == holder
    again = through.client.post(f"/v1/items/{item_id}:decide", json=REMOVE,
                                headers={"Authorization": f"Bearer {secret[holder]}"})
    assert again.status_code == 409 and "already decided" in again.json()["message"]


@pytest.mark.postgres
def test_a_key_created_once_works_on_both_and_revoked_is_refused_by_both(cluster: Cluster) -> None:
    created = triage("keys", "create", "--name", "scale-intake-cli", "--role", "intake", env=cluster.env)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    key_id = secret.split("_")[1]
    auth = {"Authorization": f"Bearer {secret}"}

    def status(server: Server) -> int:
        return server.client.get("/v1/reports/no-such-report", headers=auth).status_code

    assert status(cluster.a) == 404  # authenticated (there is no such report)
    cached_from = time.monotonic()
    assert status(cluster.b) == 404  # authenticated from the database, and now in B's cache
    with transaction(make_sessionmaker(cluster.engine)) as session:
        assert revoke_key(session, key_id)
    assert status(cluster.a) == 401, "A reads keys from the database on every request"
    # B trusts its cached entry until it expires. (On a machine so loaded that these few requests took longer
    # than that, the entry is gone and B refuses: the first half is then not observable, the second still is.)
    assert status(cluster.b) == 404 or time.monotonic() - cached_from >= CACHE_SECONDS_B, (
        "B dropped its cached key before TRIAGE_AUTH_CACHE_SECONDS")
    while status(cluster.b) != 401:
        assert time.monotonic() - cached_from < CACHE_SECONDS_B + 5, "B kept accepting a revoked key"
        time.sleep(0.2)
    assert status(cluster.a) == 401
