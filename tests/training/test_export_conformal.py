"""The conformal high-risk thresholds written into the artifact at export (``training.export.fit_conformal``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluation.conformal import min_group_size
from model.scorer import Scorer, calibrate
from training.dataset import SplitArrays
from training.export import fit_conformal

HIGH = 2


def split(languages_and_tiers: list[tuple[str, int]]) -> SplitArrays:
    n = len(languages_and_tiers)
    return SplitArrays(texts=[f"report {i}: you will regret this, number {i * 7}" for i in range(n)],
                 languages=[lang for lang, _ in languages_and_tiers], sources=["synthetic"] * n,
                 tier=np.array([t for _, t in languages_and_tiers], dtype=np.int64),
                 areas=np.zeros((n, 13), dtype=np.float32), known=np.ones((n, 13), dtype=np.bool_),
                 weight=np.ones(n, dtype=np.float32))


def test_thresholds_come_from_the_high_risk_rows_per_language_with_a_pooled_fallback(tiny_artifact: Path) -> None:
    scorer = Scorer(tiny_artifact, threads=1)
    enough = min_group_size(0.02)  # 49
    rows = ([("en", HIGH)] * enough + [("de", HIGH)] * 10 + [("en", 0)] * 30 + [("fr", 1)] * 20)
    conformal = fit_conformal(scorer, split(rows), (1.0, 1.0), HIGH, alpha=0.02)

    assert conformal.alpha == 0.02
    assert set(conformal.high_risk) == {"*", "en", "de"}  # languages with no high-risk row are not listed
    assert conformal.pooled_languages == ["de"]  # 10 high-risk rows: too few for a threshold of its own
    assert conformal.high_risk["de"] == conformal.high_risk["*"]
    assert conformal.n_calibration_high == {"*": enough + 10, "en": enough, "de": enough + 10}
    assert conformal.threshold("fr") == conformal.high_risk["*"]

    # English: k = floor(0.02 * 50) = 1, the lowest P(high) of its high-risk rows.
    english = split(rows[:enough])
    tier_probs, _ = calibrate(*scorer.logits(english.texts), 1.0, 1.0)
    assert conformal.high_risk["en"] == float(np.sort(tier_probs[:, HIGH])[0])
