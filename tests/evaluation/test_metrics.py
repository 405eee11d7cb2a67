"""Metric functions against values computed by hand."""

import numpy as np
import pytest

from evaluation.metrics import (
    area_f1,
    area_macro_f1,
    classification_report,
    expected_calibration_error,
    f1_binary,
    macro_f1,
    precision_recall,
)


def test_f1_precision_recall_by_hand() -> None:
    true = np.array([1, 1, 1, 0, 0], dtype=bool)
    pred = np.array([1, 1, 0, 1, 0], dtype=bool)
    # tp 2, fp 1, fn 1: precision 2/3, recall 2/3, F1 2*2 / (2*2 + 1 + 1) = 2/3
    assert precision_recall(true, pred) == pytest.approx((2 / 3, 2 / 3))
    assert f1_binary(true, pred) == pytest.approx(2 / 3)
    assert f1_binary(np.zeros(3, bool), np.zeros(3, bool)) == 0.0


def test_macro_f1_averages_present_classes() -> None:
    true = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp0 -> 0
    assert macro_f1(true, pred, 3) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    # a class absent from both truth and prediction does not count
    assert macro_f1(np.array([0, 1]), np.array([0, 1]), 3) == pytest.approx(1.0)


def test_area_f1_ignores_unknown_labels() -> None:
    true = np.array([[1, 0], [0, 0], [1, 1]], dtype=bool)
    pred = np.array([[1, 1], [1, 0], [0, 1]], dtype=bool)
    known = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    # area 0 over rows 0, 1: tp1 fp1 -> 2/3; area 1 over rows 1, 2: tp1 -> 1.0
    assert area_f1(true, pred, known) == pytest.approx([2 / 3, 1.0])
    assert area_macro_f1(true, pred, known) == pytest.approx((2 / 3 + 1.0) / 2)


def test_area_without_known_positives_is_left_out() -> None:
    true = np.array([[1, 0]], dtype=bool)
    assert area_f1(true, true, np.ones((1, 2), dtype=bool)) == [1.0, None]


def test_ece_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    true = np.array([0, 1, 0, 0])
    # bin (0.867, 0.933]: confidence 0.9, accuracy 0.5 -> gap 0.4, weight 0.5
    # bin (0.533, 0.6]: confidence 0.6, accuracy 1.0 -> gap 0.4, weight 0.5
    assert expected_calibration_error(probs, true) == pytest.approx(0.4)
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(perfect, np.array([0, 1])) == pytest.approx(0.0)


def test_classification_report_high_risk_and_language_slices() -> None:
    tier_probs = np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.2, 0.7, 0.1]] * 10)
    tier_true = np.array([2, 0, 0, 1] * 10)
    areas = np.zeros((40, 2), dtype=bool)
    report = classification_report(tier_probs, tier_true, np.zeros((40, 2)), areas, np.ones((40, 2), bool),
                                   np.array([0.5, 0.5]), ["low", "medium", "high"], ["a", "b"],
                                   languages=["en", "de"] * 20)
    assert report["high_risk_recall"] == pytest.approx(1.0)
    assert report["high_risk_precision"] == pytest.approx(0.5)
    assert set(report["per_language"]) == {"en", "de"}
    assert report["rows"] == 40
