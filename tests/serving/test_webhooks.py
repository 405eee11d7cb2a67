"""Webhooks: signing, the outbox written with the report, delivery with retries to a real HTTP receiver, restarts,
SLA-breach sweeps, several workers on one database (SQLite and PostgreSQL), the admin API and the settings."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select, update

from model.settings import Settings
from serving import webhooks
from serving.db.engine import make_engine, make_sessionmaker, ping, transaction, upgrade
from serving.db.models import AuditRow, QueueItemRow, ReportRow, WebhookEventRow, utcnow
from serving.metrics import Metrics
from serving.model_loader import LoadedModel
from tests.support import REPO
from tests.support.api import Keys, start_client
from tests.support.cli import triage
from tests.support.server import free_port

SECRET = "whsec-test-" + "k" * 32
TEXT = "Meet me behind the old mill at nine, Jonas, come alone"


# --- a real receiver ------------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default listen backlog (5) resets connections when workers post in parallel


class Receiver:
    """An HTTP endpoint on a real port (``http.server`` in a thread). Each POST is answered with the next scripted
    status, then ``default``; every request is kept with its headers, body and the status it got. With
    ``hold_until``, no request is answered before that many have been in flight at once (at most 10 s)."""

    def __init__(self, statuses: tuple[int, ...] = (), default: int = 200, hold_until: int = 0,
                 port: int = 0) -> None:
        self.statuses = list(statuses)
        self.default = default
        self.hold_until = hold_until
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.in_flight = self.peak_in_flight = 0
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                    receiver.requests.append((dict(self.headers.items()), body, status))
                    receiver.in_flight += 1
                    receiver.peak_in_flight = max(receiver.peak_in_flight, receiver.in_flight)
                    receiver._lock.notify_all()
                    receiver._lock.wait_for(lambda: receiver.peak_in_flight >= receiver.hold_until, timeout=10)
                    receiver.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/triage"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of_type(self, event_type: str) -> list[tuple[dict[str, str], bytes, int]]:
        with self._lock:
            return [r for r in self.requests if r[0].get("Triage-Event-Type") == event_type]

    def accepted(self) -> Counter[str]:
        """How many times each event id was answered 2xx."""
        with self._lock:
            return Counter(h["Triage-Event-Id"] for h, _, status in self.requests if 200 <= status < 300)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not met within {timeout} s")


# --- settings, apps, reports ----------------------------------------------------------------------

def high_risk_policy(folder: Path) -> Path:
    """The shipped policy with signals allowed to raise two tiers: a report with three signals is high risk
    whatever the (random) tiny model says, through the real routing code."""
    path = folder / "high-policy.toml"
    text = Settings().routing_policy.read_text()
    assert "max_raise = 1" in text
    path.write_text(text.replace("max_raise = 1", "max_raise = 2"))
    return path


def hook_settings(tmp_path: Path, tiny_artifact: Path, url: str | None, database_url: str | None = None,
                  **extra: Any) -> Settings:
    hooks: dict[str, Any] = {"webhook_url": url, "webhook_secret": SECRET} if url else {}
    fast = {"webhook_poll_seconds": 0.05, "webhook_retry_base_seconds": 0.05, "webhook_timeout_seconds": 2,
            "webhook_sla_sweep_seconds": 3600}
    return Settings(work_dir=tmp_path / "var", model_path=tiny_artifact, log_format="text",
                    database_url=database_url or f"sqlite:///{tmp_path / 'triage.db'}",
                    routing_policy=high_risk_policy(tmp_path), **hooks, **{**fast, **extra})


def high_risk_report(report_id: str) -> dict[str, Any]:
    return {"report_id": report_id, "text": TEXT, "report_count": 12,
            "account": {"followers": 250_000, "prior_strikes": 3}}


def score_high(client: TestClient, keys: Keys, report_id: str) -> dict[str, Any]:
    response = client.post("/v1/reports:score", json=high_risk_report(report_id), headers=keys.intake)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["risk"]["tier"] == "high", body["route"]
    return body


def events(client: TestClient, **where: Any) -> list[WebhookEventRow]:
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(WebhookEventRow).filter_by(**where).order_by(WebhookEventRow.id)))


def metric(client: TestClient, keys: Keys, name: str, event_type: str) -> float:
    text = client.get("/metrics", headers=keys.admin).text
    found = re.search(rf'^{name}{{type="{re.escape(event_type)}"}} ([0-9.]+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture
def app_with(tmp_path: Path, tiny_artifact: Path, tiny_model: LoadedModel) -> Iterator[
        Callable[..., tuple[TestClient, Keys]]]:
    """Starts apps with webhooks to a URL (None: off) on one database; all are stopped at the end."""
    started: list[TestClient] = []

    def start(url: str | None, database_url: str | None = None, **extra: Any) -> tuple[TestClient, Keys]:
        client, keys = start_client(hook_settings(tmp_path, tiny_artifact, url, database_url, **extra), tiny_model)
        started.append(client)
        return client, keys

    yield start
    for client in started:
        client.__exit__(None, None, None)


# --- signing (pure) -------------------------------------------------------------------------------

def test_a_signature_verifies_and_any_change_breaks_it() -> None:
    body = b'{"id":"evt_1","type":"report.high_risk"}'
    headers = webhooks.signed_headers(SECRET, "evt_1", "report.high_risk", body, timestamp=1_800_000_000)
    assert headers["Triage-Signature"].startswith("v1=")
    now = 1_800_000_010.0
    assert webhooks.verify_signature(SECRET, headers, body, now=now)
    assert webhooks.verify_signature(SECRET, {k.lower(): v for k, v in headers.items()}, body, now=now)
    assert not webhooks.verify_signature(SECRET, headers, body.replace(b"evt_1", b"evt_2"), now=now)
    assert not webhooks.verify_signature("another-secret-" + "x" * 32, headers, body, now=now)
    assert not webhooks.verify_signature(SECRET, {**headers, "Triage-Timestamp": "1800000001"}, body, now=now)
    assert not webhooks.verify_signature(SECRET, {**headers, "Triage-Signature": "v1=" + "0" * 64}, body, now=now)
    assert not webhooks.verify_signature(SECRET, {"Triage-Timestamp": headers["Triage-Timestamp"]}, body, now=now)


def test_an_old_or_future_timestamp_is_refused_as_a_replay() -> None:
    body = b"{}"
    headers = webhooks.signed_headers(SECRET, "evt_1", "report.high_risk", body, timestamp=1_800_000_000)
    assert webhooks.verify_signature(SECRET, headers, body, tolerance_s=300, now=1_800_000_300)
    assert not webhooks.verify_signature(SECRET, headers, body, tolerance_s=300, now=1_800_000_301)
    assert not webhooks.verify_signature(SECRET, headers, body, tolerance_s=300, now=1_799_999_699)


def test_during_a_secret_rotation_either_signature_verifies() -> None:
    body = b"{}"
    old = webhooks.signed_headers("old-secret-" + "o" * 32, "evt_1", "t", body, timestamp=1_800_000_000)
    new = webhooks.signed_headers(SECRET, "evt_1", "t", body, timestamp=1_800_000_000)
    both = {**new, "Triage-Signature": f"{old['Triage-Signature']}, {new['Triage-Signature']}"}
    assert webhooks.verify_signature(SECRET, both, body, now=1_800_000_000)


def test_the_readme_receiver_example_verifies_a_real_signature() -> None:
    readme = (REPO / "README.md").read_text()
    found = re.search(r"```python\n(.*?def verify\(.*?)```", readme, re.DOTALL)
    assert found, "README.md: the webhook verification example (def verify) is missing"
    namespace: dict[str, Any] = {}
    exec(found.group(1), namespace)
    body = b'{"id":"evt_1"}'
    headers = webhooks.signed_headers(SECRET, "evt_1", "report.high_risk", body)
    assert namespace["verify"](SECRET.encode(), headers, body)
    assert not namespace["verify"](SECRET.encode(), headers, body + b" ")


# --- delivery end to end --------------------------------------------------------------------------

def test_a_high_risk_report_is_delivered_once_signed_after_two_failed_attempts(
        app_with: Callable[..., tuple[TestClient, Keys]], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with Receiver(statuses=(500, 500)) as receiver:
        client, keys = app_with(f"{receiver.url}?token=hook-token-123")
        decision = score_high(client, keys, "r-high-1")
        wait_for(lambda: receiver.accepted(), what="a 2xx delivery")
        [event] = wait_for(lambda: events(client, status="delivered"), what="the event marked delivered")

    attempts = receiver.of_type(webhooks.HIGH_RISK)
    assert [status for _, _, status in attempts] == [500, 500, 200]
    assert {h["Triage-Event-Id"] for h, _, _ in attempts} == {event.event_id}
    assert [h["Triage-Delivery-Attempt"] for h, _, _ in attempts] == ["1", "2", "3"]
    assert all(webhooks.verify_signature(SECRET, h, body) for h, body, _ in attempts)
    assert len({body for _, body, _ in attempts}) == 1  # the same bytes on every attempt
    payload = json.loads(attempts[-1][1])
    assert payload["id"] == event.event_id and payload["type"] == "report.high_risk"
    assert payload["report_id"] == "r-high-1" and payload["tier"] == "high"
    assert payload["queue"] == decision["route"]["queue"] and payload["priority"] == decision["route"]["priority"]
    assert payload["link"] == "/v1/reports/r-high-1"
    assert payload["model"] == decision["model"]
    assert TEXT.encode() not in attempts[-1][1] and "text" not in payload
    assert (event.attempts, event.last_error, event.claimed_by) == (3, "HTTP 500", None)

    # Sent again, the report is answered from the store: no second event.
    assert client.post("/v1/reports:score", json=high_risk_report("r-high-1"), headers=keys.intake).json()["replayed"]
    assert len(events(client)) == 1
    assert metric(client, keys, "triage_webhook_events_enqueued_total", webhooks.HIGH_RISK) == 1
    assert metric(client, keys, "triage_webhook_delivery_retries_total", webhooks.HIGH_RISK) == 2
    assert metric(client, keys, "triage_webhook_events_delivered_total", webhooks.HIGH_RISK) == 1

    logged = "\n".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    assert event.event_id in logged and "webhook delivered" in logged
    for private in (TEXT, SECRET, "hook-token-123", attempts[-1][1].decode()):
        assert private not in logged


def test_an_event_recorded_before_a_restart_is_delivered_after_it(
        app_with: Callable[..., tuple[TestClient, Keys]]) -> None:
    port = free_port()  # nothing listens here until the second app runs
    url = f"http://127.0.0.1:{port}/hooks/triage"
    first, keys = app_with(url, webhook_max_attempts=50)
    score_high(first, keys, "r-restart")
    wait_for(lambda: events(first)[0].attempts >= 1, what="a failed attempt (connection refused)")
    first.__exit__(None, None, None)
    [event] = events(first)
    assert event.status == "pending" and event.last_error == "ConnectError"
    assert event.claimed_by is None  # handed back at shutdown: the next process need not wait for the lease

    with Receiver(port=port) as receiver:
        second, _ = app_with(url, webhook_max_attempts=50)
        wait_for(lambda: events(second, status="delivered"), what="delivery by the restarted app")
        assert receiver.accepted() == Counter({event.event_id: 1})


def test_the_report_text_is_sent_only_when_configured_and_never_stored_in_the_outbox(
        app_with: Callable[..., tuple[TestClient, Keys]]) -> None:
    with Receiver() as receiver:
        client, keys = app_with(receiver.url, webhook_include_text=True)
        score_high(client, keys, "r-text")
        [event] = wait_for(lambda: events(client, status="delivered"), what="delivery")
    assert json.loads(receiver.requests[0][1])["text"] == TEXT
    assert "text" not in event.payload and TEXT not in json.dumps(event.payload)


def test_nothing_is_recorded_when_webhooks_are_off(app_with: Callable[..., tuple[TestClient, Keys]]) -> None:
    client, keys = app_with(None)
    score_high(client, keys, "r-off")
    assert events(client) == []


# --- SLA breaches ---------------------------------------------------------------------------------

def test_an_sla_breach_is_sent_once_however_many_sweeps_run(
        app_with: Callable[..., tuple[TestClient, Keys]], database_url: str) -> None:
    with Receiver() as receiver:
        client, keys = app_with(receiver.url, database_url, webhook_sla_sweep_seconds=0.1)
        for rid in ("r-late", "r-done", "r-on-time"):
            response = client.post("/v1/reports:score", headers=keys.intake,
                                   json={"report_id": rid, "text": "see this", "reporter_type": "law_enforcement"})
            assert response.json()["route"]["queue"] == "human_escalation"
        sessions = client.app.state.triage.sessions  # type: ignore[attr-defined]
        with transaction(sessions) as session:
            items = {rid: item for item, rid in session.execute(
                select(QueueItemRow, ReportRow.report_id).join(ReportRow, ReportRow.id == QueueItemRow.report_pk))}
            past = utcnow() - timedelta(minutes=5)
            session.execute(update(QueueItemRow).where(QueueItemRow.id == items["r-late"].id).values(due_at=past))
            session.execute(update(QueueItemRow).where(QueueItemRow.id == items["r-done"].id)
                            .values(due_at=past, status="done"))

        wait_for(lambda: receiver.of_type(webhooks.SLA_BREACHED), what="an SLA breach delivery")
        time.sleep(0.6)  # several more sweeps of the app, each finding the breach already recorded
        other = make_engine(database_url)  # and one from another process, as it were
        try:
            with transaction(make_sessionmaker(other)) as session:
                assert webhooks.sweep_sla_breaches(session, Metrics()) == 0
        finally:
            other.dispose()

    [(headers, body, _)] = receiver.of_type(webhooks.SLA_BREACHED)
    assert webhooks.verify_signature(SECRET, headers, body)
    payload = json.loads(body)
    assert payload["queue_item_id"] == items["r-late"].id and payload["report_id"] == "r-late"
    assert payload["queue"] == "human_escalation" and payload["link"] == "/v1/reports/r-late"
    assert len(events(client, event_type=webhooks.SLA_BREACHED)) == 1


# --- several workers, leases ----------------------------------------------------------------------

def _outbox(database_url: str, n: int) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    now = utcnow()
    with transaction(make_sessionmaker(engine)) as session:
        for i in range(n):
            event_id = webhooks.new_event_id()
            session.add(WebhookEventRow(
                event_id=event_id, event_type=webhooks.HIGH_RISK, subject=f"r-{i}", created_at=now,
                payload={"id": event_id, "type": webhooks.HIGH_RISK, "report_id": f"r-{i}"},
                status="pending", attempts=0, next_attempt_at=now))
    engine.dispose()


def test_two_workers_on_one_database_deliver_each_event_once(database_url: str, tmp_path: Path) -> None:
    _outbox(database_url, 40)
    # Nothing is answered until more events are in flight than one worker may claim at a time: both workers
    # hold claims at once, each skipping the other's.
    with Receiver(hold_until=webhooks.BATCH_SIZE + 1) as receiver:
        settings = Settings(work_dir=tmp_path / "var", database_url=database_url, webhook_url=receiver.url,
                            webhook_secret=SECRET, webhook_timeout_seconds=20)

        async def both() -> list[Metrics]:
            engines = [make_engine(database_url) for _ in range(2)]  # each worker its own pool, as two processes
            for engine in engines:  # connected before the race starts, so that neither starts late
                ping(engine)
            workers = [webhooks.WebhookDispatcher(settings, make_sessionmaker(e), Metrics(), worker_id=f"w{i}")
                       for i, e in enumerate(engines)]

            def pending(worker: webhooks.WebhookDispatcher) -> int:
                with worker.sessions() as session:
                    return webhooks.outbox_counts(session)["pending"]

            async def drain(worker: webhooks.WebhookDispatcher) -> None:
                while await worker.deliver_due() or await asyncio.to_thread(pending, worker):
                    await asyncio.sleep(0.01)

            try:
                await asyncio.gather(*(drain(w) for w in workers))
            finally:
                for worker in workers:
                    await worker.aclose()
                for engine in engines:
                    engine.dispose()
            return [w.metrics for w in workers]

        metrics = asyncio.run(both())

    accepted = receiver.accepted()
    assert len(accepted) == 40 and set(accepted.values()) == {1}
    assert receiver.peak_in_flight > webhooks.BATCH_SIZE
    delivered = [m.webhooks_delivered.labels(webhooks.HIGH_RISK)._value.get() for m in metrics]
    assert sum(delivered) == 40 and min(delivered) > 0, delivered  # both took part
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(select(WebhookEventRow.status, WebhookEventRow.attempts, func.count())
                            .group_by(WebhookEventRow.status, WebhookEventRow.attempts)).all() == [("delivered", 1, 40)]
    engine.dispose()


def test_a_claim_takes_one_batch_and_is_exclusive_until_its_lease_runs_out(database_url: str) -> None:
    _outbox(database_url, webhooks.BATCH_SIZE + 2)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    lease, now = timedelta(seconds=40), utcnow()

    def claim(token: str, at: timedelta) -> list[webhooks.Claimed]:
        with transaction(sessions) as session:
            return webhooks.claim_due(session, token, lease, now + at)

    try:
        held = claim("dead-worker/1", timedelta(0))
        assert len(held) == webhooks.BATCH_SIZE
        assert len(claim("w2/1", timedelta(seconds=1))) == 2  # the rest, not the held ones
        assert claim("w2/2", timedelta(seconds=39)) == []
        taken_over = claim("w2/3", timedelta(seconds=41))
        assert {c.event_id for c in taken_over} == {c.event_id for c in held}
        with transaction(sessions) as session:  # the first worker wakes up: its outcome is not written
            assert webhooks.record_outcome(session, held[0], webhooks.Outcome(False, "HTTP 500"), 8, 1.0) is None
        with transaction(sessions) as session:
            assert webhooks.record_outcome(session, taken_over[0], webhooks.Outcome(True), 8, 1.0) == "delivered"
        with sessions() as session:
            row = session.scalars(select(WebhookEventRow).filter_by(event_id=held[0].event_id)).one()
        assert (row.status, row.attempts, row.last_error, row.claimed_by) == ("delivered", 1, None, None)
    finally:
        engine.dispose()


def test_retries_back_off_exponentially_with_jitter_up_to_an_hour() -> None:
    for attempts, full in ((1, 10.0), (2, 20.0), (3, 40.0), (20, 3600.0)):
        delays = [webhooks.retry_delay(attempts, 10.0) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays), (attempts, min(delays), max(delays))
        assert len(set(delays)) > 1


# --- the admin API --------------------------------------------------------------------------------

def test_a_failed_event_is_listed_for_admins_and_requeued(
        app_with: Callable[..., tuple[TestClient, Keys]]) -> None:
    with Receiver(default=503) as receiver:
        client, keys = app_with(receiver.url, webhook_max_attempts=2)
        score_high(client, keys, "r-failing")
        [event] = wait_for(lambda: events(client, status="failed"), what="the event given up")

        listed = client.get("/v1/webhooks/events", params={"status": "failed"}, headers=keys.admin)
        assert listed.status_code == 200
        [out] = listed.json()["events"]
        assert out == {"id": event.event_id, "type": "report.high_risk", "subject": "r-failing", "status": "failed",
                       "attempts": 2, "created_at": out["created_at"], "next_attempt_at": None,
                       "delivered_at": None, "last_error": "HTTP 503"}
        assert TEXT not in listed.text
        assert client.get("/v1/webhooks/events", params={"status": "pending"}, headers=keys.admin).json() == {
            "events": []}
        assert metric(client, keys, "triage_webhook_events_failed_total", webhooks.HIGH_RISK) == 1
        assert client.get("/v1/webhooks/events", headers=keys.reviewer).status_code == 403
        bad = client.get("/v1/webhooks/events", params={"status": "lost"}, headers=keys.admin)
        assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "status"

        retry = f"/v1/webhooks/events/{event.event_id}:retry"
        assert client.post(retry, headers=keys.reviewer).status_code == 403
        receiver.default = 200
        requeued = client.post(retry, headers=keys.admin)
        assert requeued.status_code == 200, requeued.text
        assert requeued.json()["status"] == "pending" and requeued.json()["attempts"] == 0
        wait_for(lambda: events(client, status="delivered"), what="delivery after the requeue")
        assert receiver.accepted() == Counter({event.event_id: 1})

    assert client.post(retry, headers=keys.admin).status_code == 409
    missing = client.post("/v1/webhooks/events/evt_none:retry", headers=keys.admin)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        audit = session.scalars(select(AuditRow).where(AuditRow.action == "webhook.requeued")).one()
    assert (audit.actor, audit.subject_id) == (keys.admin_id, event.event_id)


# --- settings -------------------------------------------------------------------------------------

def test_a_webhook_url_without_a_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="TRIAGE_WEBHOOK_SECRET is required"):
        Settings(webhook_url="https://hooks.example.com/triage")
    with pytest.raises(ValidationError, match="webhook_secret") as short:
        Settings(webhook_url="https://hooks.example.com/triage", webhook_secret="too-short-secret")
    assert "too-short-secret" not in str(short.value)  # a refused secret is not echoed
    with pytest.raises(ValidationError, match="webhook_url"):
        Settings(webhook_url="ftp://hooks.example.com/triage", webhook_secret=SECRET)
    assert Settings(webhook_secret=SECRET).webhook_url is None  # a secret alone turns nothing on


@pytest.mark.slow  # a `triage serve` process
def test_the_server_does_not_start_with_a_webhook_url_and_no_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_WEBHOOK")}
    env.update(TRIAGE_WORK_DIR=str(tmp_path / "var"), TRIAGE_WEBHOOK_URL="http://127.0.0.1:9/hooks")
    done = triage("serve", "--port", str(free_port()), env=env, timeout=60)
    assert done.returncode != 0
    assert "TRIAGE_WEBHOOK_SECRET is required when TRIAGE_WEBHOOK_URL is set" in done.stderr
