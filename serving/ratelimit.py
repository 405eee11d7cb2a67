"""Per-key rate limits: one token bucket per API key, in this process.

Each key may send ``rate`` requests a second on average and up to ``burst`` at once: its bucket holds at most
``burst`` tokens, refills at ``rate`` tokens a second, and each request takes one. An empty bucket is a refusal
that says how long until the next token. Buckets are keyed by the key's public id (never the secret).

The limit is per process: with N workers or replicas a key may send N times as much. Idle buckets are dropped
once they would be full again, so memory stays bounded by the keys active in the last ``burst / rate`` seconds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    #: Seconds until a request would be allowed again (0 when allowed).
    retry_after: float

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, at least 1 (HTTP allows no fractions)."""
        return str(max(1, math.ceil(self.retry_after)))


ALLOWED = Admission(allowed=True, retry_after=0.0)


class RateLimiter:
    """Token buckets keyed by any string; thread-safe; ``clock`` (monotonic seconds) injectable for tests.

    ``rate`` <= 0 or ``burst`` <= 0 turns limiting off: every request is allowed."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 sweep_every: int = 1024) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()
        self._sweep_every = sweep_every
        self._since_sweep = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.burst > 0

    def describe(self) -> str:
        return f"{self.rate:g} requests per second, bursts of {self.burst}" if self.enabled else "off"

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
            return Admission(allowed=False, retry_after=(1.0 - tokens) / self.rate)

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
