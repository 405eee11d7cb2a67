"""What the benchmark scripts share: the texts they send, percentiles, peak memory, the open-loop client."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

FALLBACK_TEXTS = [
    "I know where you live and I am coming for you tonight",
    "Congratulations! You won a $500 gift card, click here to claim it now",
    "This recipe is amazing, thanks for sharing it with the group",
    "Ces gens-là ne devraient pas avoir le droit de vivre ici",
    "Ich finde den Artikel wirklich gut geschrieben, danke",
    "No puedo más, esta noche voy a terminar con todo",
    "यह वीडियो बहुत अच्छा है, धन्यवाद",
    "هذا الحساب ينشر أخبارا كاذبة عن الانتخابات",
]


def load_texts(corpus: Path, limit: int, seed: int) -> list[str]:
    """``limit`` report texts of the corpus test split, a seeded random sample (so their natural length
    distribution), or the built-in texts when no corpus is built."""
    if not corpus.is_file():
        print(f"# {corpus} not found: using {len(FALLBACK_TEXTS)} built-in texts", file=sys.stderr)
        return FALLBACK_TEXTS
    from model.corpus import read_corpus

    texts = [row["text"] for row in read_corpus(corpus, split="test", columns=["text"])]
    random.Random(seed).shuffle(texts)
    return texts[:limit]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def latency_ms(seconds: list[float]) -> dict[str, float]:
    """p50, p95, p99, max and mean of latencies given in seconds, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "p99": percentile(ms, 99), "max": max(ms),
            "mean": sum(ms) / len(ms)}


def _status_kib(pid: int | str, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise ValueError(f"/proc/{pid}/status has no {field_name}")


def peak_rss_mib(pid: int | str = "self") -> float:
    """The process's peak resident set size (VmHWM), in MiB. Linux only."""
    return _status_kib(pid, "VmHWM") / 1024


def descendants(pid: int) -> list[int]:
    """The process ids of ``pid``'s children, their children and so on (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *descendants(child)]
    return found


@dataclass
class OpenLoopResult:
    rate: float
    total: int
    warmup: int
    wall_s: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


async def open_loop(url: str, key: str, texts: list[str], rate: float, total: int, warmup: int) -> OpenLoopResult:
    """Single-report ``POST /v1/reports:score`` requests sent on a fixed schedule (``rate`` per second) whatever
    the answers' latency, so a slow server shows up as latency, not as a politely slower client. Every request
    has a fresh report_id, so each is scored and stored (no idempotent replays). ``warmup`` requests are sent
    one by one first and not counted."""
    headers = {"Authorization": f"Bearer {key}"}
    result = OpenLoopResult(rate=rate, total=total, warmup=warmup, wall_s=0.0)
    run_id = uuid.uuid4().hex[:8]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
        async def one(i: int, record: bool) -> None:
            body = {"report_id": f"bench-{run_id}-{i}", "text": texts[i % len(texts)]}
            started = time.perf_counter()
            response = await client.post("/v1/reports:score", json=body)
            elapsed = time.perf_counter() - started
            if record:
                result.latencies_s.append(elapsed)
                result.statuses[response.status_code] = result.statuses.get(response.status_code, 0) + 1

        for i in range(warmup):
            await one(-1 - i, record=False)
        started = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, record=True)))
        await asyncio.gather(*tasks)
        result.wall_s = time.perf_counter() - started
    return result


def rss_mib(pid: int | str = "self") -> float:
    """The process's resident set size now (VmRSS), in MiB. Linux only."""
    return _status_kib(pid, "VmRSS") / 1024


class RssSampler:
    """A process's resident set size sampled every ``every`` seconds in a thread, while in the ``with``: for
    a soak, whether memory grows. ``summary()``: the first sample, those at a quarter, half and three quarters of
    the run (a leak keeps climbing, a cache levels off), the last, the peak, and the growth."""

    def __init__(self, pid: int, every: float = 5.0) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSampler:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 5)
        self._take()

    def _take(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # the process is gone
            self.samples.append((time.monotonic() - self._started, rss_mib(self.pid)))

    def _sample(self) -> None:
        while True:
            self._take()
            if self._stop.wait(self.every):
                return

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        values = [mib for _, mib in self.samples]
        quarter = {f"q{q}_mib": values[min(len(values) - 1, len(values) * q // 4)] for q in (1, 2, 3)}
        return {"first_mib": values[0], **quarter, "last_mib": values[-1], "peak_mib": max(values),
                "growth_mib": values[-1] - values[0], "samples": float(len(values)),
                "seconds": self.samples[-1][0]}
