"""Metric functions: small, pure, numpy only (no torch), so training, export and evaluation share them.

Conventions: ``tier_probs`` is (n, 3) in taxonomy tier order; ``tier_true`` holds class indices;
``area_probs`` and ``area_true`` are (n, areas); ``area_known`` is a boolean mask of the labels the source
gave (unknown labels are left out of every area metric).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.floating[Any]]
Ints = npt.NDArray[np.integer[Any]]
Bools = npt.NDArray[np.bool_]


def f1_binary(true: Bools, pred: Bools) -> float:
    tp = float(np.sum(true & pred))
    fp = float(np.sum(~true & pred))
    fn = float(np.sum(true & ~pred))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def fbeta_binary(true: Bools, pred: Bools, beta: float) -> float:
    """F-beta: beta < 1 weighs precision more (0.5: precision counts twice as much as recall)."""
    tp = float(np.sum(true & pred))
    fp = float(np.sum(~true & pred))
    fn = float(np.sum(true & ~pred))
    b2 = beta * beta
    return 0.0 if tp == 0 else (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp)


def precision_recall(true: Bools, pred: Bools) -> tuple[float, float]:
    tp = float(np.sum(true & pred))
    predicted, actual = float(np.sum(pred)), float(np.sum(true))
    return (tp / predicted if predicted else 0.0), (tp / actual if actual else 0.0)


def macro_f1(true: Ints, pred: Ints, n_classes: int) -> float:
    """Mean F1 over the classes present in ``true`` or ``pred``."""
    present = [c for c in range(n_classes) if np.any(true == c) or np.any(pred == c)]
    if not present:
        return 0.0
    return float(np.mean([f1_binary(true == c, pred == c) for c in present]))


def area_f1(area_true: Bools, area_pred: Bools, area_known: Bools) -> list[float | None]:
    """F1 per area over the rows where that area's label is known; None where no known row is positive."""
    scores: list[float | None] = []
    for j in range(area_true.shape[1]):
        known = area_known[:, j]
        if not np.any(area_true[known, j]):
            scores.append(None)
            continue
        scores.append(f1_binary(area_true[known, j], area_pred[known, j]))
    return scores


def area_macro_f1(area_true: Bools, area_pred: Bools, area_known: Bools) -> float:
    scores = [s for s in area_f1(area_true, area_pred, area_known) if s is not None]
    return float(np.mean(scores)) if scores else 0.0


def expected_calibration_error(probs: Floats, true: Ints, bins: int = 15) -> float:
    """ECE of the top-class confidence: the mean |accuracy - confidence| over equal-width bins, weighted
    by the share of rows in each bin."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == true
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for low, high in pairwise(edges):
        in_bin = (confidence > low) & (confidence <= high)
        if np.any(in_bin):
            ece += float(np.mean(in_bin)) * abs(float(np.mean(correct[in_bin])) - float(np.mean(confidence[in_bin])))
    return ece


def classification_report(
    tier_probs: Floats,
    tier_true: Ints,
    area_probs: Floats,
    area_true: Bools,
    area_known: Bools,
    area_thresholds: Floats,
    tier_names: Sequence[str],
    area_names: Sequence[str],
    tier_pred: Ints | None = None,
    languages: Sequence[str] | None = None,
    min_slice_rows: int = 20,
) -> dict[str, Any]:
    """The headline metrics of both heads, overall and per language (slices of at least ``min_slice_rows``).
    ``tier_pred`` is the deployed decision (see ``model.scorer.decide_tiers``); argmax when not given."""
    tier_pred = tier_probs.argmax(axis=1) if tier_pred is None else tier_pred
    area_pred = area_probs >= area_thresholds[None, :]
    high, low = tier_names.index("high"), tier_names.index("low")
    high_precision, high_recall = precision_recall(tier_true == high, tier_pred == high)
    report: dict[str, Any] = {
        "rows": len(tier_true),
        "tier_macro_f1": macro_f1(tier_true, tier_pred, len(tier_names)),
        "tier_accuracy": float(np.mean(tier_pred == tier_true)) if len(tier_true) else 0.0,
        "area_macro_f1": area_macro_f1(area_true, area_pred, area_known),
        "high_risk_precision": high_precision,
        "high_risk_recall": high_recall,
        "tier_ece": expected_calibration_error(tier_probs, tier_true),
        "area_f1": {name: score for name, score in zip(area_names, area_f1(area_true, area_pred, area_known),
                                                        strict=True)},
    }
    if languages is not None:
        langs = np.asarray(languages)
        per_language: dict[str, dict[str, float | None]] = {}
        for language in sorted(set(languages)):
            rows = langs == language
            if rows.sum() < min_slice_rows:
                continue
            benign = rows & (tier_true == low)
            per_language[language] = {
                "rows": int(rows.sum()),
                "tier_macro_f1": macro_f1(tier_true[rows], tier_pred[rows], len(tier_names)),
                "area_macro_f1": area_macro_f1(area_true[rows], area_pred[rows], area_known[rows]),
                # Benign rows the model flags (tiers medium or high): the fairness figure per language.
                "benign_rows": int(benign.sum()),
                "benign_flagged": float(np.mean(tier_pred[benign] != low)) if benign.any() else None,
            }
        report["per_language"] = per_language
    return report
