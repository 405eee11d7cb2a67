"""Split conformal prediction: thresholds computed by hand, and the guarantees checked on seeded synthetic data."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from evaluation.conformal import (
    POOLED,
    ConformalThreshold,
    coverage,
    evaluate_miss_rate,
    high_risk_threshold,
    lac_threshold,
    mean_set_size,
    min_group_size,
    mondrian_thresholds,
    needs_review,
    prediction_sets,
    threshold_for,
)

# Synthetic P(high): a high-risk report scores U ** (1/3) (CDF x^3, mostly near 1), any other report
# 1 - U ** (1/3) (mostly near 0). Calibration and test are drawn from the same distribution.


def _draw_scores(rng: np.random.Generator, n_high: int, n_other: int, power: float = 3.0,
                 scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    high = scale * rng.random(n_high) ** (1.0 / power)
    other = 1.0 - rng.random(n_other) ** (1.0 / 3.0)
    scores = np.concatenate([high, other])
    is_high = np.concatenate([np.ones(n_high, bool), np.zeros(n_other, bool)])
    order = rng.permutation(scores.size)
    return scores[order], is_high[order]


def _binomial_cdf(x: int, n: int, p: float) -> float:
    return sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(x + 1))


# --- the high-risk threshold -----------------------------------------------------------------------

def test_threshold_is_the_kth_smallest_high_risk_score_by_hand() -> None:
    high = [0.91, 0.35, 0.62, 0.80, 0.55, 0.97, 0.44, 0.73, 0.88]
    others = [0.01, 0.02, 0.30]  # below every high-risk score: they must not move the threshold
    scores = np.array(high + others)
    is_high = np.array([True] * 9 + [False] * 3)
    # n = 9, alpha 0.1: k = floor(0.1 * 10) = 1, the smallest high-risk score
    result = high_risk_threshold(scores, is_high, alpha=0.1)
    assert result == ConformalThreshold(threshold=0.35, alpha=0.1, n_calibration=9, k=1, degenerate=False)
    # alpha 0.25: k = floor(0.25 * 10) = 2, the second smallest
    assert high_risk_threshold(scores, is_high, alpha=0.25).threshold == 0.44
    # every high-risk calibration score at or above the threshold is caught; the one below is missed
    report = evaluate_miss_rate(scores, is_high, 0.44)
    assert report.miss_rate == pytest.approx(1 / 9)
    assert report.n_high == 9
    assert report.sent_to_humans_share == pytest.approx(8 / 12)


def test_too_few_high_risk_rows_sends_everything_to_a_human() -> None:
    scores = np.linspace(0.5, 0.99, 48)
    # n = 48 at alpha 0.02: k = floor(0.02 * 49) = 0, no score can serve
    result = high_risk_threshold(scores, np.ones(48, bool), alpha=0.02)
    assert result.degenerate and result.k == 0 and result.threshold == 0.0
    assert evaluate_miss_rate(np.array([0.0, 0.3, 0.9]), np.array([True, False, True]), result) == (
        evaluate_miss_rate(np.array([0.0, 0.3, 0.9]), np.array([True, False, True]), 0.0))
    assert evaluate_miss_rate(np.array([0.0, 0.3]), np.array([True, False]), result).sent_to_humans_share == 1.0
    # one more row makes k = 1
    assert not high_risk_threshold(np.linspace(0.5, 0.99, 49), np.ones(49, bool), alpha=0.02).degenerate
    assert high_risk_threshold(np.array([]), np.array([], bool)).degenerate


def test_min_group_size_is_the_fewest_rows_with_a_rank() -> None:
    assert min_group_size(0.02) == 49
    assert min_group_size(0.1) == 9
    assert min_group_size(0.3) == 3


def test_achieved_miss_rate_stays_within_alpha_on_average() -> None:
    rng = np.random.default_rng(20240611)
    alpha, n_cal, repetitions = 0.02, 200, 300
    misses = []
    for _ in range(repetitions):
        cal_scores, cal_high = _draw_scores(rng, n_cal, n_cal)
        fitted = high_risk_threshold(cal_scores, cal_high, alpha)
        assert fitted.k == 4  # floor(0.02 * 201)
        test_scores, test_high = _draw_scores(rng, 1000, 1000)
        misses.append(evaluate_miss_rate(test_scores, test_high, fitted).miss_rate)
    miss = np.array(misses)
    # E[miss] = k / (n + 1) = 4 / 201 = 0.0199; the mean of 300 runs has a standard error near 0.0006
    assert miss.mean() <= alpha + 0.003
    assert miss.mean() >= alpha / 2  # valid without being needlessly conservative
    # one fit's miss rate is Beta(4, 197): it exceeds alpha with probability P(Binomial(200, alpha) <= 3),
    # 0.43; the finite test set blurs that a little. Far more would mean the guarantee does not hold.
    expected = _binomial_cdf(3, n_cal, alpha)
    assert abs(float(np.mean(miss > alpha)) - expected) < 0.12
    assert np.quantile(miss, 0.95) < 3 * alpha


# --- Mondrian, per group ---------------------------------------------------------------------------

def test_group_with_too_little_data_uses_the_pooled_threshold() -> None:
    rng = np.random.default_rng(7)
    scores_en, high_en = _draw_scores(rng, 300, 300)
    scores_mt, high_mt = _draw_scores(rng, 20, 50)  # 20 < 49 high-risk rows at alpha 0.02
    scores = np.concatenate([scores_en, scores_mt])
    is_high = np.concatenate([high_en, high_mt])
    groups = ["en"] * 600 + ["mt"] * 70
    thresholds = mondrian_thresholds(scores, is_high, groups, alpha=0.02)
    assert set(thresholds) == {POOLED, "en", "mt"}
    assert thresholds["mt"].pooled and not thresholds["en"].pooled
    assert thresholds["mt"].threshold == thresholds[POOLED].threshold
    assert thresholds[POOLED].n_calibration == 320
    assert threshold_for(thresholds, "mt") == thresholds[POOLED].threshold
    assert threshold_for(thresholds, "sw") == thresholds[POOLED].threshold  # never seen in calibration
    assert threshold_for(thresholds, "en") == thresholds["en"].threshold
    # an explicit min_group lets the small group fit its own (here with k = floor(0.02 * 21) = 0)
    own = mondrian_thresholds(scores, is_high, groups, alpha=0.02, min_group=10)["mt"]
    assert not own.pooled and own.degenerate and own.threshold == 0.0


def test_groups_with_different_scores_get_their_own_thresholds_and_each_meets_its_bound() -> None:
    rng = np.random.default_rng(11)
    alpha, repetitions = 0.05, 150
    misses: dict[str, list[float]] = {"en": [], "fr": []}
    pooled_fr: list[float] = []
    for _ in range(repetitions):
        # the model is sure of high-risk English reports, far less of French ones
        en, en_high = _draw_scores(rng, 200, 200, power=4.0)
        fr, fr_high = _draw_scores(rng, 200, 200, power=1.5, scale=0.8)
        thresholds = mondrian_thresholds(np.concatenate([en, fr]), np.concatenate([en_high, fr_high]),
                                         ["en"] * 400 + ["fr"] * 400, alpha=alpha)
        assert thresholds["fr"].threshold < thresholds["en"].threshold
        assert thresholds["en"].k == thresholds["fr"].k == 10  # floor(0.05 * 201)
        en_test, en_test_high = _draw_scores(rng, 1000, 1000, power=4.0)
        fr_test, fr_test_high = _draw_scores(rng, 1000, 1000, power=1.5, scale=0.8)
        misses["en"].append(evaluate_miss_rate(en_test, en_test_high, threshold_for(thresholds, "en")).miss_rate)
        misses["fr"].append(evaluate_miss_rate(fr_test, fr_test_high, threshold_for(thresholds, "fr")).miss_rate)
        pooled_fr.append(evaluate_miss_rate(fr_test, fr_test_high, thresholds[POOLED]).miss_rate)
    for group, values in misses.items():
        assert np.mean(values) <= alpha + 0.005, group
    # one pooled threshold would hold only on the mix: the low-scoring group would miss more than alpha
    assert np.mean(pooled_fr) > alpha + 0.02


# --- prediction sets for the tier ------------------------------------------------------------------

def _draw_tiers(rng: np.random.Generator, n: int, strength: float) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 3, n)
    logits = rng.normal(0.0, 1.0, (n, 3))
    logits[np.arange(n), labels] += strength
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True), labels


def test_lac_threshold_by_hand() -> None:
    cal = np.array([[0.7, 0.2, 0.1]] * 9)
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 0, 2])  # scores 0.3 (x6), 0.8 (x2), 0.9
    # n = 9, alpha 0.1: m = ceil(10 * 0.9) = 9, the largest score; alpha 0.3: m = ceil(7) = 7 -> 0.8
    assert lac_threshold(cal, labels, 0.1) == pytest.approx(0.9)
    assert lac_threshold(cal, labels, 0.3) == pytest.approx(0.8)
    test = np.array([[0.7, 0.2, 0.1], [0.1, 0.25, 0.65], [0.05, 0.15, 0.8], [0.1, 0.1, 0.1]])
    sets = prediction_sets(test, cal, labels, 0.3)
    assert sets == [frozenset({0, 1}), frozenset({1, 2}), frozenset({2}), frozenset()]  # 1 - p <= 0.8
    assert needs_review(sets, include_empty=False).tolist() == [True, True, False, False]
    assert needs_review(sets).tolist() == [True, True, False, True], "the least sure rows go to people too"
    # too few rows for the level (m = ceil(5 * 0.9) = 5 > 4): every tier is in every set
    assert lac_threshold(cal[:4], labels[:4], 0.1) == np.inf
    assert prediction_sets(cal[:2], cal[:4], labels[:4], 0.1) == [frozenset({0, 1, 2})] * 2


def test_prediction_sets_reach_coverage_on_synthetic_data() -> None:
    rng = np.random.default_rng(3)
    alpha, covered = 0.1, []
    for _ in range(100):
        cal_probs, cal_labels = _draw_tiers(rng, 300, strength=1.5)
        test_probs, test_labels = _draw_tiers(rng, 2000, strength=1.5)
        sets = prediction_sets(test_probs, cal_probs, cal_labels, alpha)
        covered.append(coverage(sets, test_labels))
    # E[coverage] >= 1 - alpha (at most 1 - alpha + 1 / (n + 1) without ties)
    assert np.mean(covered) >= 1 - alpha - 0.006  # about 3 standard errors of the mean of 100 runs
    assert np.mean(covered) <= 1 - alpha + 1 / 301 + 0.005


def test_confident_model_gives_mostly_singletons() -> None:
    rng = np.random.default_rng(5)
    cal_probs, cal_labels = _draw_tiers(rng, 500, strength=6.0)
    test_probs, test_labels = _draw_tiers(rng, 2000, strength=6.0)
    sets = prediction_sets(test_probs, cal_probs, cal_labels, 0.05)
    assert coverage(sets, test_labels) >= 0.93
    sizes = np.array([len(s) for s in sets])
    assert np.mean(sizes == 1) >= 0.9
    assert mean_set_size(sets) < 1.1
    assert float(np.mean(needs_review(sets, include_empty=False))) < 0.1
    # at an alpha above its error rate, LAC spends the slack on empty sets for the least sure rows
    empty = sizes == 0
    assert 0 < np.mean(empty) <= 0.05
    assert needs_review(sets).tolist() == (needs_review(sets, include_empty=False) | empty).tolist()
    # an unsure model has to hedge far more often at the same alpha
    unsure_cal_probs, unsure_cal_labels = _draw_tiers(rng, 500, strength=1.0)
    unsure = prediction_sets(_draw_tiers(rng, 2000, strength=1.0)[0], unsure_cal_probs, unsure_cal_labels, 0.05)
    assert mean_set_size(unsure) > 2.0
    assert float(np.mean(needs_review(unsure))) > 0.5


def test_coverage_and_set_size_of_no_rows_are_zero() -> None:
    assert coverage([], []) == 0.0
    assert mean_set_size([]) == 0.0
    assert needs_review([]).tolist() == []


# --- invalid input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.0, 1.5, float("nan")])
def test_invalid_alpha_raises_naming_alpha(alpha: float) -> None:
    scores, is_high = np.array([0.5, 0.9]), np.array([True, True])
    probs, labels = np.array([[0.2, 0.3, 0.5]]), np.array([2])
    with pytest.raises(ValueError, match="alpha"):
        high_risk_threshold(scores, is_high, alpha)
    with pytest.raises(ValueError, match="alpha"):
        mondrian_thresholds(scores, is_high, ["en", "en"], alpha)
    with pytest.raises(ValueError, match="alpha"):
        prediction_sets(probs, probs, labels, alpha)
    with pytest.raises(ValueError, match="alpha"):
        min_group_size(alpha)


def test_mismatched_lengths_raise() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        high_risk_threshold(np.array([0.1, 0.2, 0.3]), np.array([True, False]))
    with pytest.raises(ValueError, match="lengths differ"):
        mondrian_thresholds(np.array([0.1, 0.2]), np.array([True, False]), ["en"])
    with pytest.raises(ValueError, match="lengths differ"):
        evaluate_miss_rate(np.array([0.1]), np.array([True, False]), 0.5)
    with pytest.raises(ValueError, match="lengths differ"):
        prediction_sets(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5], [0.1, 0.9]]), np.array([1]), 0.1)
    with pytest.raises(ValueError, match="lengths differ"):
        coverage([frozenset({0})], [0, 1])


def test_other_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="boolean mask"):
        high_risk_threshold(np.array([0.1, 0.2]), np.array([0, 2]))  # tier indices, not a mask
    with pytest.raises(ValueError, match="NaN"):
        high_risk_threshold(np.array([0.1, np.nan]), np.array([True, True]))
    with pytest.raises(ValueError, match="reserved"):
        mondrian_thresholds(np.array([0.1]), np.array([True]), [POOLED])
    with pytest.raises(ValueError, match="classes"):
        prediction_sets(np.array([[0.5, 0.5]]), np.array([[0.2, 0.3, 0.5]]), np.array([2]), 0.1)
    with pytest.raises(ValueError, match="class indices"):
        lac_threshold(np.array([[0.2, 0.3, 0.5]]), np.array([3]), 0.1)
