"""What scoring long texts in windows costs and changes, in one run: the same reports scored reading only
their first ``max_length`` tokens, and in up to ``--windows`` windows (``model.scorer.windows``).

    python -m benchmarks.windows --artifact var/models/demo --rows 2000

Prints the share of reports longer than the model's input, the time per report both ways (and their
ratio), and on the labelled rows (a sample of the test split and of every held-out source) the tier
macro-F1 and the harm AUROC both ways.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.cli import read_corpus_split
from evaluation.metrics import macro_f1
from evaluation.ood import auroc, sample_per_source
from model.scorer import Scorer, decide_tiers
from model.settings import get_settings


def _measure(scorer: Scorer, rows: Sequence[dict[str, Any]]) -> tuple[float, float, float | None]:
    """Seconds per report, tier macro-F1, harm AUROC (1 - P(low), harmful = medium or high)."""
    texts = [r["text"] for r in rows]
    started = time.perf_counter()
    tier_probs, _ = scorer.probabilities(texts)
    seconds = (time.perf_counter() - started) / len(texts)
    tiers = scorer.meta.tier_labels
    true = np.array([tiers.index(r["risk_tier"]) for r in rows])
    pred = decide_tiers(tier_probs, tiers.index("high"), scorer.meta.thresholds.high_risk)
    harm = auroc(1.0 - tier_probs[:, tiers.index("low")], true != tiers.index("low"))
    return seconds, macro_f1(true, pred, len(tiers)), harm


def main(argv: Sequence[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", type=Path, default=settings.models_dir / "demo")
    parser.add_argument("--corpus", type=Path, default=settings.corpus_dir / "corpus.parquet")
    parser.add_argument("--rows", type=int, default=2000, help="test rows (and at most this many per held-out source)")
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path, what in ((args.corpus, "--corpus"), (args.artifact / "artifact.json", "--artifact")):
        if not path.is_file():
            parser.error(f"{what} {path}: not found")
    test = read_corpus_split(args.corpus, "test")
    rng = np.random.default_rng(args.seed)
    test = [test[i] for i in sorted(rng.choice(len(test), size=min(args.rows, len(test)), replace=False))]
    ood = sample_per_source(read_corpus_split(args.corpus, "ood"), args.rows // 4, args.seed)
    one, many = Scorer(args.artifact, max_windows=1), Scorer(args.artifact, max_windows=args.windows)
    long_share = float(np.mean([len(ids) > one.meta.max_length for ids in many.encode([r["text"] for r in test])]))
    print(f"{args.artifact}: {len(test):,} test rows ({long_share:.1%} longer than {one.meta.max_length} tokens), "
          f"{len(ood):,} held-out rows")
    for name, rows in (("test", test), ("held-out", ood)):
        s1, f1_1, a1 = _measure(one, rows)
        sn, f1_n, an = _measure(many, rows)
        print(f"{name:<9} start only: {s1 * 1000:6.2f} ms/report, tier macro-F1 {f1_1:.3f}, harm AUROC {a1:.3f}")
        print(f"{name:<9} {args.windows} windows:  {sn * 1000:6.2f} ms/report, tier macro-F1 {f1_n:.3f}, "
              f"harm AUROC {an:.3f}   (time x{sn / s1:.2f})")


if __name__ == "__main__":
    main()
