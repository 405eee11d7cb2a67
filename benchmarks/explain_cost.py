"""Time of one occlusion explanation (model.explain) over texts of different lengths, on CPU.

An explanation costs n + 1 forward passes for n visible words (at most ``max_words``), so its time grows
with the text up to the model's length limit and is flat beyond it. Each text is explained ``--repeats``
times after one warm-up, for each ``--batch-size`` given (1: every variant scored alone, the default of
``explain``; 32: batched, faster and noisier with an int8 model).

    python -m benchmarks.explain_cost --artifact var/models/demo
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from model.explain import explain, visible_end
from model.scorer import Scorer

TEXTS = {
    "short (6 words)": "I know where you live now",
    "medium (24 words)": (
        "Congratulations! You have been selected to receive a $500 gift card. Reply with your bank details "
        "and password within 24 hours to claim it"
    ),
    "long (120 words, truncated)": " ".join(
        ["This account keeps posting the same fake election story again and again, and people believe it."] * 8
    ),
    "zh (30 chars)": "我要举报这个账号,它一直在发布关于选举的虚假信息,请尽快处理",
    "ja (28 chars)": "今日は天気がいいですね。明日は東京タワーに行きましょう!",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, default=Path("var/models/demo"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-words", type=int, default=80)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: all)")
    args = parser.parse_args()

    scorer = Scorer(args.artifact, threads=args.threads)
    print(f"# artifact {args.artifact} (version {scorer.meta.version}, max_length {scorer.meta.max_length} tokens), "
          f"{scorer.session.get_session_options().intra_op_num_threads} threads, {args.repeats} repeats")
    for batch_size in args.batch_size:
        print(f"\nbatch_size={batch_size}")
        print(f"{'text':<30} {'units':>5} {'trunc':>5} {'p50 ms':>8} {'max ms':>8}")
        every: list[float] = []
        for name, text in TEXTS.items():
            result = explain(scorer, text, max_words=args.max_words, batch_size=batch_size)  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                explain(scorer, text, max_words=args.max_words, batch_size=batch_size)
                times.append((time.perf_counter() - start) * 1000)
            every.extend(times)
            cut, _ = visible_end(scorer, result.text)
            units = sum(1 for w in result.words if w.start < cut)  # occluded variants scored
            print(f"{name:<30} {units:>5} {result.truncated!s:>5} {statistics.median(times):>8.1f} "
                  f"{max(times):>8.1f}")
        print(f"{'all':<30} {'':>5} {'':>5} {statistics.median(every):>8.1f} {max(every):>8.1f}")


if __name__ == "__main__":
    main()
