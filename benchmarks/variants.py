"""Exports of one training run side by side: each speed-up beside what it costs in quality.

    python -m benchmarks.variants var/models/base var/models/fused var/models/demo --rows 512

Each argument is an artifact folder (``triage export --artifact-name NAME`` with other ``--quantize`` /
``--vocabulary`` choices); the first is the baseline the others are compared with. For each it prints:

- **reports/s** of the int8 scorer (``Scorer(artifact).probabilities(texts, batch_size)``) on ``--rows``
  test-split texts. The scorers are loaded in one process and timed in turns, ``--rounds`` rounds, best
  round kept, so a busy moment of the machine hits every variant alike; the ratio to the baseline is the
  figure to quote, not the absolute rate.
- **peak RSS** of a fresh process that loads the variant and scores the texts (its own imports and model).
- **size** of ``model.onnx`` and the vocabulary kept, how the graph was made (``optimisation``).
- **quality**, read from each artifact's own export evaluation, so every variant is judged on the same
  rows: in-distribution tier and area macro-F1 of the int8 model on the test sample, and the held-out
  sources' harm AUROC (mean, min, per source; ``evaluation.ood``), with the difference to the baseline.
- **agreement**: how often the variant's top tier equals the baseline's on the timed texts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import load_texts, peak_rss_mib


def rss_of(artifact: str, texts: list[str], batch_size: int) -> float:
    """Peak RSS (MiB) of this process after loading ``artifact`` and scoring ``texts``: run in a fresh one."""
    from model.scorer import Scorer

    Scorer(Path(artifact)).probabilities(texts, batch_size=batch_size)
    return peak_rss_mib()


def fresh_process_rss(artifact: Path, texts: list[str], batch_size: int) -> float:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(rss_of, str(artifact), texts, batch_size).result()


def timed_in_turns(artifacts: list[Path], texts: list[str], batch_size: int, rounds: int,
                   threads: int | None) -> tuple[list[float], list[np.ndarray]]:
    """Best reports/s of each artifact's int8 scorer over ``rounds`` rounds taken in turns; its tier probabilities."""
    from model.scorer import Scorer

    scorers = [Scorer(a, threads=threads) for a in artifacts]
    probs = [s.probabilities(texts, batch_size=batch_size)[0] for s in scorers]  # also the warm-up
    best = [0.0] * len(scorers)
    for _ in range(rounds):
        for i, scorer in enumerate(scorers):
            started = time.perf_counter()
            scorer.probabilities(texts, batch_size=batch_size)
            best[i] = max(best[i], len(texts) / (time.perf_counter() - started))
    return best, probs


def quality(meta: Any) -> dict[str, Any]:
    """The figures of the artifact's own export evaluation that judge a speed-up."""
    metrics = meta.metrics
    ood = metrics.get("ood") or {}
    return {
        "tier_f1": metrics.get("test", {}).get("tier_macro_f1"),
        "area_f1": metrics.get("test", {}).get("area_macro_f1"),
        "ood_mean": ood.get("mean_harm_auroc"),
        "ood_min": ood.get("min_harm_auroc"),
        "ood_sources": {s["source"]: s["harm_auroc"] for s in ood.get("sources", [])},
    }


def _fmt(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _delta(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("artifacts", nargs="+", type=Path, help="Artifact folders; the first is the baseline.")
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, help="Intra-op threads [default: one per CPU].")
    parser.add_argument("--corpus", type=Path, default=Path("var/corpus/corpus.parquet"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from model.artifact import ArtifactMeta

    for folder in args.artifacts:
        if not (folder / "artifact.json").is_file():
            parser.error(f"{folder}: not an artifact folder (no artifact.json)")
    metas = [ArtifactMeta.load(folder) for folder in args.artifacts]
    texts = load_texts(args.corpus, args.rows, args.seed)
    rates, probs = timed_in_turns(args.artifacts, texts, args.batch_size, args.rounds, args.threads)
    rss = [fresh_process_rss(folder, texts, args.batch_size) for folder in args.artifacts]

    print(f"# {len(texts)} test-split texts, batch {args.batch_size}, best of {args.rounds} rounds in turns; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end")
    header = (f"{'artifact':<22} {'attention':>9} {'int8':>9} {'vocab':>7} {'MiB':>6} {'RSS MiB':>8} "
              f"{'reports/s':>9} {'x base':>6} {'agree':>6} {'tier F1':>14} {'area F1':>14} {'OOD AUROC':>14} "
              f"{'OOD min':>6}")
    print(header)
    print("-" * len(header))
    qualities = [quality(meta) for meta in metas]
    base = qualities[0]
    for folder, meta, q, rate, p, r in zip(args.artifacts, metas, qualities, rates, probs, rss, strict=True):
        opt = meta.optimisation
        agree = float(np.mean(p.argmax(axis=1) == probs[0].argmax(axis=1)))
        size = (folder / meta.files.model).stat().st_size / 2**20

        def pair(key: str, q: dict[str, Any] = q) -> str:
            return f"{_fmt(q[key])} ({_fmt(_delta(q[key], base[key]), signed=True)})"

        print(f"{folder.name:<22} {opt.attention if opt else 'unfused':>9} {opt.quantized if opt else 'attention':>9} "
              f"{opt.vocabulary_size if opt else 250002:>7} {size:>6.1f} {r:>8.0f} {rate:>9.1f} "
              f"{rate / rates[0]:>5.2f}x {agree:>6.1%} {pair('tier_f1'):>14} {pair('area_f1'):>14} "
              f"{pair('ood_mean'):>14} {_fmt(q['ood_min']):>6}")
    print()
    print("held-out sources, harm AUROC (difference to the baseline):")
    for source, value in base["ood_sources"].items():
        cells = [f"{_fmt(q['ood_sources'].get(source))} "
                 f"({_fmt(_delta(q['ood_sources'].get(source), value), signed=True)})" for q in qualities[1:]]
        print(f"  {source:<28} {_fmt(value)}  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
