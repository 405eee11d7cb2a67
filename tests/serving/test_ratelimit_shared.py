"""Rate limits shared by every server process (``TRIAGE_RATE_LIMIT_STORE``): the bucket arithmetic of each store
on a clock the test sets (``memory``; ``database`` on a real PostgreSQL; ``redis`` on a real Redis), takes racing
from several clients, a store that does not answer (each process then limits on its own: no request fails), the
settings, and the proof: two real ``triage serve`` processes, one key sending to both in turn, admit the limit
once with a shared store and about twice with ``memory``.

PostgreSQL tests skip without TRIAGE_TEST_POSTGRES_URL (fail with TRIAGE_REQUIRE_POSTGRES=1); Redis tests skip
where no Redis answers at TRIAGE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0), and fail instead in CI.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from model.settings import Settings
from serving.db.engine import make_engine, upgrade
from serving.model_loader import LoadedModel
from serving.ratelimit import Admission, DatabaseLimiter, RateLimiter, RedisLimiter, SharedLimiter
from tests.support.api import start_client
from tests.support.cli import triage
from tests.support.database import postgres_database
from tests.support.redis_server import require_redis
from tests.support.server import LiveServer, free_port, start_server

#: ``take(key, now)``: one request of ``key`` at ``now`` (seconds on the test's clock), or on the store's own
#: clock when ``now`` is None.
Take = Callable[[str, "float | None"], Admission]
STORES = ["memory", pytest.param("database", marks=pytest.mark.postgres), "redis"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
PASSWORD = "s3cret-pa55word"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head (its rate_limit_buckets table included)."""
    databases = cast("Generator[str, None, None]", postgres_database())  # closing it drops the database
    url = next(databases)
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    yield url
    databases.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test's own (its keys are deleted afterwards)."""
    url = require_redis()
    prefix = f"triage-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    import redis

    client = redis.Redis.from_url(url)
    try:
        stale = list(client.scan_iter(match=f"{prefix}*"))
        if stale:
            client.delete(*stale)
    finally:
        client.close()


class Clock:
    def __init__(self) -> None:
        self.now: float | None = None

    def __call__(self) -> float:
        return time.monotonic() if self.now is None else self.now


@pytest.fixture(params=STORES)
def bucket(request: pytest.FixtureRequest) -> Iterator[Callable[[float, int], Take]]:
    """``make(rate, burst)``: a limiter of the store under test, as a ``Take``."""
    store: str = request.param
    closers: list[Callable[[], None]] = []

    def make(rate: float, burst: int) -> Take:
        if store == "memory":
            clock = Clock()
            memory = RateLimiter(rate, burst, clock=clock)

            def take_memory(key: str, now: float | None) -> Admission:
                clock.now = now
                return memory.acquire(key)

            return take_memory
        if store == "database":
            database = DatabaseLimiter(request.getfixturevalue("postgres_url"), rate, burst)
            closers.append(database.close)
            return lambda key, now: database.acquire(key, now=None if now is None else EPOCH + timedelta(seconds=now))
        runner = asyncio.Runner()  # one event loop for the limiter's connections, kept for the test
        redis_limiter = RedisLimiter(require_redis(), rate, burst, prefix=request.getfixturevalue("redis_prefix"))

        def close_redis() -> None:
            runner.run(redis_limiter.aclose())
            runner.close()

        closers.append(close_redis)
        return lambda key, now: runner.run(redis_limiter.admit(key, now=now))

    yield make
    for close in closers:
        close()


# --- the arithmetic, on each store ------------------------------------------------------------------------------

def test_a_key_may_send_a_burst_then_waits_for_tokens_at_the_rate(bucket: Callable[[float, int], Take]) -> None:
    take = bucket(2, 3)
    assert [take("k", 1000.0).allowed for _ in range(4)] == [True, True, True, False]
    refused = take("k", 1000.0)
    assert not refused.allowed and refused.retry_after == pytest.approx(0.5)  # one token every 0.5 s
    assert take("k", 1000.25).retry_after == pytest.approx(0.25)  # half a token has come
    assert take("k", 1000.5).allowed
    assert not take("k", 1000.5).allowed
    # Idle: the bucket refills to the burst, never beyond.
    assert sum(take("k", 1010.0).allowed for _ in range(10)) == 3


def test_keys_have_separate_buckets(bucket: Callable[[float, int], Take]) -> None:
    take = bucket(1, 2)
    assert [take("a", 50.0).allowed for _ in range(3)] == [True, True, False]
    assert [take("b", 50.0).allowed for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(("rate", "wait", "header"), [(4, 0.25, "1"), (0.5, 2.0, "2"), (0.3, 3.33, "4")])
def test_retry_after_is_the_time_to_the_next_token(bucket: Callable[[float, int], Take], rate: float, wait: float,
                                                   header: str) -> None:
    take = bucket(rate, 1)
    assert take("k", 10.0).allowed
    refused = take("k", 10.0)
    assert refused.retry_after == pytest.approx(wait, abs=0.01)
    assert refused.retry_after_header == header


def test_the_bucket_refills_on_the_store_s_own_clock(bucket: Callable[[float, int], Take]) -> None:
    """No clock given: the store's (the database's, Redis's, this process's monotonic one)."""
    take = bucket(5, 2)  # a token every 0.2 s
    assert [take("k", None).allowed for _ in range(2)] == [True, True]
    refused = take("k", None)
    assert not refused.allowed and 0 < refused.retry_after <= 0.2
    time.sleep(0.5)  # 2.5 tokens' worth: the bucket is full (2) again
    assert [take("k", None).allowed for _ in range(3)] == [True, True, False]


# --- several clients on one store: one budget ------------------------------------------------------------------

@pytest.mark.postgres
def test_two_database_limiters_racing_never_take_more_than_the_burst(postgres_url: str) -> None:
    """Two limiters (two processes' worth), four threads each, all at one instant: the burst, exactly."""
    limiters = [DatabaseLimiter(postgres_url, 1, 50) for _ in range(2)]
    at = EPOCH + timedelta(seconds=5)
    gate = threading.Barrier(8)

    def hammer(limiter: DatabaseLimiter) -> int:
        gate.wait()
        return sum(limiter.acquire("k", now=at).allowed for _ in range(25))

    try:
        with ThreadPoolExecutor(8) as pool:
            admitted = sum(pool.map(hammer, [limiters[i % 2] for i in range(8)]))
    finally:
        for limiter in limiters:
            limiter.close()
    assert admitted == 50


def test_two_redis_limiters_racing_never_take_more_than_the_burst(redis_prefix: str) -> None:
    url = require_redis()

    async def race() -> int:
        limiters = [RedisLimiter(url, 1, 50, prefix=redis_prefix) for _ in range(2)]
        try:
            answers = await asyncio.gather(*(limiters[i % 2].admit("k", now=5.0) for i in range(200)))
        finally:
            for limiter in limiters:
                await limiter.aclose()
        return sum(answer.allowed for answer in answers)

    assert asyncio.run(race()) == 50


def test_a_redis_bucket_expires_when_it_would_be_full_again(redis_prefix: str) -> None:
    import redis

    url = require_redis()

    async def takes() -> None:
        limiter = RedisLimiter(url, 2, 3, prefix=redis_prefix)
        try:
            await limiter.admit("one", now=100.0)  # 2 tokens left: full again after 0.5 s
            for _ in range(4):
                await limiter.admit("empty", now=100.0)  # 0 left: full again after 1.5 s
        finally:
            await limiter.aclose()

    asyncio.run(takes())
    client = redis.Redis.from_url(url)
    try:
        # A second of margin above the exact time (so that a bucket never expires while it still matters).
        assert 1300 < int(client.pttl(f"{redis_prefix}one")) <= 1500
        assert 2300 < int(client.pttl(f"{redis_prefix}empty")) <= 2500
    finally:
        client.close()


# --- a shared store that does not answer ------------------------------------------------------------------------

@dataclass
class Unavailable:
    counted: list[str]

    def __call__(self, store: str) -> None:
        self.counted.append(store)


def _check_fallback(limiter: SharedLimiter, answers: list[Admission], seconds: float, counted: Unavailable,
                    caplog: pytest.LogCaptureFixture) -> None:
    assert [a.allowed for a in answers] == [True, True, False, False], "decided by this process's own bucket"
    assert 55 <= answers[2].retry_after <= 60
    assert seconds < 10, "the store is asked once, then left alone"
    assert counted.counted == [limiter.store] * 4
    assert limiter.failing
    warnings = [r for r in caplog.records if r.name == "serving.ratelimit" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning, not one per request"
    assert f"rate limit store {limiter.store} unavailable" in warnings[0].getMessage()
    assert PASSWORD not in caplog.text


def test_an_unreachable_database_store_is_replaced_by_a_bucket_in_this_process(
        caplog: pytest.LogCaptureFixture) -> None:
    counted = Unavailable([])
    url = f"postgresql+psycopg://triage:{PASSWORD}@127.0.0.1:{free_port()}/triage"
    limiter = DatabaseLimiter(url, 1 / 60, 2, on_unavailable=counted, retry_seconds=300)
    assert PASSWORD not in limiter.where()
    try:
        with caplog.at_level(logging.INFO, logger="serving.ratelimit"):
            started = time.monotonic()
            answers = [limiter.acquire("k") for _ in range(4)]
            _check_fallback(limiter, answers, time.monotonic() - started, counted, caplog)
    finally:
        limiter.close()


def test_an_unreachable_redis_store_is_replaced_by_a_bucket_in_this_process(caplog: pytest.LogCaptureFixture) -> None:
    counted = Unavailable([])
    url = f"redis://triage:{PASSWORD}@127.0.0.1:{free_port()}/0"

    async def admits() -> tuple[RedisLimiter, list[Admission], float]:
        limiter = RedisLimiter(url, 1 / 60, 2, on_unavailable=counted, retry_seconds=300)
        try:
            started = time.monotonic()
            answers = [await limiter.admit("k") for _ in range(4)]
            return limiter, answers, time.monotonic() - started
        finally:
            await limiter.aclose()

    with caplog.at_level(logging.INFO, logger="serving.ratelimit"):
        limiter, answers, seconds = asyncio.run(admits())
    assert PASSWORD not in limiter.where()
    _check_fallback(limiter, answers, seconds, counted, caplog)


def test_the_shared_store_is_asked_again_after_a_pause_and_takes_over_again(
        redis_prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    clock = Clock()
    clock.now = 0.0
    counted = Unavailable([])

    async def scenario() -> list[bool]:
        limiter = RedisLimiter(require_redis(), 1 / 60, 1, prefix=redis_prefix, on_unavailable=counted,
                               retry_seconds=2, clock=clock)
        script = limiter._script

        async def down(*args: Any, **kwargs: Any) -> Any:
            raise RedisConnectionError("Connection refused")

        try:
            limiter._script = down  # type: ignore[assignment]
            seen = [(await limiter.admit("k")).allowed]  # failed: this process's bucket admits (its only token)
            limiter._script = script  # Redis is back, but is left alone for 2 s
            seen.append((await limiter.admit("k")).allowed)  # this process's bucket: empty
            clock.now = 2.5
            seen.append((await limiter.admit("k")).allowed)  # Redis: a fresh bucket
            seen.append((await limiter.admit("k")).allowed)  # Redis: empty
            assert not limiter.failing
            return seen
        finally:
            await limiter.aclose()

    with caplog.at_level(logging.INFO, logger="serving.ratelimit"):
        assert asyncio.run(scenario()) == [True, False, True, False]
    assert counted.counted == ["redis", "redis"]
    assert "rate limit store redis answers again" in caplog.text


def test_the_api_keeps_answering_while_the_redis_store_is_down(settings: Settings, tiny_model: LoadedModel) -> None:
    down = settings.model_copy(update={"rate_limit_per_second": 1 / 60, "rate_limit_burst": 2,
                                       "rate_limit_store": "redis",
                                       "redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/0")})
    client, keys = start_client(down, tiny_model)
    try:
        assert [client.get("/v1/reports/r-1", headers=keys.intake).status_code for _ in range(3)] == [404, 404, 429]
        assert client.get("/ready").status_code == 200
        metrics = client.get("/metrics", headers=keys.admin).text
        assert 'triage_rate_limit_store_unavailable_total{store="redis"} 4.0' in metrics  # the admin's too
    finally:
        client.__exit__(None, None, None)


def test_a_redis_limited_key_is_told_the_limit_is_shared(settings: Settings, tiny_model: LoadedModel) -> None:
    shared = settings.model_copy(update={"rate_limit_per_second": 1 / 60, "rate_limit_burst": 2,
                                         "rate_limit_store": "redis", "redis_url": SecretStr(require_redis())})
    client, keys = start_client(shared, tiny_model)
    try:
        assert [client.get("/v1/reports/r-1", headers=keys.intake).status_code for _ in range(2)] == [404, 404]
        refused = client.get("/v1/reports/r-1", headers=keys.intake)
        assert refused.status_code == 429
        assert "bursts of 2 (shared by all server processes)" in refused.json()["message"]
        assert 55 <= int(refused.headers["Retry-After"]) <= 60
        assert "triage_rate_limit_store_unavailable_total{" not in client.get("/metrics", headers=keys.admin).text
    finally:
        client.__exit__(None, None, None)


# --- settings ---------------------------------------------------------------------------------------------------

def test_the_database_store_is_refused_on_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(work_dir=tmp_path, rate_limit_store="database")
    assert [e["loc"] for e in refused.value.errors()] == [("rate_limit_store",)]
    assert "PostgreSQL TRIAGE_DATABASE_URL" in str(refused.value)
    assert Settings(rate_limit_store="database", database_url="postgresql+psycopg://u@h/db").rate_limit_store == (
        "database")


def test_the_redis_store_needs_a_redis_url_and_never_shows_its_password() -> None:
    with pytest.raises(ValidationError, match="TRIAGE_REDIS_URL is required"):
        Settings(rate_limit_store="redis")
    with pytest.raises(ValidationError, match="redis://, rediss:// or unix://") as refused:
        Settings(rate_limit_store="redis", redis_url=f"http://u:{PASSWORD}@h")
    assert PASSWORD not in str(refused.value)
    settings = Settings(rate_limit_store="redis", redis_url=f"redis://u:{PASSWORD}@h:6379/0")
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
    assert Settings().rate_limit_store == "memory"


@pytest.mark.slow
def test_triage_serve_refuses_the_database_store_on_sqlite(env: dict[str, str]) -> None:
    result = triage("serve", "--port", str(free_port()), env={**env, "TRIAGE_RATE_LIMIT_STORE": "database"},
                    timeout=60)
    assert result.returncode == 2, result.stderr
    assert "TRIAGE_RATE_LIMIT_STORE" in result.stderr and "PostgreSQL TRIAGE_DATABASE_URL" in result.stderr


# --- the proof: two server processes, one key ---------------------------------------------------------------------

RATE, BURST = 5.0, 10
#: How long the key sends requests, alternately to each process, as fast as they answer.
WINDOW_SECONDS = 3.0


@dataclass
class Figures:
    store: str
    sent: int
    admitted: int
    elapsed: float
    per_server: dict[str, int]

    @property
    def limit(self) -> float:
        """What one bucket admits over the window: the burst, then the rate."""
        return BURST + RATE * self.elapsed


def _drive(servers: list[LiveServer], secret: str) -> tuple[int, int, float, dict[str, int]]:
    auth = {"Authorization": f"Bearer {secret}"}
    clients = [httpx.Client(base_url=server.base, timeout=30) for server in servers]
    admitted, sent = 0, 0
    per_server = {server.base: 0 for server in servers}
    try:
        started = time.monotonic()
        for client, server in itertools.cycle(zip(clients, servers, strict=True)):
            status = client.get("/v1/reports/no-such-report", headers=auth).status_code
            sent += 1
            assert status in (404, 429), status  # 404: admitted (there is no such report)
            if status == 404:
                admitted += 1
                per_server[server.base] += 1
            if time.monotonic() - started >= WINDOW_SECONDS:
                break
        elapsed = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
    return sent, admitted, elapsed, per_server


@pytest.fixture
def two_servers(tmp_path: Path, tiny_artifact: Path) -> Iterator[Callable[[str], Figures]]:
    """``run(store)``: two `triage serve` processes on one database with ``store``, one new intake key sending to
    both in turn for WINDOW_SECONDS; the figures."""
    stack: list[Callable[[], None]] = []

    def run(store: str) -> Figures:
        if store == "database":
            databases = cast("Generator[str, None, None]", postgres_database())
            database_url = next(databases)
            stack.append(databases.close)
        else:  # one SQLite file on this host, for the keys: the limit is not in it
            database_url = f"sqlite:///{tmp_path / 'triage.db'}"
        common = {**os.environ, "TRIAGE_DATABASE_URL": database_url, "TRIAGE_MODEL_PATH": str(tiny_artifact),
                  "TRIAGE_LOG_FORMAT": "json", "TRIAGE_WORK_DIR": str(tmp_path / "cli-var"),
                  "TRIAGE_RATE_LIMIT_PER_SECOND": str(RATE), "TRIAGE_RATE_LIMIT_BURST": str(BURST),
                  "TRIAGE_RATE_LIMIT_STORE": store}
        if store == "redis":
            common["TRIAGE_REDIS_URL"] = require_redis()
        servers = [start_server({**common, "TRIAGE_WORK_DIR": str(tmp_path / f"{name}-var")},
                                tmp_path / f"{name}.log") for name in ("a", "b")]
        stack.extend(partial(server.stop, strict=False) for server in servers)
        deadline = time.monotonic() + 120  # both load the model at once, on a loaded machine
        for server in servers:
            server.wait_ready(deadline=deadline)
        created = triage("keys", "create", "--name", f"shared-{store}", "--role", "intake", env=common)
        assert created.returncode == 0, created.stderr
        sent, admitted, elapsed, per_server = _drive(servers, created.stdout.strip())
        figures = Figures(store, sent, admitted, elapsed, {s.base.rsplit(":", 1)[1]: n for s, n in
                                                           zip(servers, per_server.values(), strict=True)})
        print(f"\n{store}: {figures.admitted} of {figures.sent} requests admitted in {figures.elapsed:.2f} s "
              f"(one bucket's limit {figures.limit:.1f}; per server {figures.per_server})")
        for server in servers:
            log = server.log_tail(200_000)
            assert "rate limit store" not in log, f"the {store} store failed:\n{log[-3000:]}"
        return figures

    yield run
    for close in reversed(stack):
        close()


@pytest.mark.slow
@pytest.mark.parametrize("store", [pytest.param("database", marks=pytest.mark.postgres), "redis"])
def test_two_processes_on_a_shared_store_admit_the_limit_once(two_servers: Callable[[str], Figures],
                                                               store: str) -> None:
    figures = two_servers(store)
    assert figures.sent > 4 * figures.limit, "the key sent well over its limit"
    # The bucket starts full at the first request and fills until the last: at most the limit (and a token's
    # fraction); at least the limit less the time of a request or two.
    assert figures.limit - 3 <= figures.admitted <= figures.limit + 1, figures
    assert all(n > 0 for n in figures.per_server.values()), figures


@pytest.mark.slow
def test_two_processes_with_memory_buckets_admit_the_limit_twice(two_servers: Callable[[str], Figures]) -> None:
    """Why a shared store is needed: each process has a bucket of its own, so the key gets both."""
    figures = two_servers("memory")
    assert figures.sent > 4 * figures.limit
    assert 2 * figures.limit - 6 <= figures.admitted <= 2 * figures.limit + 2, figures
