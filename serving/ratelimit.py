"""Per-key rate limits: one token bucket per API key, in this process or shared by all of them.

Each key may send ``rate`` requests a second on average and up to ``burst`` at once: its bucket holds at most
``burst`` tokens, refills at ``rate`` tokens a second, and each request takes one. An empty bucket is a refusal
that says how long until the next token. Buckets are keyed by the key's public id (never the secret).

Where the buckets live (``TRIAGE_RATE_LIMIT_STORE``):

- ``memory`` (``RateLimiter``): in this process. With N workers or replicas a key may send N times as much.
  Idle buckets are dropped once they would be full again, so memory stays bounded by the keys active in the
  last ``burst / rate`` seconds.
- ``database`` (``DatabaseLimiter``): one row per key in the service's PostgreSQL database
  (``rate_limit_buckets``), taken and refilled in ONE statement (``INSERT ... ON CONFLICT DO UPDATE ...
  RETURNING``) computed with the database's clock, so every process on the database shares one budget and
  the hosts' clocks do not matter. One round trip per request, on a connection of its own (autocommit, no
  ping), in a worker thread (the dependency runs on the event loop).
- ``redis`` (``RedisLimiter``): one hash per key in Redis, taken and refilled by one Lua script (``EVALSHA``)
  with the Redis server's clock; a bucket expires once it would be full again, so idle keys leave nothing.
  One round trip per request, asynchronous (no thread).

A shared store that fails (unreachable, timing out, refusing) never fails a request: the process decides that
request with a bucket of its own (the ``memory`` behaviour, so a key may then send N times its limit), logs a
warning (once, then once a minute while it lasts), counts ``triage_rate_limit_store_unavailable_total``, and
does not ask the store again for ``STORE_RETRY_SECONDS``, so an outage costs no time per request.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi.concurrency import run_in_threadpool

from model.registry import redact

if TYPE_CHECKING:
    from model.settings import Settings

log = logging.getLogger(__name__)

#: How long a request may wait for the shared store before it is decided in this process (seconds).
STORE_TIMEOUT_SECONDS = 0.5
#: After a failure, how long the shared store is left alone (requests decided in this process) before it is
#: asked again.
STORE_RETRY_SECONDS = 2.0
#: While the shared store keeps failing, the warning is repeated this often (seconds).
STORE_WARN_EVERY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    #: Seconds until a request would be allowed again (0 when allowed).
    retry_after: float

    @classmethod
    def refused(cls, tokens: float, rate: float) -> Admission:
        """A refusal by a bucket holding ``tokens`` (< 1) that refills at ``rate``: the wait for one token."""
        return cls(allowed=False, retry_after=(1.0 - tokens) / rate)

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, at least 1 (HTTP allows no fractions)."""
        return str(max(1, math.ceil(self.retry_after)))


ALLOWED = Admission(allowed=True, retry_after=0.0)


class Limiter:
    """What the API asks: ``await admit(key)``. ``rate`` <= 0 or ``burst`` <= 0 turns limiting off."""

    #: The ``TRIAGE_RATE_LIMIT_STORE`` value.
    store: ClassVar[str] = "memory"
    #: Who shares the limit, as the 429 message says it.
    scope: ClassVar[str] = "per server process"

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def describe(self) -> str:
        return f"{self.rate:g} requests per second, bursts of {self.burst}" if self.enabled else "off"

    def where(self) -> str:
        """The store, for the start-up log line (no password)."""
        return self.store

    async def admit(self, key: str) -> Admission:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections (at shutdown)."""


class RateLimiter(Limiter):
    """Token buckets in this process, keyed by any string; thread-safe; ``clock`` (monotonic seconds) injectable
    for tests."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 sweep_every: int = 1024) -> None:
        super().__init__(rate, burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()
        self._sweep_every = sweep_every
        self._since_sweep = 0

    async def admit(self, key: str) -> Admission:
        return self.acquire(key)

    def acquire(self, key: str) -> Admission:
        """Take one token from ``key``'s bucket if there is one."""
        if not self.enabled:
            return ALLOWED
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate)
            self._maybe_sweep(now)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return ALLOWED
            self._buckets[key] = (tokens, now)
            return Admission.refused(tokens, self.rate)

    def _maybe_sweep(self, now: float) -> None:
        """Every ``sweep_every`` calls, forget the buckets that have refilled (the same as no bucket)."""
        self._since_sweep += 1
        if self._since_sweep < self._sweep_every:
            return
        self._since_sweep = 0
        full_after = self.burst / self.rate
        self._buckets = {k: (tokens, at) for k, (tokens, at) in self._buckets.items() if now - at < full_after}

    def __len__(self) -> int:
        return len(self._buckets)


class SharedLimiter(Limiter):
    """A limiter whose buckets live in a store shared by every process; while the store fails, a bucket in
    this process decides (see the module's docstring). ``on_unavailable(store)`` is called for each request
    decided that way (the app counts it)."""

    scope: ClassVar[str] = "shared by all server processes"

    def __init__(self, rate: float, burst: int, *, on_unavailable: Callable[[str], None] | None = None,
                 retry_seconds: float = STORE_RETRY_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(rate, burst)
        self.fallback = RateLimiter(rate, burst, clock=clock)
        self._on_unavailable = on_unavailable
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = -math.inf  # the store is left alone until then
        self._failing = False
        self._warned_at = -math.inf

    @property
    def failing(self) -> bool:
        """Whether the last call to the store failed."""
        return self._failing

    def _store_resting(self) -> bool:
        return self._clock() < self._down_until

    def _unavailable(self, key: str, error: BaseException | None) -> Admission:
        """Decide ``key``'s request here: the store failed with ``error``, or (None) is being left alone."""
        if error is not None:
            now = self._clock()
            with self._lock:
                self._down_until = now + self._retry_seconds
                warn = not self._failing or now - self._warned_at >= STORE_WARN_EVERY_SECONDS
                self._failing = True
                if warn:
                    self._warned_at = now
            if warn:
                log.warning("rate limit store %s unavailable (%s): each process limits keys on its own until it "
                            "answers (asked again in %g s)", self.store, _error_text(error), self._retry_seconds)
        if self._on_unavailable is not None:
            self._on_unavailable(self.store)
        return self.fallback.acquire(key)

    def _answered(self) -> None:
        if self._failing:
            with self._lock:
                was_failing, self._failing = self._failing, False
            if was_failing:
                log.info("rate limit store %s answers again: the limit is shared again", self.store)


def _error_text(error: BaseException) -> str:
    """``Type: first line`` of ``error`` (of the driver's error for SQLAlchemy's), with any URL credentials
    masked."""
    cause = getattr(error, "orig", None) or error
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return redact(f"{type(cause).__name__}: {first}"[:300])


# --- PostgreSQL ---------------------------------------------------------------------------------------------

_DB_NOW = "statement_timestamp()"
#: The bucket refilled since its last request, from the row before this statement (``b``).
_DB_REFILLED = ("LEAST(CAST(:burst AS double precision), b.tokens + CAST(:rate AS double precision) * "
                "GREATEST(0, CAST(EXTRACT(EPOCH FROM ({now} - b.updated_at)) AS double precision)))")
_DB_TAKE = """
INSERT INTO rate_limit_buckets AS b (key, tokens, admitted, updated_at)
VALUES (:key, CAST(:burst AS double precision) - 1, true, {now})
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN {refilled} >= 1 THEN {refilled} - 1 ELSE {refilled} END,
    admitted = {refilled} >= 1,
    updated_at = {now}
RETURNING b.admitted, b.tokens
"""


def _take_statement(now: str) -> Any:
    from sqlalchemy import text

    return text(_DB_TAKE.format(now=now, refilled=_DB_REFILLED.format(now=now)))


class DatabaseLimiter(SharedLimiter):
    """Buckets in the ``rate_limit_buckets`` table of a PostgreSQL database (``url``)."""

    store: ClassVar[str] = "database"

    def __init__(self, url: str, rate: float, burst: int, *, pool_size: int = 2, max_overflow: int = 8,
                 **kwargs: Any) -> None:
        super().__init__(rate, burst, **kwargs)
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self._url = make_url(url)
        if self._url.get_backend_name() != "postgresql":
            raise ValueError("the database rate limit store needs PostgreSQL")
        # Autocommit, no ping on checkout, nothing sent when a connection goes back to the pool: the statement
        # is the only round trip. A connection the server dropped fails one request (decided here), and the
        # pool replaces it. At most 10 connections a process (a statement takes about 0.3 ms).
        self._engine = create_engine(
            url, isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_reset_on_return=None,
            pool_size=pool_size, max_overflow=max_overflow, pool_timeout=STORE_TIMEOUT_SECONDS,
            connect_args={"connect_timeout": max(2, math.ceil(STORE_TIMEOUT_SECONDS))})
        self._take = _take_statement(_DB_NOW)
        self._take_at = _take_statement("CAST(:now AS timestamptz)")

    def where(self) -> str:
        return f"database {self._url.render_as_string(hide_password=True)}"

    async def admit(self, key: str) -> Admission:
        if not self.enabled:
            return ALLOWED
        if self._store_resting():
            return self._unavailable(key, None)  # no thread, no connection attempt
        return await run_in_threadpool(self.acquire, key)

    def acquire(self, key: str, *, now: datetime | None = None) -> Admission:
        """Take one token from ``key``'s bucket (blocking: one statement). ``now`` (tests only) replaces the
        database's clock."""
        from sqlalchemy.exc import SQLAlchemyError

        if not self.enabled:
            return ALLOWED
        if self._store_resting():
            return self._unavailable(key, None)
        params: dict[str, Any] = {"key": key, "rate": float(self.rate), "burst": float(self.burst)}
        if now is not None:
            params["now"] = now
        try:
            with self._engine.connect() as conn:
                admitted, tokens = conn.execute(self._take if now is None else self._take_at, params).one()
        except SQLAlchemyError as error:
            return self._unavailable(key, error)
        self._answered()
        return ALLOWED if admitted else Admission.refused(float(tokens), self.rate)

    def close(self) -> None:
        self._engine.dispose()

    async def aclose(self) -> None:
        self.close()


# --- Redis --------------------------------------------------------------------------------------------------

#: KEYS[1]: the bucket (a hash: tokens, at). ARGV: rate (tokens a second), burst, and (tests only) now in
#: seconds instead of the server's clock. Returns {1 or 0 (admitted), the tokens left as a string} (a Lua number
#: would be truncated to an integer in the reply). The bucket expires when it would be full again: the same as
#: no bucket.
REDIS_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1])
local at = tonumber(bucket[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local admitted = 0
if tokens >= 1 then
  tokens = tokens - 1
  admitted = 1
end
local left = string.format('%.17g', tokens)
redis.call('HSET', KEYS[1], 'tokens', left, 'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.min(2147483647, math.ceil((burst - tokens) / rate * 1000) + 1000))
return {admitted, left}
"""

#: Prefix of the buckets' Redis keys (then the API key's public id).
REDIS_PREFIX = "triage:ratelimit:"


class RedisLimiter(SharedLimiter):
    """Buckets in Redis (``url``: redis://, rediss:// or unix://), keys ``prefix`` + the key id."""

    store: ClassVar[str] = "redis"

    def __init__(self, url: str, rate: float, burst: int, *, prefix: str = REDIS_PREFIX, **kwargs: Any) -> None:
        super().__init__(rate, burst, **kwargs)
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.prefix = prefix
        self._where = redact(url)
        # One retry, at once: a pooled connection that Redis closed (a restart) is replaced without failing the
        # request; a server that does not answer costs at most two timeouts, then the store is left alone.
        self._client = Redis.from_url(url, socket_timeout=STORE_TIMEOUT_SECONDS,
                                      socket_connect_timeout=STORE_TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 1))
        self._script = self._client.register_script(REDIS_TAKE)

    def where(self) -> str:
        return f"redis {self._where}"

    async def admit(self, key: str, *, now: float | None = None) -> Admission:
        """Take one token from ``key``'s bucket (one ``EVALSHA``). ``now`` (tests only, seconds) replaces the
        server's clock."""
        from redis.exceptions import RedisError

        if not self.enabled:
            return ALLOWED
        if self._store_resting():
            return self._unavailable(key, None)
        args = [repr(float(self.rate)), str(self.burst)] + ([repr(float(now))] if now is not None else [])
        try:
            admitted, tokens = await self._script(keys=[self.prefix + key], args=args)
        except (RedisError, OSError) as error:
            return self._unavailable(key, error)
        self._answered()
        return ALLOWED if int(admitted) else Admission.refused(float(tokens), self.rate)

    async def aclose(self) -> None:
        await self._client.aclose()


def build_limiter(settings: Settings, *, on_unavailable: Callable[[str], None] | None = None) -> Limiter:
    """The limiter ``settings`` ask for (a limit that is off needs no store: none is connected to)."""
    rate, burst = settings.rate_limit_per_second, settings.rate_limit_burst
    if rate <= 0 or burst <= 0 or settings.rate_limit_store == "memory":
        return RateLimiter(rate, burst)
    if settings.rate_limit_store == "database":
        return DatabaseLimiter(settings.resolved_database_url, rate, burst, on_unavailable=on_unavailable)
    if settings.redis_url is None:  # the settings refuse this; kept for a hand-built Settings
        raise ValueError("TRIAGE_REDIS_URL is required when TRIAGE_RATE_LIMIT_STORE=redis")
    return RedisLimiter(settings.redis_url.get_secret_value(), rate, burst, on_unavailable=on_unavailable)
