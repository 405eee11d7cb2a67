"""Load, then what it left in the database: an open-loop mix of scoring and review traffic against a real
server, followed by read-only queries that check every report and review decision answered 2xx is stored
exactly once.

    python -m benchmarks.load --model-path var/models/demo --rate 50 --duration 120    # its own server
    python -m benchmarks.load --url http://127.0.0.1:8000 --intake-key-file var/demo-intake.key \
        --reviewer-key-file var/reviewer.key --database-url sqlite:///var/triage.db

Without ``--url`` the script starts ``triage serve`` itself (``--serve``) on a free loopback port, with a
temporary work folder and SQLite database (or ``--database-url``), registry polling off, and creates its own
intake and reviewer keys (as ``triage keys create`` does).

**Traffic.** Arrivals follow a seeded Poisson schedule at ``--rate`` per second for ``--duration`` seconds and
are sent on schedule whatever the answers' latency (an open loop: a slow server shows up as latency, not as a
politely slower client); at most ``--max-in-flight`` requests are open at once, and arrivals that find no free
slot wait for one (counted, and their wait is part of their latency). Each arrival is one HTTP request, on a
connection of its own:

- 70% ``POST /v1/reports:score``, one report;
- 10% ``POST /v1/reports:batchScore``, 2 to 16 reports;
- 20% review, by one reviewer working the queues: ``GET /v1/queues`` when it knows no queue with open work
  (and 1 arrival in 5 otherwise), ``POST /v1/queues/{queue}:claim`` on a queue with open work, and, while it
  holds claimed items, ``POST /v1/items/{id}:decide`` with a label (9 in 10) or ``:release`` (1 in 10).

Texts come from a small bundled multilingual list (threats, scams, hate, self-harm, spam and harmless posts in
eight languages), or ``--texts FILE`` (JSON Lines of ``{"text": ..., "language": ...}``); reporter type, report
count, follower count and language hint vary, so every routing path is taken. Report ids are
``load-<run id>-<n>``, unique per run.

**Retries**, as an intake system would: on a connection error, a timeout, a 429 or a 503, the same request
(same body, same ``report_id``) is sent again after a backoff (exponential from 0.1 s, at most
``--max-backoff``, and at least the server's ``Retry-After`` up to that cap) until ``--give-up-after`` seconds
have passed. Claims, releases and decisions carry an ``Idempotency-Key`` (one per arrival, the same on its
retries), so a retry after a lost answer gets the first answer (``serving/idempotency.py``) rather than a
second claim or a 409. A 409 met by a retried decision or release is still counted as ``lost`` and checked in the
database, in case the server runs without idempotent actions.

**Output.** Requests by kind, attempts by status class (2xx, 4xx, 5xx, connection errors), the achieved rate,
p50/p95/p99 latency per kind (from the scheduled arrival to the final answer), then the database check: every
report answered 2xx stored once (with its score, route and, when routed to a queue, one queue item), matching
the answer; no report of the run stored that was never sent; every review decision answered 2xx stored once.
With ``--serve``, the server's resident memory is sampled every ``--rss-every`` seconds during the load and
reported (when the load began, at its end, the growth, the peak): a long run at a steady rate is a soak. Exit
status 1 on any error (a non-2xx answer or connection error, retried or not) or storage problem, 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import RssSampler, latency_ms
from benchmarks.server import ManagedServer, serve_env

#: (text, language): what people report, in the languages the model was trained on, with some harmless posts.
TEXTS: tuple[tuple[str, str], ...] = (
    ("I know where you live and I am coming for you tonight", "en"),
    ("Congratulations! You won a $500 gift card, click here to claim it now", "en"),
    ("This recipe is amazing, thanks for sharing it with the group", "en"),
    ("people like you should be wiped off the face of the earth", "en"),
    ("I can't do this anymore, tonight I'm going to end it all", "en"),
    ("Send me 0.5 BTC and I will double it within an hour, guaranteed", "en"),
    ("go back to your own country, nobody wants your kind here", "en"),
    ("Anyone know a good vet near the station? My cat has been sneezing all week", "en"),
    ("she posted my home address and phone number so people would harass me", "en"),
    ("Buy cheap followers now!!! 10k followers for $5 at [url]", "en"),
    ("@user you are pathetic and everyone at school laughs at you", "en"),
    ("Great match yesterday, the second half was incredible", "en"),
    ("Ces gens-là ne devraient pas avoir le droit de vivre ici", "fr"),
    ("Les immigrés sont des parasites qu il faut chasser du pays", "fr"),
    ("Merci pour les photos du mariage, elles sont magnifiques", "fr"),
    ("Ich finde den Artikel wirklich gut geschrieben, danke", "de"),
    ("Die sind alle gleich, diese Leute gehören nicht hierher", "de"),
    ("Wenn ich dich noch einmal sehe, bist du tot", "de"),
    ("No puedo más, esta noche voy a terminar con todo", "es"),
    ("Gana dinero desde casa, solo tienes que pagar 50 euros de inscripción", "es"),
    ("Qué bonito día para ir a la playa con la familia", "es"),
    ("esse tipo de gente nem devia existir aqui", "pt"),
    ("falta de respeito do caralho seu arrombado", "pt"),
    ("mais um dia de sol no rio, bora pra praia", "pt"),
    ("यह वीडियो बहुत अच्छा है, धन्यवाद", "hi"),
    ("इन लोगों को देश से निकाल देना चाहिए", "hi"),
    ("هذا الحساب ينشر أخبارا كاذبة عن الانتخابات", "ar"),
    ("سأجدك وسأجعلك تندم على ما فعلت", "ar"),
    ("شكرا على المساعدة، وصل الطلب اليوم", "ar"),
    ("Dasar kalian semua sampah, pergi dari negeri ini", "id"),
    ("Selamat pagi semua, jangan lupa sarapan ya", "id"),
    ("Klik link ini untuk dapat pulsa gratis 100 ribu [url]", "id"),
)

SCORE, BATCH, QUEUES, CLAIM, DECIDE, RELEASE = "score", "batch", "queues", "claim", "decide", "release"
KINDS = (SCORE, BATCH, QUEUES, CLAIM, DECIDE, RELEASE)
PATHS = {SCORE: "/v1/reports:score", BATCH: "/v1/reports:batchScore", QUEUES: "/v1/queues"}

#: Labels the reviewer gives, each valid under the corpus label rules (``model.schema.ReviewDecision``).
LABELS: tuple[dict[str, Any], ...] = (
    {"risk_tier": "low", "policy_areas": ["none"], "action": "no_violation"},
    {"risk_tier": "medium", "policy_areas": ["hate_speech"], "action": "remove"},
    {"risk_tier": "medium", "policy_areas": ["harassment", "hate_speech"], "action": "restrict"},
    {"risk_tier": "medium", "policy_areas": ["spam_fraud"], "action": "warn_user"},
    {"risk_tier": "high", "policy_areas": ["violence_incitement"], "action": "escalate_law_enforcement"},
    {"risk_tier": "high", "policy_areas": ["self_harm"], "action": "escalate_partner"},
)

KEY_ID = re.compile(r"^trg_([a-f0-9]{12})_")
#: Answers that say "later" (over the key's rate limit; not ready, or the database unavailable): sent again.
RETRIED_STATUSES = (429, 503)


@dataclass(frozen=True)
class Mix:
    """Shares of arrivals; review takes what single and batch scoring leave."""

    score: float = 0.7
    batch: float = 0.1
    batch_min: int = 2
    batch_max: int = 16

    def __post_init__(self) -> None:
        if self.score < 0 or self.batch < 0 or self.score + self.batch > 1:
            raise ValueError("mix: the score and batch shares must be >= 0 and add up to at most 1")
        if not 1 <= self.batch_min <= self.batch_max <= 256:
            raise ValueError("mix: batch sizes must satisfy 1 <= min <= max <= 256")

    @property
    def review(self) -> float:
        return max(0.0, 1.0 - self.score - self.batch)


@dataclass(frozen=True)
class LoadConfig:
    rate: float = 50.0
    duration: float = 120.0
    seed: int = 0
    #: Requests open at once. More only queue inside the server (its thread pool runs 40 at a time) and, past
    #: the timeout, turn a slow answer into a retried one; fewer queue here, where the wait is measured.
    max_in_flight: int = 64
    mix: Mix = field(default_factory=Mix)
    #: Per-request timeout, seconds.
    timeout: float = 30.0
    #: Retries: backoff cap (also the most of a Retry-After honoured), and when to give up on a request.
    max_backoff: float = 2.0
    give_up_after: float = 60.0
    texts: Sequence[tuple[str, str | None]] = TEXTS

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.duration <= 0:
            raise ValueError("rate and duration must be > 0")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        if not self.texts:
            raise ValueError("texts: give at least one text")


@dataclass
class Attempt:
    #: HTTP status, or None when no answer came (connection error or timeout: see ``error``).
    status: int | None
    error: str | None
    seconds: float
    #: Seconds since the run started when the attempt ended.
    ended_at: float


@dataclass
class Op:
    """One arrival: its request, every attempt, and the final outcome."""

    index: int
    kind: str
    scheduled_at: float
    body: dict[str, Any] | None = None
    report_ids: list[str] = field(default_factory=list)
    item_id: int | None = None
    queue: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    #: The final answer's JSON when it was 2xx (score: a Decision; batch: results; claim: the item; decide:
    #: the decision), else None.
    answer: Any = None
    #: ok (2xx), lost (a retried decide/release met the 409 its own lost success causes: checked in the
    #: database), failed (anything else, or gave up).
    outcome: str = "pending"
    waited_for_slot: bool = False
    finished_at: float = 0.0

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    @property
    def retried(self) -> bool:
        return len(self.attempts) > 1

    def report_bodies(self) -> list[dict[str, Any]]:
        """The reports a score or batch request sends (the same on every attempt)."""
        if self.body is None or self.kind not in (SCORE, BATCH):
            return []
        return [self.body] if self.kind == SCORE else list(self.body["reports"])

    def decisions(self) -> list[dict[str, Any]]:
        """The scoring decisions of a 2xx score or batch answer."""
        if self.outcome != "ok" or self.kind not in (SCORE, BATCH):
            return []
        return [self.answer] if self.kind == SCORE else list(self.answer["results"])


@dataclass
class LoadResult:
    run_id: str
    config: LoadConfig
    started_at: datetime
    wall_s: float = 0.0
    schedule_s: float = 0.0
    ops: list[Op] = field(default_factory=list)
    reviewer_key_id: str | None = None

    @property
    def prefix(self) -> str:
        return f"load-{self.run_id}-"

    def sent_report_ids(self) -> set[str]:
        return {rid for op in self.ops if op.attempts for rid in op.report_ids}

    def acknowledged(self) -> dict[str, dict[str, Any]]:
        """report_id -> the decision answered 2xx (the last one, when a report was answered twice)."""
        return {d["report_id"]: d for op in self.ops for d in op.decisions()}

    def attempts_by_class(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for op in self.ops:
            for a in op.attempts:
                counts["connection errors" if a.status is None else f"{a.status // 100}xx"] += 1
        return counts

    def errors(self) -> list[str]:
        """Every request that did not end in the answer expected, and every attempt that met an error."""
        out = []
        for op in self.ops:
            if op.outcome == "failed":
                out.append(f"{op.kind} #{op.index}: {_describe(op.attempts[-1]) if op.attempts else 'not sent'}")
            elif op.retried:
                out.append(f"{op.kind} #{op.index}: retried after {', '.join(_describe(a) for a in op.attempts[:-1])}")
        return out

    def summary(self) -> dict[str, Any]:
        by_kind = Counter(op.kind for op in self.ops)
        answered = [op for op in self.ops if op.outcome != "pending"]
        latencies = {
            kind: latency_ms([op.finished_at - op.scheduled_at for op in answered if op.kind == kind and
                              op.outcome in ("ok", "lost")])
            for kind in KINDS if any(op.kind == kind and op.outcome in ("ok", "lost") for op in answered)
        }
        attempts = sum(len(op.attempts) for op in self.ops)
        return {
            "run_id": self.run_id, "rate": self.config.rate, "duration_s": self.config.duration,
            "seed": self.config.seed, "requests": dict(by_kind),
            "reports_sent": len(self.sent_report_ids()),
            "attempts": attempts, "attempts_by_class": dict(self.attempts_by_class()),
            "retried": sum(op.retried for op in self.ops),
            "failed": sum(op.outcome == "failed" for op in self.ops),
            "lost_answers_checked": sum(op.outcome == "lost" for op in self.ops),
            "waited_for_slot": sum(op.waited_for_slot for op in self.ops),
            "arrival_rate": len(self.ops) / self.schedule_s if self.schedule_s else 0.0,
            "answered_rate": attempts / self.wall_s if self.wall_s else 0.0,
            "wall_s": self.wall_s, "latency_ms": latencies,
        }


def _describe(attempt: Attempt) -> str:
    if attempt.status is None:
        return attempt.error or "no answer"
    return f"HTTP {attempt.status}: {attempt.error}" if attempt.error else f"HTTP {attempt.status}"


def key_id_of(key: str) -> str | None:
    """The public id of a key ``trg_<key id>_<secret>``."""
    match = KEY_ID.match(key)
    return match.group(1) if match else None


class LoadGenerator:
    """Runs one load: ``await LoadGenerator(url, intake_key, reviewer_key, config).run()``."""

    def __init__(self, url: str, intake_key: str, reviewer_key: str | None, config: LoadConfig) -> None:
        self.url = url.rstrip("/")
        self.intake = {"Authorization": f"Bearer {intake_key}"}
        self.reviewer = {"Authorization": f"Bearer {reviewer_key}"} if reviewer_key else None
        self.config = config
        # The schedule (arrival times, kinds, report bodies) comes from its own generator, so a seed gives the same
        # traffic whatever the answers; the reviewer's choices and retry jitter depend on timing.
        self.rng = random.Random(config.seed)
        self._review_rng = random.Random(config.seed + 1)
        self._jitter = random.Random(config.seed + 2)
        self.result = LoadResult(run_id=uuid.uuid4().hex[:12], config=config, started_at=datetime.now(UTC),
                                 reviewer_key_id=key_id_of(reviewer_key) if reviewer_key else None)
        self._next_report = 0
        self._held: list[tuple[int, str]] = []  # (item id, queue) claimed, not yet decided or released
        self._open_queues: dict[str, int] = {}  # the last queue overview: queue -> open items
        self._t0 = 0.0
        self._stopping = False

    def _now(self) -> float:
        return time.perf_counter() - self._t0

    def elapsed(self) -> float:
        """Seconds since the run started (the clock of ``Op.scheduled_at``, ``finished_at`` and
        ``Attempt.ended_at``)."""
        return self._now()

    def stop(self) -> None:
        """End the arrivals now (before ``duration``); requests already sent are still answered or retried."""
        self._stopping = True

    async def run(self) -> LoadResult:
        cfg = self.config
        # A connection per request, no keep-alive: a reused connection races uvicorn's keep-alive timeout (5 s,
        # counted from the answer it sent), and a busy client that reads an answer late can send its next request
        # as the server closes the connection: a ReadError (connection reset) that is the client's doing, seen
        # twice in 6,000 requests under CPU contention even with a 2 s client-side expiry.
        limits = httpx.Limits(max_connections=cfg.max_in_flight, max_keepalive_connections=0)
        slots = asyncio.Semaphore(cfg.max_in_flight)
        tasks: list[asyncio.Task[None]] = []
        async with httpx.AsyncClient(base_url=self.url, timeout=cfg.timeout, limits=limits) as client:
            self._t0 = time.perf_counter()
            self.result.started_at = datetime.now(UTC)
            at = 0.0
            while True:
                at += self.rng.expovariate(cfg.rate)
                if at >= cfg.duration:
                    break
                delay = at - self._now()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self._stopping:
                    break
                op = self._arrival(len(self.result.ops), at)
                self.result.ops.append(op)
                tasks.append(asyncio.create_task(self._run(client, slots, op)))
            self.result.schedule_s = max(self._now(), 1e-9)
            await asyncio.gather(*tasks)
        self.result.wall_s = self._now()
        return self.result

    def _arrival(self, index: int, at: float) -> Op:
        """What this arrival sends: scoring requests are drawn now (their bodies fixed for every retry);
        review requests are chosen when a slot is free, from what the reviewer holds then."""
        mix = self.config.mix
        draw = self.rng.random()
        if draw < mix.score:
            op = Op(index, SCORE, at)
            op.body = self._report()
            op.report_ids = [op.body["report_id"]]
        elif draw < mix.score + mix.batch:
            op = Op(index, BATCH, at)
            reports = [self._report() for _ in range(self.rng.randint(mix.batch_min, mix.batch_max))]
            op.body = {"reports": reports}
            op.report_ids = [r["report_id"] for r in reports]
        elif self.reviewer is None:  # no reviewer key: review arrivals score a report instead
            op = Op(index, SCORE, at)
            op.body = self._report()
            op.report_ids = [op.body["report_id"]]
        else:
            op = Op(index, QUEUES, at)  # the review step is chosen when it runs
        return op

    def _report(self) -> dict[str, Any]:
        rng = self.rng
        text, language = self.config.texts[rng.randrange(len(self.config.texts))]
        body: dict[str, Any] = {"report_id": f"{self.result.prefix}{self._next_report}", "text": text}
        self._next_report += 1
        if language and rng.random() < 0.5:
            body["language"] = language
        roll = rng.random()
        if roll < 0.06:
            body["reporter_type"] = "trusted_flagger"
        elif roll < 0.08:
            body["reporter_type"] = rng.choice(["partner", "press", "regulator", "law_enforcement"])
        if rng.random() < 0.15:
            body["report_count"] = rng.choice([2, 3, 5, 12, 40])
        if rng.random() < 0.1:
            body["account"] = {"followers": rng.choice([50, 2_000, 150_000]), "prior_strikes": rng.choice([0, 1, 3])}
        if rng.random() < 0.2:
            body["surface"] = rng.choice(["comment", "message", "profile"])
        return body

    def _review_step(self, op: Op) -> None:
        """Turn a review arrival into one request: decide or release a held item, claim, or list queues."""
        rng = self._review_rng
        if self._held:
            op.item_id, op.queue = self._held.pop(rng.randrange(len(self._held)))
            if rng.random() < 0.9:
                op.kind, op.body = DECIDE, dict(rng.choice(LABELS))
            else:
                op.kind = RELEASE
            return
        open_queues = [q for q, n in self._open_queues.items() if n > 0]
        if open_queues and rng.random() >= 0.2:
            op.kind, op.queue = CLAIM, rng.choice(open_queues)
        else:
            op.kind = QUEUES

    async def _run(self, client: httpx.AsyncClient, slots: asyncio.Semaphore, op: Op) -> None:
        op.waited_for_slot = slots.locked()
        async with slots:
            if op.kind == QUEUES:
                self._review_step(op)
            await self._send(client, op)
        op.finished_at = self._now()
        self._observe(op)

    def _request(self, op: Op) -> tuple[str, str, dict[str, str]]:
        if op.kind in (SCORE, BATCH):
            return "POST", PATHS[op.kind], self.intake
        assert self.reviewer is not None
        if op.kind == QUEUES:
            return "GET", PATHS[QUEUES], self.reviewer
        # One Idempotency-Key per review action, the same on each of its retries: a retry gets the first answer.
        actions = {**self.reviewer, "Idempotency-Key": f"load-{self.result.run_id}-{op.index}"}
        if op.kind == CLAIM:
            return "POST", f"/v1/queues/{op.queue}:claim", actions
        return "POST", f"/v1/items/{op.item_id}:{op.kind}", actions

    async def _send(self, client: httpx.AsyncClient, op: Op) -> None:
        method, path, headers = self._request(op)
        first = time.perf_counter()
        backoff = 0.1
        while True:
            started = time.perf_counter()
            retry_after = 0.0
            try:
                response = await client.request(method, path, json=op.body, headers=headers)
            except httpx.TransportError as exc:  # refused, reset, timed out: the server may or may not have it
                op.attempts.append(Attempt(None, type(exc).__name__, time.perf_counter() - started, self._now()))
            else:
                error = None if response.status_code < 400 else _error_message(response)
                op.attempts.append(Attempt(response.status_code, error, time.perf_counter() - started, self._now()))
                if response.status_code < 300:
                    try:
                        op.answer = response.json() if response.status_code != 204 else None
                    except ValueError:
                        op.attempts[-1].error = "the 2xx answer is not JSON"
                        op.outcome = "failed"
                        return
                    op.outcome = "ok"
                    return
                if response.status_code == 409 and op.retried and op.kind in (DECIDE, RELEASE):
                    # The first attempt may have succeeded and lost its answer: a decide retried then meets
                    # "already decided", a release "claim ... before you release it". The database check
                    # settles a decision; a release leaves nothing to check.
                    op.outcome = "lost"
                    return
                if response.status_code not in RETRIED_STATUSES:
                    op.outcome = "failed"
                    return
                retry_after = _retry_after(response)
            wait = min(max(backoff * (0.5 + self._jitter.random() / 2), retry_after), self.config.max_backoff)
            if time.perf_counter() - first + wait > self.config.give_up_after:
                op.outcome = "failed"
                return
            await asyncio.sleep(wait)
            backoff = min(backoff * 2, self.config.max_backoff)

    def _observe(self, op: Op) -> None:
        """What the reviewer learns from an answer."""
        if op.kind == QUEUES and op.outcome == "ok":
            self._open_queues = {q["queue"]: int(q["open"]) for q in op.answer["queues"]}
        elif op.kind == CLAIM and op.outcome == "ok":
            if op.answer is None:  # 204: nothing this reviewer may claim there
                self._open_queues[op.queue or ""] = 0
            else:
                op.item_id = int(op.answer["id"])
                self._held.append((op.item_id, str(op.answer["queue"])))


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:200]
    except (ValueError, AttributeError):
        return ""


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


# --- the database check -------------------------------------------------------------------------------------


@dataclass
class Verification:
    """What the database holds of one run, against what the server answered."""

    reports_acknowledged: int = 0
    reports_stored: int = 0
    #: Answered 2xx, not stored; stored twice; stored but never sent; stored differently from the answer.
    reports_missing: list[str] = field(default_factory=list)
    reports_duplicated: list[str] = field(default_factory=list)
    reports_unsent: list[str] = field(default_factory=list)
    reports_mismatched: list[str] = field(default_factory=list)
    #: Sent, never answered 2xx, yet stored (the answer was lost): at-least-once delivery, not an error.
    reports_unacknowledged_stored: list[str] = field(default_factory=list)
    #: Half-written: a report without its score or route, a routed report without its queue item, a queue
    #: item or decision without its report.
    incomplete: list[str] = field(default_factory=list)
    decisions_acknowledged: int = 0
    decisions_stored: int = 0
    decisions_missing: list[int] = field(default_factory=list)
    decisions_duplicated: list[int] = field(default_factory=list)
    decisions_unsent: list[int] = field(default_factory=list)
    decisions_mismatched: list[int] = field(default_factory=list)

    def problems(self) -> list[str]:
        out = []
        for name in ("reports_missing", "reports_duplicated", "reports_unsent", "reports_mismatched", "incomplete",
                     "decisions_missing", "decisions_duplicated", "decisions_unsent", "decisions_mismatched"):
            values = getattr(self, name)
            if values:
                shown = ", ".join(map(str, values[:5])) + (" ..." if len(values) > 5 else "")
                out.append(f"{name.replace('_', ' ')}: {len(values)} ({shown})")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()


def _utc(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def verify(result: LoadResult, database_url: str) -> Verification:
    """Read-only queries of the service database (``serving/db/models.py``) for the reports and review
    decisions of ``result``'s run."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from serving.db.models import QueueItemRow, ReportRow, ReviewDecisionRow, RouteRow, ScoreRow

    check = Verification()
    acknowledged = result.acknowledged()
    check.reports_acknowledged = len(acknowledged)
    sent = result.sent_report_ids()
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            run_reports = select(ReportRow.id).where(ReportRow.report_id.startswith(result.prefix, autoescape=True))
            stored = session.execute(
                select(ReportRow.id, ReportRow.report_id, ReportRow.received_at)
                .where(ReportRow.id.in_(run_reports))).all()
            scores = {pk: (version, tier) for pk, version, tier in session.execute(
                select(ScoreRow.report_pk, ScoreRow.model_version, ScoreRow.model_tier)
                .where(ScoreRow.report_pk.in_(run_reports)))}
            routes = {pk: (tier, action, queue) for pk, tier, action, queue in session.execute(
                select(RouteRow.report_pk, RouteRow.tier, RouteRow.action, RouteRow.queue)
                .where(RouteRow.report_pk.in_(run_reports)))}
            routed_items = Counter(session.scalars(
                select(QueueItemRow.report_pk)
                .where(QueueItemRow.report_pk.in_(run_reports), QueueItemRow.kind.in_(("primary", "qa")))))
            check.reports_stored = len(stored)
            counts = Counter(rid for _, rid, _ in stored)
            check.reports_duplicated = sorted(rid for rid, n in counts.items() if n > 1)
            check.reports_unsent = sorted(rid for rid in counts if rid not in sent)
            check.reports_missing = sorted(rid for rid in acknowledged if rid not in counts)
            check.reports_unacknowledged_stored = sorted(rid for rid in counts
                                                         if rid in sent and rid not in acknowledged)
            for pk, rid, received_at in stored:
                if pk not in scores or pk not in routes:
                    check.incomplete.append(f"report {rid} without its {'score' if pk not in scores else 'route'}")
                    continue
                tier, action, queue = routes[pk]
                wanted = 1 if action != "auto_close" and queue is not None else 0
                if routed_items[pk] != wanted:
                    check.incomplete.append(f"report {rid} routed to {queue} with {routed_items[pk]} queue items")
                answer = acknowledged.get(rid)
                if answer is not None and (
                        answer["risk"]["tier"], answer["risk"]["model_tier"], answer["route"]["action"],
                        answer["route"]["queue"], answer["model"]["version"], _utc(answer["received_at"])
                ) != (tier, scores[pk][1], action, queue, scores[pk][0], received_at):
                    check.reports_mismatched.append(rid)
            check.incomplete += [f"queue item {i} without its report" for i in session.scalars(
                select(QueueItemRow.id).where(QueueItemRow.report_pk.not_in(select(ReportRow.id))))]
            check.incomplete += [f"review decision {i} without its report" for i in session.scalars(
                select(ReviewDecisionRow.id).where(ReviewDecisionRow.report_pk.not_in(select(ReportRow.id))))]
            check.incomplete += [f"review decision {i} without its queue item" for i in session.scalars(
                select(ReviewDecisionRow.id)
                .where(ReviewDecisionRow.queue_item_id.not_in(select(QueueItemRow.id))))]
            _verify_decisions(result, session, check)
    finally:
        engine.dispose()
    return check


def _verify_decisions(result: LoadResult, session: Any, check: Verification) -> None:
    from sqlalchemy import select

    from serving.db.models import ReviewDecisionRow

    decides = [op for op in result.ops if op.kind == DECIDE and op.attempts]
    acknowledged = {op.item_id: op for op in decides if op.outcome == "ok"}
    attempted = {op.item_id: op for op in decides}
    check.decisions_acknowledged = len(acknowledged)
    if result.reviewer_key_id is None:
        rows = session.scalars(select(ReviewDecisionRow).where(
            ReviewDecisionRow.queue_item_id.in_([i for i in attempted if i is not None]))).all()
    else:
        rows = session.scalars(select(ReviewDecisionRow).where(
            ReviewDecisionRow.reviewer == result.reviewer_key_id)).all()
    since = result.started_at - timedelta(seconds=1)
    mine = [row for row in rows if row.queue_item_id in attempted or row.decided_at >= since]
    per_item = Counter(row.queue_item_id for row in mine)
    check.decisions_stored = sum(1 for row in mine if row.queue_item_id in attempted)
    check.decisions_duplicated = sorted(item for item, n in per_item.items() if n > 1)
    check.decisions_unsent = sorted(row.id for row in mine if row.queue_item_id not in attempted)
    by_item = {row.queue_item_id: row for row in mine}
    for item_id, op in attempted.items():
        row = by_item.get(item_id)
        labels = (op.body or {}).get("risk_tier"), (op.body or {}).get("policy_areas"), (op.body or {}).get("action")
        if op.outcome in ("ok", "lost") and row is None:
            assert item_id is not None
            check.decisions_missing.append(item_id)
        elif row is not None and op.outcome in ("ok", "lost") and (
                (row.risk_tier, row.policy_areas, row.action) != labels
                or (op.outcome == "ok" and row.id != op.answer["id"])):
            check.decisions_mismatched.append(row.id)


# --- a server of its own ------------------------------------------------------------------------------------


# --- the command --------------------------------------------------------------------------------------------


def load_texts_file(path: Path) -> list[tuple[str, str | None]]:
    """JSON Lines of ``{"text": ..., "language": ...}`` (language optional); a bad line is a usage error."""
    texts: list[tuple[str, str | None]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
            raise ValueError(f"{path}:{number}: text: a non-empty string is required")
        language = record.get("language")
        if language is not None and not isinstance(language, str):
            raise ValueError(f"{path}:{number}: language: a string or null is required")
        texts.append((record["text"], language))
    if not texts:
        raise ValueError(f"{path}: no texts")
    return texts


def print_report(result: LoadResult, check: Verification | None, database_url: str | None) -> None:
    s = result.summary()
    cfg = result.config
    mix = cfg.mix
    print(f"load          {cfg.rate:g} arrivals/s for {cfg.duration:g} s (Poisson, seed {cfg.seed}), at most "
          f"{cfg.max_in_flight} in flight; mix {mix.score:.0%} score, {mix.batch:.0%} batch of "
          f"{mix.batch_min}-{mix.batch_max}, {mix.review:.0%} review; run id {result.run_id}")
    print("requests      " + ", ".join(f"{kind} {s['requests'].get(kind, 0)}" for kind in KINDS)
          + f"; {s['reports_sent']} reports sent")
    classes = s["attempts_by_class"]
    print(f"answers       {s['attempts']} attempts: 2xx {classes.get('2xx', 0)}, 4xx {classes.get('4xx', 0)}, "
          f"5xx {classes.get('5xx', 0)}, connection errors {classes.get('connection errors', 0)}; "
          f"{s['retried']} requests retried, {s['failed']} failed, {s['lost_answers_checked']} lost answers checked")
    print(f"rate          {s['arrival_rate']:.1f} arrivals/s over the {result.schedule_s:.1f} s schedule; "
          f"{s['answered_rate']:.1f} requests/s answered over {result.wall_s:.1f} s; "
          f"{s['waited_for_slot']} arrivals waited for a free slot")
    print(f"latency ms    {'kind':<8} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}   (arrival to answer)")
    for kind, lat in s["latency_ms"].items():
        n = sum(1 for op in result.ops if op.kind == kind and op.outcome in ("ok", "lost"))
        print(f"              {kind:<8} {n:>6} {lat['p50']:>8.1f} {lat['p95']:>8.1f} {lat['p99']:>8.1f} "
              f"{lat['max']:>8.1f}")
    for line in result.errors()[:10]:
        print(f"error         {line}")
    if check is None:
        print("database      not checked (--no-verify)")
        return
    from sqlalchemy.engine import make_url

    print(f"database      {make_url(database_url or '').render_as_string(hide_password=True)}")
    print(f"  reports     {check.reports_acknowledged} answered 2xx, {check.reports_stored} of this run stored; "
          f"missing {len(check.reports_missing)}, duplicated {len(check.reports_duplicated)}, never sent "
          f"{len(check.reports_unsent)}, differing from the answer {len(check.reports_mismatched)}, "
          f"half-written {len(check.incomplete)}; stored without a 2xx answer (answer lost) "
          f"{len(check.reports_unacknowledged_stored)}")
    print(f"  decisions   {check.decisions_acknowledged} answered 2xx, {check.decisions_stored} stored; missing "
          f"{len(check.decisions_missing)}, duplicated {len(check.decisions_duplicated)}, never sent "
          f"{len(check.decisions_unsent)}, differing {len(check.decisions_mismatched)}")
    for problem in check.problems():
        print(f"problem       {problem}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_argument_group("the server (default: start one, --serve)")
    target.add_argument("--url", help="A running server; needs --intake-key-file and --reviewer-key-file.")
    target.add_argument("--serve", action="store_true", help="Start `triage serve` here (the default without --url).")
    target.add_argument("--model-path", type=Path,
                        help="Artifact folder to serve [default: TRIAGE_MODEL_PATH, else var/models/demo].")
    target.add_argument("--intake-key-file", type=Path)
    target.add_argument("--reviewer-key-file", type=Path)
    target.add_argument("--database-url", help="The server's database, for the check (SQLAlchemy URL) "
                        "[default: with --url, TRIAGE_DATABASE_URL or var/triage.db; with --serve, a temporary "
                        "SQLite file].")
    target.add_argument("--keep", action="store_true", help="With --serve: keep the temporary folder.")
    load = parser.add_argument_group("the load")
    load.add_argument("--rate", type=float, default=50.0, help="Arrivals per second (Poisson).")
    load.add_argument("--duration", type=float, default=120.0, help="Seconds of arrivals.")
    load.add_argument("--seed", type=int, default=0)
    load.add_argument("--max-in-flight", type=int, default=64)
    load.add_argument("--score-share", type=float, default=0.7)
    load.add_argument("--batch-share", type=float, default=0.1, help="The rest is review traffic.")
    load.add_argument("--texts", type=Path, help='JSON Lines of {"text": ..., "language": ...}.')
    load.add_argument("--timeout", type=float, default=30.0, help="Seconds per request.")
    load.add_argument("--max-backoff", type=float, default=2.0)
    load.add_argument("--give-up-after", type=float, default=60.0)
    load.add_argument("--no-verify", action="store_true", help="Skip the database check.")
    load.add_argument("--json", type=Path, help="Also write the figures and the check as JSON here.")
    load.add_argument("--rss-every", type=float, default=5.0,
                      help="With --serve: sample the server's resident memory every this many seconds (a soak's "
                           "memory growth).")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        texts = load_texts_file(args.texts) if args.texts else TEXTS
        config = LoadConfig(rate=args.rate, duration=args.duration, seed=args.seed, max_in_flight=args.max_in_flight,
                            mix=Mix(score=args.score_share, batch=args.batch_share), timeout=args.timeout,
                            max_backoff=args.max_backoff, give_up_after=args.give_up_after, texts=texts)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    if args.url and args.serve:
        parser.error("--url and --serve: choose one")
    if args.url:
        for name in ("intake_key_file", "reviewer_key_file"):
            path = getattr(args, name)
            if path is None or not path.is_file():
                parser.error(f"--{name.replace('_', '-')}: give a file holding the key "
                             "(triage keys create --name NAME --role intake|reviewer)")
        from model.settings import get_settings

        database_url = args.database_url or get_settings().resolved_database_url
        result = asyncio.run(LoadGenerator(args.url, args.intake_key_file.read_text().strip(),
                                           args.reviewer_key_file.read_text().strip(), config).run())
        return _finish(result, None if args.no_verify else database_url, args.json)
    model_path = args.model_path or (Path(os.environ["TRIAGE_MODEL_PATH"]) if os.environ.get("TRIAGE_MODEL_PATH")
                                     else Path("var/models/demo"))
    if not (model_path / "artifact.json").is_file():
        parser.error(f"--model-path {model_path}: not a model artifact folder (no artifact.json); build one with "
                     "`make demo`, or give --url for a running server")
    folder = Path(tempfile.mkdtemp(prefix="triage-load-"))
    database_url = args.database_url or f"sqlite:///{folder / 'triage.db'}"
    server = ManagedServer(serve_env(folder / "var", model_path.resolve(), database_url), folder / "server.log")
    try:
        intake = server.create_key("load-intake", "intake")
        reviewer = server.create_key("load-reviewer", "reviewer")
        print(f"server        triage serve on {server.url}, model {model_path}, log {server.log_path}", flush=True)
        server.start()
        assert server.process is not None
        with RssSampler(server.process.pid, every=args.rss_every) as rss:
            result = asyncio.run(LoadGenerator(server.url, intake, reviewer, config).run())
        alive = server.alive()
    finally:
        server.stop()
    memory = rss.summary()
    if memory:
        print(f"server rss    {memory['first_mib']:.0f} MiB when the load began, then {memory['q1_mib']:.0f}, "
              f"{memory['q2_mib']:.0f}, {memory['q3_mib']:.0f} at each quarter, {memory['last_mib']:.0f} MiB at "
              f"its end ({memory['growth_mib']:+.0f} MiB), peak {memory['peak_mib']:.0f} MiB; "
              f"{memory['samples']:.0f} samples over {memory['seconds']:.0f} s")
    status = _finish(result, None if args.no_verify else database_url, args.json, {"server_rss": memory})
    if not alive:
        print(f"error         the server died during the load; see {server.log_path}")
        status = 1
    if args.keep or status:
        print(f"kept          {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return status


def _finish(result: LoadResult, database_url: str | None, json_path: Path | None,
            extra: dict[str, Any] | None = None) -> int:
    check = verify(result, database_url) if database_url else None
    print_report(result, check, database_url)
    errors = result.errors()
    ok = not errors and (check is None or check.ok)
    print(f"result        {'OK' if ok else 'FAILED'}" + ("" if ok else f": {len(errors)} requests with errors, "
                                                        f"{len(check.problems()) if check else 0} storage problems"))
    if json_path is not None:
        json_path.write_text(json.dumps({"summary": result.summary(), "errors": errors,
                                         "problems": check.problems() if check else None, **(extra or {})},
                                        indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
