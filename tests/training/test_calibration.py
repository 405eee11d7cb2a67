import numpy as np
import pytest

from evaluation.metrics import expected_calibration_error
from model.scorer import decide_tiers, softmax
from training.calibration import (
    area_thresholds,
    fit_area_temperature,
    fit_tier_temperature,
    high_risk_threshold,
)


def test_temperature_scaling_recovers_an_overconfident_models_temperature() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 2.0
    labels = np.array([rng.choice(3, p=p) for p in softmax(true_logits)])
    overconfident = true_logits * 3.0  # what a model at temperature 3 would output
    t = fit_tier_temperature(overconfident.astype(np.float32), labels)
    assert t == pytest.approx(3.0, rel=0.1)
    before = expected_calibration_error(softmax(overconfident), labels)
    after = expected_calibration_error(softmax(overconfident / t), labels)
    assert after < before / 2


def test_area_temperature_ignores_unknown_labels() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3000, 2)).astype(np.float32) * 2
    targets = (rng.random((3000, 2)) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    known = np.ones_like(targets, dtype=bool)
    known[:, 1] = False
    garbage = targets.copy()
    garbage[:, 1] = 1 - garbage[:, 1]  # wrong, but unknown: must not matter
    assert fit_area_temperature(logits * 2, garbage, known) == pytest.approx(
        fit_area_temperature(logits * 2, targets, known), rel=1e-4)
    assert fit_area_temperature(logits * 2, targets, known) == pytest.approx(2.0, rel=0.15)


def test_area_thresholds_fall_back_without_enough_positives() -> None:
    probs = np.array([[0.9, 0.2]] * 30 + [[0.1, 0.1]] * 30, dtype=np.float32)
    targets = np.array([[1, 0]] * 30 + [[0, 0]] * 30, dtype=np.float32)
    thresholds = area_thresholds(probs, targets, np.ones_like(targets, dtype=bool), ["a", "b"])
    assert 0.1 < thresholds["a"] <= 0.9
    assert thresholds["b"] == 0.5


def test_high_risk_threshold_reaches_the_target_recall() -> None:
    rng = np.random.default_rng(2)
    probs = softmax(rng.normal(size=(2000, 3)).astype(np.float32))
    labels = rng.choice(3, size=2000)
    threshold = high_risk_threshold(probs, labels, 2, recall=0.9)
    decided = decide_tiers(probs, 2, threshold)
    recall = np.mean(decided[labels == 2] == 2)
    assert recall >= 0.9
    assert threshold <= 0.5


def test_high_risk_threshold_is_raised_until_few_low_rows_are_escalated() -> None:
    rng = np.random.default_rng(3)
    labels = rng.choice(3, size=2000)
    # P(high) overlaps between the tiers: low rows up to 0.45, high rows from 0.05.
    p_high = np.where(labels == 2, rng.uniform(0.05, 0.95, 2000), rng.uniform(0.0, 0.45, 2000))
    probs = np.stack([(1 - p_high) * 0.6, (1 - p_high) * 0.4, p_high], axis=1).astype(np.float32)
    recall_only = high_risk_threshold(probs, labels, 2, recall=0.9)
    budgeted = high_risk_threshold(probs, labels, 2, recall=0.9, max_low_escalated=0.05, low_index=0)
    escalated_low = np.mean(decide_tiers(probs, 2, budgeted)[labels == 0] == 2)
    assert recall_only < budgeted <= 0.5
    assert escalated_low <= 0.05
    # A budget the recall threshold already meets changes nothing.
    assert high_risk_threshold(probs, labels, 2, recall=0.9, max_low_escalated=0.99) == recall_only


def test_decide_tiers_prefers_high_at_the_threshold_and_argmax_otherwise() -> None:
    probs = np.array([[0.5, 0.2, 0.3], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]], dtype=np.float32)
    assert decide_tiers(probs, 2, 0.3).tolist() == [2, 2, 2]
    assert decide_tiers(probs, 2, 0.5).tolist() == [0, 1, 2]


def test_area_thresholds_favour_precision_over_recall() -> None:
    # 20 positives at 0.8, 20 at 0.6 and 15 negatives at 0.6: F1 takes the 0.6 rows (recall 1.0, precision
    # 0.73), F0.5 keeps to the 0.8 rows (precision 1.0, recall 0.5), so harmless text predicts no area.
    probs = np.array([[0.8]] * 20 + [[0.6]] * 20 + [[0.6]] * 15, dtype=np.float32)
    targets = np.array([[1.0]] * 40 + [[0.0]] * 15, dtype=np.float32)
    known = np.ones_like(targets, dtype=bool)
    assert area_thresholds(probs, targets, known, ["a"], beta=1.0)["a"] <= 0.6
    assert 0.6 < area_thresholds(probs, targets, known, ["a"])["a"] <= 0.8
