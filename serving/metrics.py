"""Prometheus metrics, one registry per app (so tests can build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Micro-batching waits are meant to be a few milliseconds: finer buckets at the bottom.
WAIT_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "triage_http_requests", "HTTP requests by method, route template and status.",
            ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram(
            "triage_http_request_duration_seconds", "HTTP request latency by method and route template.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rate_limited = Counter(
            "triage_rate_limited", "Requests refused with 429 by the per-key rate limit, by the key's role.",
            ["role"], registry=self.registry)
        self.rate_limit_store_unavailable = Counter(
            "triage_rate_limit_store_unavailable", "Requests whose rate limit this process decided on its own "
            "because the shared store (TRIAGE_RATE_LIMIT_STORE) failed to answer or was failing, by store.",
            ["store"], registry=self.registry)
        self.reports = Counter(
            "triage_reports_scored", "Reports scored and routed (first time only, not replays).",
            ["tier", "queue", "action"], registry=self.registry)
        self.grey_areas = Counter(
            "triage_grey_area_reasons", "Grey-area rules that fired.", ["rule"], registry=self.registry)
        self.replays = Counter(
            "triage_idempotent_replays", "Reports sent again and answered from the store.", registry=self.registry)
        self.languages = Counter(
            "triage_reports_by_language", "Reports scored, by the language routing used.", ["language"],
            registry=self.registry)
        self.scoring = Histogram(
            "triage_model_inference_seconds", "Model inference time per model call (tokenising included); "
            "with micro-batching one call scores the reports of several requests.",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram(
            "triage_model_batch_size", "Reports per model call (TRIAGE_BATCH_MAX_SIZE caps it when batching).",
            buckets=BATCH_SIZE_BUCKETS, registry=self.registry)
        self.batch_queue_wait = Histogram(
            "triage_model_batch_queue_wait_seconds", "Time a request (or one chunk of a large one) waited for "
            "the micro-batcher before its model call started: the collecting wait plus any call before it.",
            buckets=WAIT_BUCKETS, registry=self.registry)
        self.commit_group = Histogram(
            "triage_store_group_requests", "Requests whose new reports were stored in one transaction (group "
            "commit, TRIAGE_GROUP_COMMIT_MAX_REPORTS).", buckets=BATCH_SIZE_BUCKETS, registry=self.registry)
        self.model_info = Gauge(
            "triage_model_info", "The model being served (value 1).", ["name", "version", "source"],
            registry=self.registry)
        self.model_reload_failures = Counter(
            "triage_model_reload_failures", "Registry versions the server failed to load while polling "
            "(counted at every attempt; the previous model keeps serving).", registry=self.registry)
        self.perspective_calls = Counter(
            "triage_perspective_calls", "Perspective-compatible comments:analyze calls, by outcome: scored, or the "
            "error's Google status (invalid_argument, unauthenticated, ...). Nothing of them is stored.",
            ["outcome"], registry=self.registry)
        self.policy_info = Gauge(
            "triage_routing_policy_info", "The routing policy in force (value 1).", ["version"],
            registry=self.registry)
        self.appeals = Counter(
            "triage_appeals_filed", "Appeals filed (DSA Art. 20 complaints), by appellant: reporter or affected_user.",
            ["appellant"], registry=self.registry)
        self.appeal_outcomes = Counter(
            "triage_appeals_decided", "Appeals decided, by outcome: upheld or reversed.", ["outcome"],
            registry=self.registry)
        self.webhooks_enqueued = Counter(
            "triage_webhook_events_enqueued", "Webhook events recorded (committed) by this process, by type.",
            ["type"], registry=self.registry)
        self.webhooks_delivered = Counter(
            "triage_webhook_events_delivered", "Webhook events delivered (a 2xx answer), by type.", ["type"],
            registry=self.registry)
        self.webhooks_failed = Counter(
            "triage_webhook_events_failed", "Webhook events given up after TRIAGE_WEBHOOK_MAX_ATTEMPTS, by type.",
            ["type"], registry=self.registry)
        self.webhooks_retries = Counter(
            "triage_webhook_delivery_retries", "Failed webhook deliveries that will be retried, by type.", ["type"],
            registry=self.registry)
        self.webhooks_outbox = Gauge(
            "triage_webhook_events", "Webhook events in the outbox by status (pending, failed), read at every "
            "SLA sweep.", ["status"], registry=self.registry)
