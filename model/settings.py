"""Typed settings, read once from the environment (prefix ``TRIAGE_``) and a ``.env`` file.

Paths default to places beside the checkout so that a first run needs no configuration:
``../shared/datasets`` for the bundled datasets, ``./var`` for everything the project writes (ignored by
git). Tests build their own ``Settings`` instead of touching the environment.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where the routing policy shipped with the service lives; TRIAGE_ROUTING_POLICY points elsewhere.
DEFAULT_ROUTING_POLICY = Path(__file__).resolve().with_name("routing_policy.toml")


class Settings(BaseSettings):
    # hide_input_in_errors: a refused value is never echoed (a short secret, a database URL with its password).
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", env_file=".env", extra="ignore", hide_input_in_errors=True)

    datasets_dir: Path = Field(
        default=Path("../shared/datasets"),
        description="Folder holding the bundled third-party datasets, one sub-folder per source.",
    )
    work_dir: Path = Field(
        default=Path("var"),
        description="Where the project writes what it builds: corpus, models, tracking store, caches.",
    )
    data_cards_dir: Path = Field(
        default=Path("data_cards"),
        description="Where generated data and model cards are written.",
    )

    mlflow_tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking server URI; by default a SQLite store at $TRIAGE_WORK_DIR/mlflow.db.",
    )

    # --- Serving -------------------------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the service database (e.g. postgresql+psycopg://user@host/db); "
        "by default an embedded SQLite file at $TRIAGE_WORK_DIR/triage.db.",
    )
    database_migrate_on_start: bool = Field(
        default=True,
        description="Apply pending database migrations when the server starts (otherwise `triage db upgrade`).",
    )
    model_path: Path | None = Field(
        default=None,
        description="Serve the artifact folder at this path instead of a model from the MLflow registry.",
    )
    model_alias: str = Field(
        default="champion", pattern=r"^[A-Za-z0-9_-]+$",
        description="Registry alias of triage-classifier that the server loads.",
    )
    model_fallback_alias: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]+$",
        description="Alias to load when model_alias names no version (e.g. challenger before any promotion). "
        "Unset: no fallback.",
    )
    model_poll_seconds: float = Field(
        default=30, ge=0,
        description="How often a server serving from the registry checks which version the alias names, and "
        "loads a new one without a restart (the old one keeps serving if it fails to load). 0: never.",
    )
    routing_policy: Path = Field(
        default=DEFAULT_ROUTING_POLICY, description="The routing policy file (TOML, versioned)."
    )
    score_threads: int | None = Field(
        default=None, ge=1, le=256, description="onnxruntime intra-op threads; by default one per CPU core."
    )
    batch_max_wait_ms: float = Field(
        default=2.0, ge=0, le=100,
        description="Micro-batching: how long the server may hold a scoring request, at most, waiting for others "
        "to score in the same model call (requests that arrive while the model is busy are merged without "
        "waiting). 0: no batching, each request runs the model on its own.",
    )
    batch_max_size: int = Field(
        default=32, ge=1, le=1024,
        description="Micro-batching: the most reports in one model call; a larger request is scored in chunks "
        "of this size, other requests going in between.",
    )
    group_commit_max_reports: int = Field(
        default=64, ge=0, le=4096,
        description="Group commit: the new reports of concurrent scoring requests are stored in one transaction "
        "by one writer thread, up to this many reports a transaction (a request is answered once its "
        "transaction has committed). 0: each request stores in a transaction of its own.",
    )
    auth_cache_seconds: float = Field(
        default=5.0, ge=0, le=300,
        description="How long a process remembers an API key that authenticated, instead of reading the database "
        "on every request; a revoked key stops working within this time. 0: read the database every time.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="The least severe log records written (to stderr).")
    log_format: Literal["json", "text"] = Field(default="json", description="Structured JSON lines, or plain text.")
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Larger request bodies are refused with 413."
    )
    rate_limit_per_second: float = Field(
        default=100.0, ge=0,
        description="Per-key rate limit: the requests a second one API key may send on average, counted in each "
        "process with TRIAGE_RATE_LIMIT_STORE=memory (N workers or replicas let a key send N times as much), across "
        "all of them with database or redis; more get 429 with Retry-After. 0: off.",
    )
    rate_limit_burst: int = Field(
        default=200, ge=0,
        description="Per-key rate limit: the requests one API key may send at once, above the average rate "
        "(per process or shared, as the rate). 0: off.",
    )
    rate_limit_store: Literal["memory", "database", "redis"] = Field(
        default="memory", validate_default=True,
        description="Where the per-key rate limit buckets live. memory: in each process (N processes let a key "
        "send N times the limit). database: one row per key in the service's PostgreSQL database, shared by every "
        "process on it (not SQLite). redis: in the Redis server at TRIAGE_REDIS_URL, shared by every process using "
        "it. Running several processes: choose database or redis. A shared store that does not answer is not an "
        "outage: each process limits on its own until it answers again (triage_rate_limit_store_unavailable_total).",
    )
    redis_url: SecretStr | None = Field(
        default=None, validate_default=True,
        description="The Redis server of TRIAGE_RATE_LIMIT_STORE=redis: redis://[user:password@]host:6379/0, "
        "rediss:// for TLS, or unix:///path/to/redis.sock. Required with that store; never logged with its password.",
    )

    session_secret: SecretStr | None = Field(
        default=None, min_length=32,
        description="Signs the review console's session cookies (32+ random characters, e.g. from "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`). Unset: the console is off; there is "
        "no default.",
    )
    session_https_only: bool = Field(
        default=False, description="Send the console's session cookie over HTTPS only (set it behind TLS).",
    )
    session_max_age_hours: int = Field(default=10, ge=1, le=72, description="A console sign-in lasts this long.")

    # --- Webhooks (serving/webhooks/) ------------------------------------------------------------------
    webhook_url: AnyHttpUrl | None = Field(
        default=None,
        description="POST high-risk, SLA-breach and on-call paging events here (JSON, HMAC-signed, retried). "
        "Unset: no events are recorded and nothing is sent. Never logged (it may carry a token).",
    )
    webhook_secret: SecretStr | None = Field(
        default=None, min_length=32, validate_default=True,
        description="Signs every webhook (HMAC-SHA256, header Triage-Signature); the receiver holds the same "
        "secret. 32+ random characters; required when webhook_url is set; there is no default.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120,
        description="A delivery that has no answer within this time counts as failed and is retried.",
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50,
        description="Deliveries of one event before it is marked failed (kept, listed by GET "
        "/v1/webhooks/events?status=failed, requeued by an admin).",
    )
    webhook_retry_base_seconds: float = Field(
        default=30.0, gt=0, le=3600,
        description="Delay before the first retry; each later retry waits twice as long (at most an hour), with "
        "random jitter of up to half the delay.",
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often each server process looks for events due for delivery.",
    )
    webhook_sla_sweep_seconds: float = Field(
        default=15.0, gt=0, le=3600,
        description="How often each server process looks for queue items past their SLA deadline, recording one "
        "queue_item.sla_breached event per item, and for items of paging queues still unclaimed at their paging "
        "time, recording one queue_item.unclaimed event per item.",
    )
    webhook_include_text: bool = Field(
        default=False,
        description="Add the report text to each event. Off by default: report text is sensitive, and receivers "
        "can fetch the report with an API key from the event's link.",
    )
    on_call_rota_dir: Path | None = Field(
        default=None,
        description="Folder of on-call rotas: a TOML file per queue that pages, named after it "
        "(human_escalation.toml; the queues are on_call.queues of the routing policy, the format is in "
        "docs/on-call.md). An item of such a queue still unclaimed after on_call.unclaimed_share of its SLA records "
        "a queue_item.unclaimed webhook event naming the contact on call. Checked at start-up: an invalid file, a "
        "file for a queue the policy does not have, or a paging queue without a file stops the server. Unset: the "
        "events name no contact.",
    )

    # --- Retention (serving/retention.py) -------------------------------------------------------------
    retention_days: int | None = Field(
        default=None, gt=0, le=36_500,
        description="`triage retention apply` redacts the text (and reviewer notes) of reports received more than "
        "this many days ago whose review is closed; decisions, scores, routes, queue items and the audit log are "
        "kept. Unset: report text is kept forever (the command then needs --older-than).",
    )

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret_with_url(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None and info.data.get("webhook_url") is not None:
            raise ValueError("TRIAGE_WEBHOOK_SECRET is required when TRIAGE_WEBHOOK_URL is set: 32+ random characters "
                             "(e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
                             "shared with the receiver, which verifies each event's signature with it")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// SQLAlchemy URL")
        return value

    @field_validator("rate_limit_store")
    @classmethod
    def _shared_store_on_postgresql(cls, value: str, info: ValidationInfo) -> str:
        database_url = info.data.get("database_url")
        if value == "database" and not (database_url or "").startswith("postgresql"):
            raise ValueError("TRIAGE_RATE_LIMIT_STORE=database shares the rate limit through a PostgreSQL "
                             "TRIAGE_DATABASE_URL, and the database is SQLite (a file of one host): set a "
                             "postgresql:// TRIAGE_DATABASE_URL, or use redis (with TRIAGE_REDIS_URL), or memory "
                             "(a limit per process)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_for_redis_store(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if info.data.get("rate_limit_store") == "redis":
                raise ValueError("TRIAGE_REDIS_URL is required when TRIAGE_RATE_LIMIT_STORE=redis "
                                 "(e.g. redis://127.0.0.1:6379/0)")
            return value
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("TRIAGE_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.work_dir / 'triage.db').resolve()}"

    @property
    def resolved_mlflow_tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.work_dir / 'mlflow.db').resolve()}"

    @property
    def serving_cache_dir(self) -> Path:
        """Where the server keeps model artifacts downloaded from the registry, one folder per version."""
        return self.work_dir / "serving" / "models"

    @property
    def corpus_dir(self) -> Path:
        return self.work_dir / "corpus"

    @property
    def cache_dir(self) -> Path:
        return self.work_dir / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.work_dir / "runs"

    @property
    def models_dir(self) -> Path:
        return self.work_dir / "models"


@cache
def get_settings() -> Settings:
    return Settings()
