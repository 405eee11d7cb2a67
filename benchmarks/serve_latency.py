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
from pathlib import Path

from benchmarks.common import load_texts, open_loop, percentile


async def run(url: str, key: str, texts: list[str], rate: float, total: int, warmup: int) -> None:
    result = await open_loop(url, key, texts, rate, total, warmup)
    ms = [x * 1000 for x in result.latencies_s]
    print(f"requests      {total} single-report POST /v1/reports:score at {rate:g}/s (open loop), "
          f"{warmup} warm-up requests not counted")
    print(f"texts         {len(texts)} distinct, mean {statistics.mean(len(t) for t in texts):.0f} characters")
    print(f"statuses      {dict(sorted(result.statuses.items()))}")
    print(f"throughput    {total / result.wall_s:.1f} requests/s over {result.wall_s:.1f} s")
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
