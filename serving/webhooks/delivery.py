"""Delivering the outbox: ``WebhookDispatcher``, a background task of each server process when
``TRIAGE_WEBHOOK_URL`` is set.

It claims due events in small batches, posts them concurrently over httpx, signed, and records each outcome: a
2xx answer is a delivery; anything else, a timeout or a network error is retried, and after
``TRIAGE_WEBHOOK_MAX_ATTEMPTS`` the event is ``failed``. Every ``TRIAGE_WEBHOOK_SLA_SWEEP_SECONDS`` it also
sweeps for SLA breaches and for items to page on-call about (unclaimed past their ``page_at``). Logs name event
ids, types and outcomes, never the body, the URL (it may carry a token) or the secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from model.settings import Settings
from serving.db.engine import transaction
from serving.metrics import Metrics
from serving.oncall import Rota
from serving.webhooks.events import DELIVERED, FAILED, SLA_BREACHED, UNCLAIMED
from serving.webhooks.outbox import (
    BATCH_SIZE,
    Claimed,
    Outcome,
    claim_due,
    outbox_counts,
    record_outcome,
    release_claims,
    sweep_sla_breaches,
    sweep_unclaimed,
)
from serving.webhooks.signing import signed_headers

#: The logger's name is the package's, as logs have always named it.
log = logging.getLogger("serving.webhooks")

#: A claim lasts the request timeout plus this margin (writing the outcome); then another process may take over.
LEASE_MARGIN = timedelta(seconds=30)


def _body(claimed: Claimed) -> bytes:
    """The exact bytes that are signed and sent (the same on every attempt)."""
    payload = claimed.payload if claimed.text is None else {**claimed.payload, "text": claimed.text}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookDispatcher:
    """Delivers the outbox to ``settings.webhook_url`` and sweeps for SLA breaches and for unclaimed items to page
    about (their contacts from ``rotas``, queue to rota; none: pages name no contact). ``run()`` is the
    background task of one server process; several processes (or several dispatchers) may share a database."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], metrics: Metrics,
                 *, worker_id: str | None = None, rotas: Mapping[str, Rota] | None = None) -> None:
        if settings.webhook_url is None or settings.webhook_secret is None:
            raise ValueError("webhooks need TRIAGE_WEBHOOK_URL and TRIAGE_WEBHOOK_SECRET")
        self.settings = settings
        self.sessions = sessions
        self.metrics = metrics
        self.rotas: Mapping[str, Rota] = rotas or {}
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
        """Until ``stop()``: sweep for SLA breaches and unclaimed items every ``webhook_sla_sweep_seconds``, deliver
        what is due every ``webhook_poll_seconds`` (at once again while full batches keep coming)."""
        settings = self.settings
        host = settings.webhook_url.host if settings.webhook_url else None
        log.info("webhook delivery started", extra={"worker": self.worker_id, "host": host})
        next_sweep = 0.0
        while not self._stopping.is_set():
            if time.monotonic() >= next_sweep:
                await self._guarded("SLA and on-call sweep", self.sweep)
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
        """Record SLA-breach and unclaimed-item events (each sweep committed on its own), and refresh the outbox
        gauge; returns the events recorded."""
        added, counts = await asyncio.to_thread(self._sweep)
        for event_type, what in ((SLA_BREACHED, "SLA breaches recorded"), (UNCLAIMED, "unclaimed items paged")):
            if added[event_type]:
                self.metrics.webhooks_enqueued.labels(event_type).inc(added[event_type])
                log.info(what, extra={"events": added[event_type], "event_type": event_type})
        for status, n in counts.items():
            self.metrics.webhooks_outbox.labels(status).set(n)
        return sum(added.values())

    def _sweep(self) -> tuple[dict[str, int], dict[str, int]]:
        added: dict[str, int] = {}
        with transaction(self.sessions) as session:
            added[SLA_BREACHED] = sweep_sla_breaches(session, self.metrics)
        with transaction(self.sessions) as session:
            added[UNCLAIMED] = sweep_unclaimed(session, self.metrics, self.rotas)
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


def dispatcher_for(settings: Settings, sessions: sessionmaker[Session], metrics: Metrics,
                   rotas: Mapping[str, Rota] | None = None) -> WebhookDispatcher | None:
    """The app's dispatcher (paging the contacts of ``rotas``), or None when webhooks are off (no
    TRIAGE_WEBHOOK_URL)."""
    if settings.webhook_url is None:
        return None
    return WebhookDispatcher(settings, sessions, metrics, rotas=rotas)
