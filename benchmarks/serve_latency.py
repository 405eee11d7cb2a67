"""Latency of single-report scoring requests against a running server, at a fixed arrival rate.

Open-loop: requests are sent on a schedule (``--rate`` per second) whatever the answers' latency, so a
slow server shows up as latency, not as a politely slower client. Texts are the corpus test split's
report texts (their natural length distribution), or a built-in set when no corpus is built. Every
request has a fresh report_id, so each is scored and stored (no idempotent replays).

    python -m benchmarks.serve_latency --url http://127.0.0.1:8000 --key-file var/demo-intake.key \
        --rate 20 --requests 600
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
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
    if not corpus.is_file():
        print(f"# {corpus} not found: using {len(FALLBACK_TEXTS)} built-in texts", file=sys.stderr)
        return FALLBACK_TEXTS
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(corpus, columns=["text", "split"])
    texts = table.filter(pc.equal(table["split"], "test"))["text"].to_pylist()
    import random

    random.Random(seed).shuffle(texts)
    return texts[:limit]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def run(url: str, key: str, texts: list[str], rate: float, total: int, warmup: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    run_id = uuid.uuid4().hex[:8]
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as client:
        async def one(i: int, record: bool) -> None:
            body = {"report_id": f"bench-{run_id}-{i}", "text": texts[i % len(texts)]}
            started = time.perf_counter()
            response = await client.post("/v1/reports:score", json=body)
            elapsed = time.perf_counter() - started
            if record:
                latencies.append(elapsed)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

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
        wall = time.perf_counter() - started

    ms = [x * 1000 for x in latencies]
    print(f"requests      {total} single-report POST /v1/reports:score at {rate:g}/s (open loop), "
          f"{warmup} warm-up requests not counted")
    print(f"texts         {len(texts)} distinct, mean {statistics.mean(len(t) for t in texts):.0f} characters")
    print(f"statuses      {dict(sorted(statuses.items()))}")
    print(f"throughput    {total / wall:.1f} requests/s over {wall:.1f} s")
    print(f"latency ms    p50 {percentile(ms, 50):.1f}   p95 {percentile(ms, 95):.1f}   "
          f"p99 {percentile(ms, 99):.1f}   max {max(ms):.1f}   mean {statistics.mean(ms):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key-file", type=Path, default=Path("var/demo-intake.key"),
                        help="File holding an intake API key (make serve writes var/demo-intake.key).")
    parser.add_argument("--rate", type=float, default=20.0, help="Requests per second.")
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--corpus", type=Path, default=Path("var/corpus/corpus.parquet"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.key_file.is_file():
        parser.error(f"--key-file {args.key_file}: not found (create a key: triage keys create --role intake ...)")
    texts = load_texts(args.corpus, max(args.requests, 1000), args.seed)
    asyncio.run(run(args.url, args.key_file.read_text().strip(), texts, args.rate, args.requests, args.warmup))


if __name__ == "__main__":
    main()
