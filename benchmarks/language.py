"""Language identification: the served detector (py3langid) against langdetect, on the corpus's test texts.

    python -m benchmarks.language [--corpus var/corpus/corpus.parquet] [--rows 1500] [--seed 1]

For each detector and confidence floor it prints the share of reports that get a language (the rest count as
undetected and go to specialist review), the accuracy of those against the corpus's language labels, the
confident mistakes (a report routed to the wrong language market), and the milliseconds per report. langdetect
is measured only where it is installed (`pip install langdetect`; the service no longer uses it).
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from pathlib import Path

from model.corpus import read_corpus
from model.text import normalize_text
from serving.language import Detection, LanguageDetector, detection_text

FLOORS = (0.5, 0.6, 0.7, 0.8, 0.9)


def langdetect_detector() -> Callable[[str], Detection] | None:
    try:
        from langdetect import DetectorFactory, detect_langs
        from langdetect.lang_detect_exception import LangDetectException
    except ImportError:
        return None
    DetectorFactory.seed = 0

    def detect(text: str) -> Detection:
        cleaned = detection_text(text)
        if cleaned is None:
            return Detection(None, 0.0)
        try:
            best = detect_langs(cleaned)[0]
        except LangDetectException:
            return Detection(None, 0.0)
        return Detection({"zh-cn": "zh", "zh-tw": "zh"}.get(best.lang, best.lang), float(best.prob))

    detect("warm up the profiles")
    return detect


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("var/corpus/corpus.parquet"))
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    rows = read_corpus(args.corpus, split="test", columns=["text", "language"])
    random.Random(args.seed).shuffle(rows)
    rows = rows[: args.rows]
    texts = [normalize_text(r["text"]) for r in rows]
    gold = [r["language"] for r in rows]

    served = LanguageDetector()
    served.load()
    detectors: dict[str, Callable[[str], Detection]] = {"py3langid (served)": served.detect}
    other = langdetect_detector()
    if other is not None:
        detectors["langdetect"] = other

    print(f"{len(texts)} test-split reports, seed {args.seed}")
    print(f"{'detector':<20} {'ms/report':>9} {'floor':>5} {'detected':>8} {'accuracy':>8} {'confident mistakes':>18}")
    for name, detect in detectors.items():
        started = time.perf_counter()
        found = [detect(t) for t in texts]
        ms = (time.perf_counter() - started) / len(texts) * 1000
        for floor in FLOORS:
            kept = [(g, d.language) for g, d in zip(gold, found, strict=True) if d.confidence >= floor]
            right = sum(g == p for g, p in kept)
            print(f"{name:<20} {ms:>9.2f} {floor:>5.2f} {len(kept) / len(texts):>8.1%} "
                  f"{right / max(1, len(kept)):>8.1%} {len(kept) - right:>18}")


if __name__ == "__main__":
    main()
