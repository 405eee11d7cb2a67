"""The out-of-distribution figures: AUROC, and per held-out source where routing sends its rows."""

from itertools import product

import numpy as np
import pytest

from evaluation.ood import auroc, format_table, ood_report, sample_per_source

TIERS = ["low", "medium", "high"]


def pairwise_auroc(scores: list[float], positive: list[bool]) -> float:
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    neg = [s for s, p in zip(scores, positive, strict=True) if not p]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_is_the_share_of_positive_negative_pairs_ranked_right(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, size=40).astype(float)  # many ties
    positive = rng.random(40) < 0.4
    assert auroc(scores, positive) == pytest.approx(pairwise_auroc(scores.tolist(), positive.tolist()))


def test_auroc_extremes_and_one_class() -> None:
    assert auroc(np.array([0.9, 0.8, 0.1]), np.array([True, True, False])) == 1.0
    assert auroc(np.array([0.1, 0.2, 0.9]), np.array([True, True, False])) == 0.0
    assert auroc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5
    assert auroc(np.array([0.1, 0.2]), np.array([True, True])) is None


def probs(p_low: float, p_high: float) -> list[float]:
    return [p_low, 1.0 - p_low - p_high, p_high]


def test_report_per_source_with_routing() -> None:
    rows = [
        {"source": "a", "language": "en", "risk_tier": "low"},
        {"source": "a", "language": "en", "risk_tier": "low"},
        {"source": "a", "language": "fr", "risk_tier": "high"},
        {"source": "a", "language": "en", "risk_tier": "medium"},
        {"source": "b", "language": "es", "risk_tier": "high"},
        {"source": "b", "language": "es", "risk_tier": "high"},
    ]
    tier_probs = np.array([probs(0.9, 0.05), probs(0.3, 0.6), probs(0.1, 0.8), probs(0.4, 0.1),
                           probs(0.2, 0.7), probs(0.8, 0.1)])
    pred = np.array([0, 2, 2, 1, 2, 0])
    actions = ["auto_close", "escalate", "escalate", "auto_route", "review", "auto_close"]
    report = ood_report(rows, tier_probs, TIERS, pred, actions)
    a, b = report.sources
    assert (a.source, a.n, a.n_harmful, a.n_high, a.languages) == ("a", 4, 2, 1, ["en", "fr"])
    # harm = 1 - P(low): harmful 0.9 and 0.6 against benign 0.1 and 0.7 -> 3 of 4 pairs right.
    assert a.harm_auroc == pytest.approx(0.75)
    assert (a.benign_auto_closed, a.benign_escalated, a.benign_to_people) == (0.5, 0.5, 0.5)
    assert (a.high_to_people, a.high_recall_tier, a.benign_high_tier) == (1.0, 1.0, 0.5)
    assert a.actions == {"auto_close": 0.25, "auto_route": 0.25, "escalate": 0.5}
    assert b.harm_auroc is None  # no benign row: undefined, not 0 or 1
    assert (b.high_to_people, b.harmful_actioned, b.benign_escalated) == (0.5, 0.5, None)
    assert report.mean_harm_auroc == report.min_harm_auroc == pytest.approx(0.75)
    assert report.pooled_high_to_people == pytest.approx(2 / 3)
    assert report.pooled_benign_escalated == pytest.approx(0.5)
    assert report.flat()["ood.a.harm_auroc"] == pytest.approx(0.75)
    table = format_table(report)
    assert "| a | en, fr | 4 | 2 | 1 | 0.750 |" in table and "mean harm AUROC 0.750" in table


def test_report_without_routing_has_rankings_only() -> None:
    rows = [{"source": "a", "language": "en", "risk_tier": t} for t in ("low", "high")]
    report = ood_report(rows, np.array([probs(0.9, 0.05), probs(0.1, 0.8)]), TIERS, np.array([0, 2]))
    (a,) = report.sources
    assert (a.harm_auroc, a.high_auroc, a.high_recall_tier) == (1.0, 1.0, 1.0)
    assert (a.benign_auto_closed, a.actions, report.pooled_benign_escalated) == (None, {}, None)


def test_sample_per_source_caps_each_source_and_keeps_order() -> None:
    rows = [{"source": s, "i": i} for i, s in enumerate("aaaaabbc")]
    sample = sample_per_source(rows, 2, seed=0)
    assert [r["source"] for r in sample].count("a") == 2
    assert [r["i"] for r in sample] == sorted(r["i"] for r in sample)
    assert {r["i"] for r in sample} >= {5, 6, 7}
    assert sample_per_source(rows, None, seed=0) == rows
