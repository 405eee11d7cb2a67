"""Webhooks: high-risk, SLA-breach and on-call paging events pushed to an intake system, signed, retried, never
lost.

A transactional outbox. An event is a row of ``webhook_events`` written in the same transaction as the change
it reports (``enqueue_for_route``, called by the scoring service as it stores a report), so the event exists
if and only if the report does; a crash or a receiver being down loses nothing. SLA breaches, and items of a
paging queue still unclaimed after a share of their SLA (``queue_item.unclaimed``, naming the contact on call
per the queue's rota, ``serving.oncall``), are found by sweeps (``sweep_sla_breaches``, ``sweep_unclaimed``)
that every server process runs every ``TRIAGE_WEBHOOK_SLA_SWEEP_SECONDS``; the unique (type, subject)
constraint records each once, however many processes sweep.

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

The modules: ``events`` (event types, statuses, the payload), ``signing`` (``sign``, ``signed_headers``,
``verify_signature``), ``outbox`` (recording, sweeping, claiming and settling events in the database) and
``delivery`` (``WebhookDispatcher``, posting over httpx with retries). This package re-exports their public
names: ``from serving import webhooks`` then ``webhooks.verify_signature(...)``.
"""

from serving.webhooks.delivery import LEASE_MARGIN, WebhookDispatcher, dispatcher_for
from serving.webhooks.events import (
    DELIVERED,
    EVENT_TYPES,
    FAILED,
    HIGH_RISK,
    PENDING,
    SLA_BREACHED,
    STATUSES,
    UNCLAIMED,
    event_payload,
    iso,
    new_event_id,
    report_link,
)
from serving.webhooks.outbox import (
    BATCH_SIZE,
    MAX_RETRY_DELAY_S,
    SWEEP_LIMIT,
    Claimed,
    Outcome,
    claim_due,
    enqueue_for_route,
    outbox_counts,
    record_outcome,
    release_claims,
    requeue,
    retry_delay,
    sla_elapsed,
    sweep_sla_breaches,
    sweep_unclaimed,
)
from serving.webhooks.signing import DEFAULT_TOLERANCE_S, USER_AGENT, sign, signed_headers, verify_signature

__all__ = [
    "BATCH_SIZE",
    "DEFAULT_TOLERANCE_S",
    "DELIVERED",
    "EVENT_TYPES",
    "FAILED",
    "HIGH_RISK",
    "LEASE_MARGIN",
    "MAX_RETRY_DELAY_S",
    "PENDING",
    "SLA_BREACHED",
    "STATUSES",
    "SWEEP_LIMIT",
    "UNCLAIMED",
    "USER_AGENT",
    "Claimed",
    "Outcome",
    "WebhookDispatcher",
    "claim_due",
    "dispatcher_for",
    "enqueue_for_route",
    "event_payload",
    "iso",
    "new_event_id",
    "outbox_counts",
    "record_outcome",
    "release_claims",
    "report_link",
    "requeue",
    "retry_delay",
    "sign",
    "signed_headers",
    "sla_elapsed",
    "sweep_sla_breaches",
    "sweep_unclaimed",
    "verify_signature",
]
