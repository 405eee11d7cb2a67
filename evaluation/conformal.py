"""Split conformal prediction: a grey zone with a guaranteed miss rate. Small, pure, numpy only (no torch).

Two tools, both fitted on a held-out calibration split (never the training split):

* ``high_risk_threshold`` (and ``mondrian_thresholds`` per group) chooses the threshold ``t`` on P(high) such
  that sending every report with P(high) >= t to a human misses at most a share ``alpha`` of the truly
  high-risk reports. It plugs into ``model.scorer.decide_tiers`` as ``high_risk_threshold``.
* ``prediction_sets`` gives each report the set of tiers that holds its true tier with probability at least
  ``1 - alpha`` (the LAC score ``1 - p(true tier)``); ``needs_review`` flags the reports whose set holds more
  than one tier.

The guarantees are marginal (on average over calibration draws and test reports, not for every single
calibration split) and rest on one assumption: the calibration rows and the future rows are exchangeable
(drawn i.i.d. from the same distribution, the same model scoring both). Drift in the traffic, a retrained
or recalibrated model, or a calibration split picked by looking at the scores each breaks it; refit the
thresholds on a fresh calibration split when any of them happens.

Conventions follow ``evaluation.metrics``: ``tier_probs`` is (n, 3) in taxonomy tier order and labels are
class indices; ``p_high`` is the calibrated P(high) column; ``is_high`` is a boolean mask of the rows whose
true tier is high.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evaluation.metrics import Bools, Floats, Ints
from model.artifact import DEFAULT_CONFORMAL_ALPHA, POOLED


@dataclass(frozen=True, slots=True)
class ConformalThreshold:
    """A threshold on P(high): every report with P(high) >= ``threshold`` goes to a human.

    ``k`` is the rank (1-based, ascending) of the calibration high-risk score chosen, ``k = floor(alpha *
    (n_calibration + 1))``. ``degenerate``: too few high-risk calibration rows for any rank (k < 1), so the
    threshold is 0.0 and every report goes to a human. ``pooled``: a Mondrian group with too little data
    that uses the pooled threshold (then ``n_calibration``, ``k`` and ``degenerate`` describe the pooled fit).
    """

    threshold: float
    alpha: float
    n_calibration: int
    k: int
    degenerate: bool
    pooled: bool = False


@dataclass(frozen=True, slots=True)
class MissReport:
    """What a threshold achieved on a test set: the share of truly high-risk reports scored below it (0.0
    when there are none, ``n_high`` says so) and the workload, the share of all reports at or above it."""

    miss_rate: float
    n_high: int
    sent_to_humans_share: float


# --- validation -------------------------------------------------------------------------------------

def _check_alpha(alpha: float) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(alpha, bool) or not 0.0 < value < 1.0:  # NaN fails the comparison too
        raise ValueError(f"alpha must be a number strictly between 0 and 1, got {alpha!r}")
    return value


def _scores(values: npt.ArrayLike, name: str) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def _mask(values: npt.ArrayLike, name: str) -> Bools:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.dtype != np.bool_:
        if array.size and not np.all(np.isin(array, (0, 1))):
            raise ValueError(f"{name} must be a boolean mask (or 0/1), got other values")
        array = array.astype(np.bool_)
    return array


def _same_length(**arrays: Sized) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"lengths differ: {', '.join(f'{n}={v}' for n, v in lengths.items())}")


def _probs(values: npt.ArrayLike, name: str) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"{name} must be (n, classes) with at least two classes, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


# --- the high-risk threshold ------------------------------------------------------------------------

def conformal_rank(alpha: float, n: int) -> int:
    """k = floor(alpha * (n + 1)): the rank of the calibration score to use as the threshold (0: none)."""
    return math.floor(_check_alpha(alpha) * (n + 1))


def min_group_size(alpha: float) -> int:
    """The fewest high-risk calibration rows with k >= 1, i.e. n + 1 >= 1 / alpha (49 for alpha 0.02)."""
    alpha = _check_alpha(alpha)
    n = max(math.ceil(1.0 / alpha) - 1, 0)
    while conformal_rank(alpha, n) < 1:  # guards the float arithmetic at the edge
        n += 1
    while n > 0 and conformal_rank(alpha, n - 1) >= 1:
        n -= 1
    return n


def high_risk_threshold(p_high_cal: npt.ArrayLike, is_high_cal: npt.ArrayLike,
                        alpha: float = DEFAULT_CONFORMAL_ALPHA) -> ConformalThreshold:
    """The threshold t on P(high) that misses at most a share ``alpha`` of truly high-risk reports.

    With the n calibration high-risk scores sorted ascending, t is the k-th smallest, k = floor(alpha *
    (n + 1)). Guarantee: if the calibration high-risk rows and a future high-risk row are exchangeable,
    P(miss) = P(P(high) < t | high) <= k / (n + 1) <= alpha, on average over calibration draws (the miss
    rate of one fitted threshold is Beta(k, n + 1 - k) distributed, so about half of the fits land a little
    above alpha when alpha * (n + 1) is a whole number). Ties only lower the miss rate.

    When k < 1 (n + 1 < 1 / alpha, e.g. fewer than 49 high-risk rows at alpha 0.02) no score can serve:
    t = 0.0, every report goes to a human, and the result says ``degenerate=True``.

    Only the high-risk rows set t; the others only matter for the workload (see ``evaluate_miss_rate``).
    """
    alpha = _check_alpha(alpha)
    scores, mask = _scores(p_high_cal, "p_high_cal"), _mask(is_high_cal, "is_high_cal")
    _same_length(p_high_cal=scores, is_high_cal=mask)
    high = np.sort(scores[mask])
    n = int(high.size)
    k = conformal_rank(alpha, n)
    if k < 1:
        return ConformalThreshold(threshold=0.0, alpha=alpha, n_calibration=n, k=0, degenerate=True)
    return ConformalThreshold(threshold=float(high[k - 1]), alpha=alpha, n_calibration=n, k=k, degenerate=False)


def mondrian_thresholds(p_high: npt.ArrayLike, is_high: npt.ArrayLike, groups: Sequence[str] | npt.ArrayLike,
                        alpha: float = DEFAULT_CONFORMAL_ALPHA, min_group: int | None = None,
                        ) -> dict[str, ConformalThreshold]:
    """One threshold per group (Mondrian conformal, e.g. per language), plus the pooled one under ``"*"``.

    Guarantee, per group: if within group g the calibration high-risk rows and a future high-risk row of g
    are exchangeable, P(P(high) < t_g | high, g) <= alpha, for every group fitted on its own. A single
    pooled threshold only bounds the miss rate over the mix of groups; a group whose scores run low can
    miss far more than alpha under it.

    A group with fewer than ``min_group`` high-risk calibration rows (default ``min_group_size(alpha)``, the
    fewest with k >= 1: 49 at alpha 0.02) gets the pooled threshold, marked ``pooled=True``; for such a group
    only the pooled (marginal) guarantee holds. A ``min_group`` below the default lets small groups fit
    degenerate thresholds (0.0, everything to a human) instead.
    """
    alpha = _check_alpha(alpha)
    scores, mask = _scores(p_high, "p_high"), _mask(is_high, "is_high")
    labels = np.asarray(groups)
    if labels.ndim != 1:
        raise ValueError(f"groups must be one-dimensional, got shape {labels.shape}")
    labels = labels.astype(str)
    _same_length(p_high=scores, is_high=mask, groups=labels)
    if np.any(labels == POOLED):
        raise ValueError(f"{POOLED!r} is reserved for the pooled threshold; rename that group")
    minimum = min_group_size(alpha) if min_group is None else min_group
    if minimum < 1:
        raise ValueError(f"min_group must be at least 1, got {minimum}")
    pooled = high_risk_threshold(scores, mask, alpha)
    thresholds: dict[str, ConformalThreshold] = {POOLED: pooled}
    for group in sorted(set(labels.tolist())):
        rows = labels == group
        if int(np.sum(mask & rows)) < minimum:
            thresholds[group] = ConformalThreshold(
                threshold=pooled.threshold, alpha=alpha, n_calibration=pooled.n_calibration, k=pooled.k,
                degenerate=pooled.degenerate, pooled=True)
        else:
            thresholds[group] = high_risk_threshold(scores[rows], mask[rows], alpha)
    return thresholds


def threshold_for(thresholds: Mapping[str, ConformalThreshold], group: str) -> float:
    """The threshold for ``group``; the pooled one for a group not seen in calibration."""
    entry = thresholds.get(group, thresholds.get(POOLED))
    if entry is None:
        raise KeyError(f"no threshold for group {group!r} and no pooled threshold ({POOLED!r})")
    return entry.threshold


def evaluate_miss_rate(p_high_test: npt.ArrayLike, is_high_test: npt.ArrayLike,
                       threshold: float | ConformalThreshold) -> MissReport:
    """The miss rate a threshold achieved on a test set (high-risk reports with P(high) < threshold) and
    the workload it costs (the share of all reports with P(high) >= threshold)."""
    t = threshold.threshold if isinstance(threshold, ConformalThreshold) else float(threshold)
    scores, mask = _scores(p_high_test, "p_high_test"), _mask(is_high_test, "is_high_test")
    _same_length(p_high_test=scores, is_high_test=mask)
    n_high = int(np.sum(mask))
    miss_rate = float(np.mean(scores[mask] < t)) if n_high else 0.0
    sent = float(np.mean(scores >= t)) if scores.size else 0.0
    return MissReport(miss_rate=miss_rate, n_high=n_high, sent_to_humans_share=sent)


# --- prediction sets for the tier -------------------------------------------------------------------

def lac_threshold(cal_tier_probs: npt.ArrayLike, cal_labels: npt.ArrayLike, alpha: float) -> float:
    """q-hat of the LAC score s = 1 - p(true tier): the m-th smallest calibration score, m = ceil((n + 1)
    * (1 - alpha)) (the quantile at level m / n). ``inf`` when m > n (too few rows): every set is full."""
    alpha = _check_alpha(alpha)
    probs = _probs(cal_tier_probs, "cal_tier_probs")
    labels = np.asarray(cal_labels)
    if labels.ndim != 1:
        raise ValueError(f"cal_labels must be one-dimensional, got shape {labels.shape}")
    _same_length(cal_tier_probs=probs, cal_labels=labels)
    if labels.size and (not np.issubdtype(labels.dtype, np.integer)
                        or labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"cal_labels must be class indices in [0, {probs.shape[1]})")
    n = int(labels.size)
    m = math.ceil((n + 1) * (1.0 - alpha))
    if m > n:
        return math.inf
    scores = np.sort(1.0 - probs[np.arange(n), labels])
    return float(scores[m - 1])


def prediction_sets(tier_probs: npt.ArrayLike, cal_tier_probs: npt.ArrayLike, cal_labels: npt.ArrayLike,
                    alpha: float) -> list[frozenset[int]]:
    """For each row, the tiers y with 1 - p(y) <= q-hat (see ``lac_threshold``), as class indices.

    Guarantee: if the calibration rows and a test row are exchangeable, P(true tier in set) >= 1 - alpha
    (marginally, over calibration draws and test rows; not per tier or per group). LAC gives the smallest
    sets on average among sets with that coverage, but a set can be empty when no tier is likely enough
    (those rows are part of the alpha it may miss)."""
    probs = _probs(tier_probs, "tier_probs")
    cal = _probs(cal_tier_probs, "cal_tier_probs")
    if probs.shape[1] != cal.shape[1]:
        raise ValueError(f"tier_probs has {probs.shape[1]} classes, cal_tier_probs {cal.shape[1]}")
    q_hat = lac_threshold(cal, cal_labels, alpha)
    inside = (1.0 - probs) <= q_hat
    return [frozenset(int(c) for c in np.flatnonzero(row)) for row in inside]


def needs_review(sets: Sequence[frozenset[int]], *, include_empty: bool = True) -> Bools:
    """True where a set holds more than one tier (the model cannot tell them apart at the chosen alpha) or
    none (no tier is likely enough: a confident model at an alpha above its error rate gives empty sets to
    its least sure rows): either way the report goes to specialist review. ``include_empty=False`` flags
    only the ambiguous sets."""
    return np.fromiter((len(s) > 1 or (include_empty and not s) for s in sets), dtype=np.bool_, count=len(sets))


def coverage(sets: Sequence[frozenset[int]], labels: Iterable[int] | Ints) -> float:
    """The share of rows whose true tier is in their set (0.0 for no rows)."""
    truth = [int(y) for y in labels]
    _same_length(sets=sets, labels=truth)
    return float(np.mean([y in s for s, y in zip(sets, truth, strict=True)])) if truth else 0.0


def mean_set_size(sets: Sequence[frozenset[int]]) -> float:
    """The mean number of tiers per set (0.0 for no rows)."""
    return float(np.mean([len(s) for s in sets])) if sets else 0.0
