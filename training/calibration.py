"""Calibration on the calibration split: one temperature per head, and the decision thresholds.

Temperature scaling (Guo et al. 2017) divides the logits by a scalar fitted to minimise the negative
log-likelihood on held-out data; it changes confidence, never the ranking. The area head's temperature is
fitted on the labels the sources gave only (unknown labels are masked out).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from evaluation.metrics import fbeta_binary

Floats = npt.NDArray[np.float32]
#: Fewer positive calibration rows than this and an area keeps the default threshold.
MIN_POSITIVES_FOR_THRESHOLD = 20
DEFAULT_AREA_THRESHOLD = 0.5
#: Area thresholds maximise F-beta at this beta: below 1 they favour precision, so that harmless text predicts
#: no area (an area sends a report to a team; the tier, not the area, decides whether a person sees it).
AREA_THRESHOLD_BETA = 0.5


def _fit_temperature(nll: Any) -> float:
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss: torch.Tensor = nll(log_t.exp())
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return float(log_t.exp().clamp(0.05, 20.0).item())


def fit_tier_temperature(logits: Floats, labels: npt.NDArray[np.int64]) -> float:
    x, y = torch.from_numpy(logits.astype(np.float32)), torch.from_numpy(labels)
    return _fit_temperature(lambda t: torch.nn.functional.cross_entropy(x / t, y))


def fit_area_temperature(logits: Floats, targets: Floats, known: npt.NDArray[np.bool_]) -> float:
    x, y = torch.from_numpy(logits.astype(np.float32)), torch.from_numpy(targets.astype(np.float32))
    mask = torch.from_numpy(known.astype(np.float32))

    def nll(t: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x / t, y, reduction="none")
        return (loss * mask).sum() / mask.sum().clamp(min=1.0)

    return _fit_temperature(nll)


def area_thresholds(probs: Floats, targets: Floats, known: npt.NDArray[np.bool_], names: list[str],
                    beta: float = AREA_THRESHOLD_BETA) -> dict[str, float]:
    """Per area, the threshold that maximises F-beta (``AREA_THRESHOLD_BETA``: precision first) on the known
    calibration labels; the default where an area has too few positives to choose one."""
    thresholds: dict[str, float] = {}
    grid = np.round(np.arange(0.05, 0.951, 0.025), 3)
    for j, name in enumerate(names):
        rows = known[:, j]
        truth = targets[rows, j] > 0.5
        if truth.sum() < MIN_POSITIVES_FOR_THRESHOLD:
            thresholds[name] = DEFAULT_AREA_THRESHOLD
            continue
        scores = [fbeta_binary(truth, probs[rows, j] >= t, beta) for t in grid]
        thresholds[name] = float(grid[int(np.argmax(scores))])
    return thresholds


def high_risk_threshold(tier_probs: Floats, labels: npt.NDArray[np.int64], high_index: int, recall: float,
                        max_low_escalated: float | None = None, low_index: int = 0) -> float:
    """The largest threshold on P(high) that still catches ``recall`` of the truly high rows (capped at
    0.5, the point where high would win anyway); 0.5 when the split has no high rows.

    With ``max_low_escalated``, the threshold is raised where needed so that at most that share of the
    truly low-risk rows reach it: escalation is a person's urgent time, and the high-risk rows it then
    misses still reach a specialist through the conformal grey zone (``model.artifact.Conformal``)."""
    p_high = np.sort(tier_probs[labels == high_index, high_index])
    if len(p_high) == 0:
        return 0.5
    k = int(np.floor((1.0 - recall) * len(p_high)))
    threshold = float(min(0.5, p_high[min(k, len(p_high) - 1)]))
    p_low_rows = np.sort(tier_probs[labels == low_index, high_index])[::-1]
    allowed = int(np.floor((max_low_escalated or 0.0) * len(p_low_rows)))
    if max_low_escalated is not None and allowed < len(p_low_rows):
        # Just above the (allowed + 1)-th highest low row: at most ``allowed`` low rows reach it.
        budget = np.nextafter(p_low_rows[allowed], np.float32(np.inf))
        threshold = max(threshold, min(0.5, float(budget)))
    return threshold
