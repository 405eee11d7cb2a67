"""Per-key rate limits: the token bucket on a fake clock, and the API refusing one key (429, Retry-After) while
the others go on."""

from __future__ import annotations

import threading

import pytest

from model.settings import Settings
from serving.model_loader import LoadedModel
from serving.ratelimit import RateLimiter
from tests.support.api import start_client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_may_send_a_burst_then_waits_for_tokens_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.acquire("k").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.acquire("k")
    assert not refused.allowed and refused.retry_after == pytest.approx(0.5)  # one token every 0.5 s
    clock.now += 0.5
    assert limiter.acquire("k").allowed
    assert not limiter.acquire("k").allowed
    clock.now += 10  # idle: the bucket refills to the burst, never beyond
    assert sum(limiter.acquire("k").allowed for _ in range(10)) == 3


def test_keys_have_separate_buckets() -> None:
    limiter = RateLimiter(rate=1, burst=2, clock=Clock())
    assert [limiter.acquire("a").allowed for _ in range(3)] == [True, True, False]
    assert [limiter.acquire("b").allowed for _ in range(3)] == [True, True, False]


@pytest.mark.parametrize(("rate", "burst"), [(0, 200), (100, 0), (0, 0)])
def test_zero_turns_limiting_off(rate: float, burst: int) -> None:
    limiter = RateLimiter(rate=rate, burst=burst, clock=Clock())
    assert all(limiter.acquire("k").allowed for _ in range(10_000))
    assert limiter.describe() == "off" and len(limiter) == 0


@pytest.mark.parametrize(("rate", "wait", "header"), [(4, 0.25, "1"), (0.5, 2.0, "2"), (0.3, 3.33, "4")])
def test_retry_after_is_whole_seconds_and_at_least_one(rate: float, wait: float, header: str) -> None:
    limiter = RateLimiter(rate=rate, burst=1, clock=Clock())
    assert limiter.acquire("k").allowed
    refused = limiter.acquire("k")
    assert refused.retry_after == pytest.approx(wait, abs=0.01)
    assert refused.retry_after_header == header


def test_concurrent_requests_never_take_more_than_the_burst() -> None:
    limiter = RateLimiter(rate=1, burst=50, clock=Clock())  # the clock stands still: no refill
    allowed = []

    def hammer() -> None:
        allowed.append(sum(limiter.acquire("k").allowed for _ in range(100)))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50


def test_buckets_of_idle_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=20, clock=clock, sweep_every=1)
    for n in range(100):
        limiter.acquire(f"key-{n}")
    assert len(limiter) == 100
    clock.now += 2  # burst / rate: every bucket is full again, the same as no bucket
    limiter.acquire("active")
    assert len(limiter) == 1


def test_a_key_over_its_limit_gets_429_with_retry_after_while_other_keys_go_on(
        settings: Settings, tiny_model: LoadedModel) -> None:
    # About one request a minute, bursts of 3: the fourth request in a row is over the limit.
    limited = settings.model_copy(update={"rate_limit_per_second": 1 / 60, "rate_limit_burst": 3})
    client, keys = start_client(limited, tiny_model)
    try:
        for _ in range(3):
            assert client.get("/v1/reports/r-1", headers=keys.intake).status_code == 404
        refused = client.get("/v1/reports/r-1", headers=keys.intake)
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert "0.0166667 requests per second, bursts of 3" in refused.json()["message"]
        assert 55 <= int(refused.headers["Retry-After"]) <= 60
        # Also when the key asks for what its role may not do: the limit comes first.
        assert client.get("/v1/queues", headers=keys.intake).status_code == 429

        assert client.get("/v1/reports/r-1", headers=keys.reviewer).status_code == 404
        assert client.get("/v1/queues", headers=keys.reviewer).status_code == 200
        assert client.get("/v1/reports/r-1").status_code == 401  # no key: refused as ever, not limited

        metrics = client.get("/metrics", headers=keys.admin).text
        assert 'triage_rate_limited_total{role="intake"} 2.0' in metrics
        assert 'triage_rate_limited_total{role="reviewer"}' not in metrics
    finally:
        client.__exit__(None, None, None)


def test_the_default_limit_leaves_ordinary_traffic_alone(settings: Settings, tiny_model: LoadedModel) -> None:
    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (100, 200)
    client, keys = start_client(settings, tiny_model)
    try:
        assert all(client.get("/v1/reports/r-1", headers=keys.intake).status_code == 404 for _ in range(150))
    finally:
        client.__exit__(None, None, None)
