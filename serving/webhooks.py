"""Webhooks: high-risk and SLA-breach events pushed to an intake system, signed, retried, never lost.

A transactional outbox. An event is a row of ``webhook_events`` written in the same transaction as the change
it reports (``enqueue_for_route``, called by the scoring service as it stores a report), so the event exists
if and only if the report does; a crash or a receiver being down loses nothing. SLA breaches are found by a
sweep (``sweep_sla_breaches``) that every server process runs every ``TRIAGE_WEBHOOK_SLA_SWEEP_SECONDS``; the
unique (type, subject) constraint records each breach once, however many processes sweep.

Delivery (``WebhookDispatcher``, a background task of each server process when ``TRIAGE_WEBHOOK_URL`` is set)
claims due events in small batches under a lease: on PostgreSQL the candidates are selected ``FOR UPDATE SKIP
LOCKED``, and on every backend the claim is one UPDATE conditioned on the event being unclaimed (SQLite runs
one writer at a time, so that UPDATE is atomic), so each event is in the hands of one process at a time. The
outcome is written only while the claim is still ours. A 2xx answer is a delivery; anything else, a timeout or
a network error is retried with exponential backoff and jitter, and after ``TRIAGE_WEBHOOK_MAX_ATTEMPTS`` the
event is ``failed``: kept, listed by the admin API, and requeued from there.

Delivery is at least once (a process that dies after the receiver answered but before recording it, or a
lease that runs out, means the event is sent again): receivers deduplicate on ``Triage-Event-Id``.

Each request is signed: ``Triage-Signature: v1=<hex HMAC-SHA256 of "<Triage-Timestamp>.<raw body>">`` with
``TRIAGE_WEBHOOK_SECRET``; ``verify_signature`` checks it, and refuses old timestamps (replays).

Hazards: logs name event ids, types and outcomes, never the body, the URL (it may carry a token) or the secret;
``last_error`` keeps the status code or the exception's type, never the receiver's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

import httpx
from sqlalchemy import CursorResult, String, and_, event, exists, func, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from model.settings import Settings
from model.taxonomy import RiskTier
from serving.db.engine import transaction
from serving.db.models import QueueItemRow, ReportRow, RouteRow, ScoreRow, WebhookEventRow, utcnow
from serving.metrics import Metrics
from serving.routing import Route

log = logging.getLogger(__name__)

HIGH_RISK = "report.high_risk"
SLA_BREACHED = "queue_item.sla_breached"
EVENT_TYPES = (HIGH_RISK, SLA_BREACHED)
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATUSES = (PENDING, DELIVERED, FAILED)

#: Events one process claims at a time; they are posted concurrently.
BATCH_SIZE = 10
#: A claim lasts the request timeout plus this margin (writing the outcome); then another process may take over.
LEASE_MARGIN = timedelta(seconds=30)
#: The longest wait between two attempts, whatever the backoff says.
MAX_RETRY_DELAY_S = 3600.0
#: Queue items turned into breach events per sweep (a backlog is worked off over several sweeps).
SWEEP_LIMIT = 500
#: Signatures older (or newer) than this are refused by ``verify_signature`` by default.
DEFAULT_TOLERANCE_S = 300
USER_AGENT = "triage-webhooks/1"
_ENQUEUED = "triage.webhooks.enqueued"


# --- signing --------------------------------------------------------------------------------------

def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"``: what ``Triage-Signature`` carries after ``v1=``."""
    return hmac.new(_key(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str | bytes, event_id: str, event_type: str, body: bytes,
                   timestamp: int | None = None) -> dict[str, str]:
    """The headers of one delivery of ``body``; a retry is signed afresh (a new timestamp), the body is the same."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Triage-Event-Id": event_id,
            "Triage-Event-Type": event_type, "Triage-Timestamp": str(ts),
            "Triage-Signature": f"v1={sign(secret, ts, body)}"}


def verify_signature(secret: str | bytes, headers: Mapping[str, str], body: bytes,
                     tolerance_s: float = DEFAULT_TOLERANCE_S, *, now: float | None = None) -> bool:
    """Whether ``body`` was signed with ``secret`` less than ``tolerance_s`` seconds from ``now``.

    ``headers`` is any mapping (header names in any case). ``Triage-Signature`` may hold several
    comma-separated ``v1=`` values (one per secret while a secret is being rotated): one must match.
    Compare in constant time, and verify the raw body exactly as received, before parsing it."""
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp, header = lowered.get("triage-timestamp", ""), lowered.get("triage-signature", "")
    if not timestamp.isdigit() or not header:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    candidates = [part.strip().removeprefix("v1=") for part in header.split(",") if part.strip().startswith("v1=")]
    return any(hmac.compare_digest(expected, c) for c in candidates)


# --- recording events (the outbox) ----------------------------------------------------------------

def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def report_link(report_id: str) -> str:
    return f"/v1/reports/{quote(report_id, safe='')}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _payload(event_id: str, event_type: str, occurred_at: datetime, report_id: str, tier: str, queue: str | None,
             priority: int, sla_deadline: datetime | None, areas: list[Any], model_name: str, model_version: str,
             **extra: Any) -> dict[str, Any]:
    """What a receiver gets: ids, labels, versions and a link; never the report text (see ``_body``)."""
    return {"id": event_id, "type": event_type, "occurred_at": _iso(occurred_at), "report_id": report_id,
            "tier": tier, "queue": queue, "priority": priority, "sla_deadline": _iso(sla_deadline),
            "policy_areas": list(areas), "model": {"name": model_name, "version": model_version},
            "link": report_link(report_id), **extra}


def enqueue_for_route(session: Session, row: ReportRow, decided: Route, metrics: Metrics) -> bool:
    """Record ``report.high_risk`` for a report whose route tier is high (whatever the action), in the
    transaction that stores the report. True when an event was added."""
    if decided.tier is not RiskTier.HIGH:
        return False
    event_id, score = new_event_id(), row.score
    payload = _payload(event_id, HIGH_RISK, row.received_at, row.report_id, decided.tier.value, decided.queue,
                       decided.priority, decided.sla_deadline, score.areas, score.model_name, score.model_version,
                       action=decided.action.value)
    now = utcnow()
    session.add(WebhookEventRow(event_id=event_id, event_type=HIGH_RISK, subject=row.report_id, payload=payload,
                                created_at=now, status=PENDING, attempts=0, next_attempt_at=now))
    _count_on_commit(session, metrics, HIGH_RISK)
    return True


def _count_on_commit(session: Session, metrics: Metrics, event_type: str) -> None:
    """Count the event once its transaction commits (a rolled-back report recorded no event)."""
    if _ENQUEUED not in session.info:
        session.info[_ENQUEUED] = []

        @event.listens_for(session, "after_commit")
        def _committed(committed: Session) -> None:
            for kind in committed.info.get(_ENQUEUED, []):
                metrics.webhooks_enqueued.labels(kind).inc()
            committed.info[_ENQUEUED] = []

        @event.listens_for(session, "after_rollback")
        def _rolled_back(rolled_back: Session) -> None:
            rolled_back.info[_ENQUEUED] = []

    session.info[_ENQUEUED].append(event_type)


def _insert_once(session: Session, values: dict[str, Any]) -> bool:
    """INSERT the event unless one of its (type, subject) exists; True when this call added it. Another process
    inserting the same event at the same time makes this one a no-op, not an error."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(WebhookEventRow).values(**values).on_conflict_do_nothing(
        index_elements=["event_type", "subject"])
    return cast("CursorResult[Any]", session.execute(statement)).rowcount == 1


def sweep_sla_breaches(session: Session, metrics: Metrics, now: datetime | None = None,
                       limit: int = SWEEP_LIMIT) -> int:
    """Record ``queue_item.sla_breached`` for every undecided queue item past its deadline that has none yet;
    returns how many this call recorded. Safe to run from many processes at once."""
    now = now or utcnow()
    already = exists().where(WebhookEventRow.event_type == SLA_BREACHED,
                             WebhookEventRow.subject == sql_cast(QueueItemRow.id, String))
    rows = session.execute(
        select(QueueItemRow, ReportRow.report_id, RouteRow.tier, ScoreRow.areas, ScoreRow.model_name,
               ScoreRow.model_version)
        .join(ReportRow, ReportRow.id == QueueItemRow.report_pk)
        .join(RouteRow, RouteRow.report_pk == ReportRow.id)
        .join(ScoreRow, ScoreRow.report_pk == ReportRow.id)
        .where(QueueItemRow.status != "done", QueueItemRow.due_at.is_not(None), QueueItemRow.due_at < now,
               ~already)
        .order_by(QueueItemRow.due_at, QueueItemRow.id).limit(limit)
    ).all()
    added = 0
    for item, report_id, tier, areas, model_name, model_version in rows:
        assert item.due_at is not None
        event_id = new_event_id()
        payload = _payload(event_id, SLA_BREACHED, item.due_at, report_id, tier, item.queue, item.priority,
                           item.due_at, areas, model_name, model_version, queue_item_id=item.id,
                           queue_item_kind=item.kind, queue_item_status=item.status)
        added += _insert_once(session, {
            "event_id": event_id, "event_type": SLA_BREACHED, "subject": str(item.id), "payload": payload,
            "created_at": now, "status": PENDING, "attempts": 0, "next_attempt_at": now})
    return added


def outbox_counts(session: Session) -> dict[str, int]:
    """Events waiting for delivery and events given up on."""
    rows = session.execute(select(WebhookEventRow.status, func.count())
                           .where(WebhookEventRow.status.in_([PENDING, FAILED])).group_by(WebhookEventRow.status))
    counts = {PENDING: 0, FAILED: 0}
    counts.update({status: int(n) for status, n in rows})
    return counts


# --- claiming and recording outcomes --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Claimed:
    """One event in a worker's hands; ``token`` names the claim (the outcome is written only under it)."""

    id: int
    event_id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int
    token: str
    text: str | None = None


def _claimable(now: datetime) -> Any:
    return and_(WebhookEventRow.status == PENDING, WebhookEventRow.next_attempt_at <= now,
                or_(WebhookEventRow.claimed_until.is_(None), WebhookEventRow.claimed_until < now))


def claim_due(session: Session, token: str, lease: timedelta, now: datetime | None = None,
              limit: int = BATCH_SIZE, include_text: bool = False) -> list[Claimed]:
    """Claim up to ``limit`` due events for ``token`` until ``now + lease``, oldest due first.

    On PostgreSQL the candidates are selected ``FOR UPDATE SKIP LOCKED`` (rows another claimer holds are passed
    over, not waited for, and stay locked until this transaction ends), then marked. Not in one statement: as
    an ``IN (subquery)`` of the UPDATE, PostgreSQL may run the subquery again per row and claim more than
    ``limit``. On SQLite, one UPDATE with the candidates as its subquery: SQLite runs one writer at a time, so
    the statement is atomic. Either way the UPDATE repeats the claimable test, so a row is never taken twice."""
    now = now or utcnow()
    candidates = (select(WebhookEventRow.id).where(_claimable(now))
                  .order_by(WebhookEventRow.next_attempt_at, WebhookEventRow.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        ids = list(session.scalars(candidates.with_for_update(skip_locked=True)))
        if not ids:
            return []
        chosen = WebhookEventRow.id.in_(ids)
    else:
        chosen = WebhookEventRow.id.in_(candidates.scalar_subquery())
    session.execute(
        update(WebhookEventRow).where(chosen, _claimable(now))
        .values(claimed_by=token, claimed_until=now + lease).execution_options(synchronize_session=False))
    rows = session.scalars(select(WebhookEventRow).where(WebhookEventRow.claimed_by == token)
                           .order_by(WebhookEventRow.next_attempt_at, WebhookEventRow.id)).all()
    texts: dict[str, str] = {}
    if include_text and rows:
        ids = [r.payload["report_id"] for r in rows]
        texts = {rid: text for rid, text in session.execute(
            select(ReportRow.report_id, ReportRow.text).where(ReportRow.report_id.in_(ids)))}
    return [Claimed(r.id, r.event_id, r.event_type, dict(r.payload), r.attempts, token,
                    texts.get(r.payload["report_id"])) for r in rows]


def retry_delay(attempts: int, base_s: float) -> float:
    """Seconds before attempt ``attempts + 1``: base x 2^(attempts - 1), at most an hour, then jittered down by
    up to half, so receivers coming back up are not hit by every process at once."""
    delay: float = min(MAX_RETRY_DELAY_S, base_s * 2.0 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Outcome:
    delivered: bool
    error: str | None = None


def record_outcome(session: Session, claimed: Claimed, outcome: Outcome, max_attempts: int, base_s: float,
                   now: datetime | None = None) -> str | None:
    """Write what happened to the event while the claim is still ours: its new status, or None when another
    process took the event over after our lease ran out (it will deliver it; the receiver deduplicates)."""
    now = now or utcnow()
    attempts = claimed.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "claimed_by": None, "claimed_until": None}
    if outcome.delivered:
        status = DELIVERED
        values.update(status=DELIVERED, delivered_at=now)
    else:
        status = FAILED if attempts >= max_attempts else PENDING
        values.update(status=status, last_error=(outcome.error or "error")[:200],
                      next_attempt_at=now + timedelta(seconds=retry_delay(attempts, base_s)))
    result = session.execute(
        update(WebhookEventRow).where(WebhookEventRow.id == claimed.id, WebhookEventRow.claimed_by == claimed.token)
        .values(**values).execution_options(synchronize_session=False))
    return status if cast("CursorResult[Any]", result).rowcount == 1 else None


def release_claims(session: Session, worker_id: str) -> int:
    """Give back the undelivered events a stopping worker holds, so another process (or this one, restarted)
    delivers them at once instead of after the lease."""
    result = session.execute(
        update(WebhookEventRow)
        .where(WebhookEventRow.claimed_by.startswith(f"{worker_id}/", autoescape=True),
               WebhookEventRow.status == PENDING)
        .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False))
    return cast("CursorResult[Any]", result).rowcount


def requeue(session: Session, event_id: str, now: datetime | None = None) -> WebhookEventRow | None:
    """Make a failed event pending again with a fresh set of attempts; None when it is not failed."""
    now = now or utcnow()
    result = session.execute(
        update(WebhookEventRow).where(WebhookEventRow.event_id == event_id, WebhookEventRow.status == FAILED)
        .values(status=PENDING, attempts=0, next_attempt_at=now, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False))
    if cast("CursorResult[Any]", result).rowcount != 1:
        return None
    return session.scalars(select(WebhookEventRow).where(WebhookEventRow.event_id == event_id)
                           .execution_options(populate_existing=True)).one()


# --- the delivery worker --------------------------------------------------------------------------

def _body(claimed: Claimed) -> bytes:
    """The exact bytes that are signed and sent (the same on every attempt)."""
    payload = claimed.payload if claimed.text is None else {**claimed.payload, "text": claimed.text}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookDispatcher:
    """Delivers the outbox to ``settings.webhook_url`` and sweeps for SLA breaches. ``run()`` is the background
    task of one server process; several processes (or several dispatchers) may share a database."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], metrics: Metrics,
                 *, worker_id: str | None = None) -> None:
        if settings.webhook_url is None or settings.webhook_secret is None:
            raise ValueError("webhooks need TRIAGE_WEBHOOK_URL and TRIAGE_WEBHOOK_SECRET")
        self.settings = settings
        self.sessions = sessions
        self.metrics = metrics
        self.url = str(settings.webhook_url)
        self._secret = settings.webhook_secret.get_secret_value()
        self.worker_id = worker_id or f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=settings.webhook_timeout_seconds) + LEASE_MARGIN
        self._claims = 0
        self._client: httpx.AsyncClient | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # httpx logs each request's URL at INFO, and the URL may carry a token.
        logging.getLogger("httpx").setLevel(logging.WARNING)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False,
                                             timeout=httpx.Timeout(self.settings.webhook_timeout_seconds))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def start(self) -> None:
        """Run ``run()`` as a background task of the running event loop (the app's lifespan)."""
        self._task = asyncio.create_task(self.run(), name="triage-webhooks")

    async def stop(self) -> None:
        """Let the batch in flight finish (its posts are bounded by the timeout) and stop; cancel it if it takes
        longer. Events this worker still holds are handed back, so a restart sends them at once; events not yet
        sent simply wait in the outbox."""
        self._stopping.set()
        if self._task is not None:
            _, running = await asyncio.wait({self._task}, timeout=self.settings.webhook_timeout_seconds + 5)
            for task in running:
                task.cancel()
                await asyncio.wait({task})
        try:
            released = await asyncio.to_thread(self._release)
            if released:
                log.info("webhook events handed back at shutdown", extra={"worker": self.worker_id,
                                                                          "events": released})
        except Exception as exc:  # their lease runs out anyway, and another process takes them then
            log.warning("could not hand back claimed webhook events: %s", type(exc).__name__)
        await self.aclose()

    async def run(self) -> None:
        """Until ``stop()``: sweep for SLA breaches every ``webhook_sla_sweep_seconds``, deliver what is due every
        ``webhook_poll_seconds`` (at once again while full batches keep coming)."""
        settings = self.settings
        host = settings.webhook_url.host if settings.webhook_url else None
        log.info("webhook delivery started", extra={"worker": self.worker_id, "host": host})
        next_sweep = 0.0
        while not self._stopping.is_set():
            if time.monotonic() >= next_sweep:
                await self._guarded("SLA sweep", self.sweep)
                next_sweep = time.monotonic() + settings.webhook_sla_sweep_seconds
            claimed = await self._guarded("webhook delivery", self.deliver_due)
            if claimed < BATCH_SIZE:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=settings.webhook_poll_seconds)

    async def _guarded(self, what: str, step: Any) -> int:
        """One step; an error is logged and the loop goes on (a database outage must not end delivery)."""
        try:
            return int(await step())
        except DBAPIError as exc:  # the message would hold SQL and parameters: the type is enough
            log.error("%s failed: database error %s", what, type(exc.orig or exc).__name__)
        except Exception:
            log.exception("%s failed", what)
        return 0

    def _release(self) -> int:
        with transaction(self.sessions) as session:
            return release_claims(session, self.worker_id)

    async def sweep(self) -> int:
        """Record SLA-breach events (committed), and refresh the outbox gauge; returns the events recorded."""
        added, counts = await asyncio.to_thread(self._sweep)
        if added:
            self.metrics.webhooks_enqueued.labels(SLA_BREACHED).inc(added)
            log.info("SLA breaches recorded", extra={"events": added, "event_type": SLA_BREACHED})
        for status, n in counts.items():
            self.metrics.webhooks_outbox.labels(status).set(n)
        return added

    def _sweep(self) -> tuple[int, dict[str, int]]:
        with transaction(self.sessions) as session:
            added = sweep_sla_breaches(session, self.metrics)
        with self.sessions() as session:
            return added, outbox_counts(session)

    def _claim(self) -> list[Claimed]:
        self._claims += 1
        token = f"{self.worker_id}/{self._claims}"
        with transaction(self.sessions) as session:
            return claim_due(session, token, self.lease, include_text=self.settings.webhook_include_text)

    async def deliver_due(self) -> int:
        """Claim one batch of due events, post them concurrently, record each outcome; returns the batch size."""
        batch = await asyncio.to_thread(self._claim)
        if batch:
            await asyncio.gather(*(self._deliver(c) for c in batch))
        return len(batch)

    async def _deliver(self, claimed: Claimed) -> None:
        outcome = await self.post(claimed)
        settings = self.settings

        def write() -> str | None:
            with transaction(self.sessions) as session:
                return record_outcome(session, claimed, outcome, settings.webhook_max_attempts,
                                      settings.webhook_retry_base_seconds)

        status = await asyncio.to_thread(write)
        fields = {"event_id": claimed.event_id, "event_type": claimed.event_type, "attempt": claimed.attempts + 1,
                  "status": status, "error": outcome.error, "worker": self.worker_id}
        if status is None:
            log.warning("webhook claim lost (lease ran out): another worker owns the event now", extra=fields)
        elif status == DELIVERED:
            self.metrics.webhooks_delivered.labels(claimed.event_type).inc()
            log.info("webhook delivered", extra=fields)
        elif status == FAILED:
            self.metrics.webhooks_failed.labels(claimed.event_type).inc()
            log.warning("webhook failed after the last attempt", extra=fields)
        else:
            self.metrics.webhooks_retries.labels(claimed.event_type).inc()
            log.info("webhook delivery failed; will retry", extra=fields)

    async def post(self, claimed: Claimed) -> Outcome:
        """One attempt, bounded by the timeout as a whole (a receiver trickling bytes cannot hold it longer)."""
        body = _body(claimed)
        headers = signed_headers(self._secret, claimed.event_id, claimed.event_type, body)
        headers["Triage-Delivery-Attempt"] = str(claimed.attempts + 1)
        try:
            async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                response = await self.client.post(self.url, content=body, headers=headers)
        except TimeoutError:
            return Outcome(False, f"no answer within {self.settings.webhook_timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return Outcome(False, type(exc).__name__)  # never str(exc): it names the URL
        if 200 <= response.status_code < 300:
            return Outcome(True)
        return Outcome(False, f"HTTP {response.status_code}")


def dispatcher_for(settings: Settings, sessions: sessionmaker[Session], metrics: Metrics) -> WebhookDispatcher | None:
    """The app's dispatcher, or None when webhooks are off (no TRIAGE_WEBHOOK_URL)."""
    return WebhookDispatcher(settings, sessions, metrics) if settings.webhook_url is not None else None
