"""The evaluation harness: score labelled rows with an artifact and measure everything a release needs.

``evaluate(scorer, rows)`` scores the rows once and computes, on the deployed decision (P(high) at or above
the artifact's high-risk threshold, see ``model.scorer.decide_tiers``): tier macro-F1 and per-class
precision, recall and F1; the confusion matrix of tiers; area macro-F1 over the **known** labels (an area
in a row's ``unknown_areas`` counts nowhere; a row labelled only ``none`` is a negative for every area, as
in training); high-risk precision and recall; slices per language, per source and per policy area; tier
ECE with its reliability-diagram bins; the precision-recall curve of P(high). Given ``calibration_rows``
(never the evaluated rows), it also fits the conformal high-risk threshold (pooled, and Mondrian per
language with the pooled fallback) and reports the miss rate it achieved on the evaluated rows beside
alpha, and the workload (the share of reports sent to people) at it and at the deployed threshold.

Rows are mappings with the corpus's columns: ``text``, ``language``, ``risk_tier``, ``policy_areas`` and
optionally ``unknown_areas`` and ``source``. Numpy and the metric functions only: no torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel

from evaluation.conformal import evaluate_miss_rate, high_risk_threshold, mondrian_thresholds
from evaluation.metrics import (
    Bools,
    Floats,
    Ints,
    area_f1,
    area_macro_f1,
    expected_calibration_error,
    macro_f1,
    precision_recall,
)
from model.artifact import DEFAULT_CONFORMAL_ALPHA, POOLED, ArtifactMeta
from model.scorer import decide_tiers, to_scores
from serving.policy import RoutingPolicy

NONE_AREA = "none"
RELIABILITY_BINS = 15  # the same bins as ``expected_calibration_error``
PR_POINTS = 101
UNKNOWN_SOURCE = "unknown"


class ScorerLike(Protocol):
    meta: ArtifactMeta

    def probabilities(self, texts: Sequence[str], batch_size: int = 32) -> tuple[Floats, Floats]: ...


# --- the result -------------------------------------------------------------------------------------

class ClassMetrics(BaseModel):
    precision: float
    recall: float
    f1: float
    support: int


class SliceMetrics(BaseModel):
    name: str
    n: int
    tier_macro_f1: float
    #: None where the slice holds no truly high-risk row.
    high_risk_recall: float | None
    n_high: int


class ReliabilityBin(BaseModel):
    low: float
    high: float
    n: int
    #: Mean top-class confidence and accuracy of the rows in the bin (None for an empty bin).
    confidence: float | None
    accuracy: float | None


class PRPoint(BaseModel):
    threshold: float
    precision: float
    recall: float


class HighRisk(BaseModel):
    threshold: float
    precision: float
    recall: float
    n_high: int
    #: The share of evaluated reports at or above the threshold (sent to people as high risk).
    workload: float


class ThresholdOutcome(BaseModel):
    #: None for the Mondrian thresholds (one per language, see ``ConformalReport.mondrian``).
    threshold: float | None
    #: Share of the truly high-risk evaluated reports scored below the threshold.
    miss_rate: float
    #: Share of all evaluated reports at or above the threshold.
    workload: float


class GroupThreshold(BaseModel):
    threshold: float
    n_calibration_high: int
    degenerate: bool
    #: True when the group had too few high-risk calibration rows and uses the pooled threshold.
    pooled_fallback: bool
    #: On the evaluated rows of this group (None when it holds no high-risk row).
    miss_rate: float | None
    n_high: int


class ConformalReport(BaseModel):
    alpha: float
    n_calibration: int
    n_calibration_high: int
    pooled: ThresholdOutcome
    pooled_degenerate: bool
    #: Per-language thresholds (``*`` is the pooled one); miss rate and workload with each row judged by
    #: its language's threshold.
    mondrian: dict[str, GroupThreshold]
    mondrian_outcome: ThresholdOutcome
    deployed: ThresholdOutcome
    n_high: int


class RoutingOutcome(BaseModel):
    """Where the routing policy sends the evaluated reports (language detected from the text, no report
    signals): the share automated and the share sent to people, and whether the truly high-risk ones
    reach a person (escalated, or sent to specialist review by a grey-area rule)."""

    policy_version: str
    automated: float
    to_people: float
    #: Share of reports per action (escalate, review, auto_route, auto_close).
    actions: dict[str, float]
    #: Share of reports each grey-area rule fired on (a report may fire several).
    grey_rules: dict[str, float]
    n_high: int
    #: Share of the truly high-risk reports that reach a person (None without any).
    high_risk_to_people: float | None


class EvaluationResult(BaseModel):
    model_name: str
    model_version: str
    n: int
    tier_labels: list[str]
    area_labels: list[str]
    tier_macro_f1: float
    tier_accuracy: float
    tier_per_class: dict[str, ClassMetrics]
    #: Rows: true tier, columns: decided tier, both in ``tier_labels`` order.
    confusion: list[list[int]]
    area_macro_f1: float
    #: None where no known row is positive.
    area_f1: dict[str, float | None]
    high_risk: HighRisk
    tier_ece: float
    reliability: list[ReliabilityBin]
    pr_curve: list[PRPoint]
    #: ``language`` and ``source`` partition the rows; ``policy_area`` groups them by their true areas
    #: (a row with two areas is in both slices).
    slices: dict[str, list[SliceMetrics]]
    conformal: ConformalReport | None = None
    #: The artifact's own conformal thresholds (what routing uses), judged on the evaluated rows: the miss
    #: rate of high-risk rows below their language's threshold, and the share of rows at or above it.
    artifact_conformal: ThresholdOutcome | None = None
    routing: RoutingOutcome | None = None

    def headline(self) -> dict[str, float]:
        """The numbers of the report's headline table."""
        out = {
            "rows": float(self.n),
            "tier_macro_f1": self.tier_macro_f1,
            "tier_accuracy": self.tier_accuracy,
            "area_macro_f1": self.area_macro_f1,
            "high_risk_threshold": self.high_risk.threshold,
            "high_risk_precision": self.high_risk.precision,
            "high_risk_recall": self.high_risk.recall,
            "high_risk_workload": self.high_risk.workload,
            "tier_ece": self.tier_ece,
        }
        if self.routing is not None:
            out["automated_share"] = self.routing.automated
            out["to_people_share"] = self.routing.to_people
            if self.routing.high_risk_to_people is not None:
                out["high_risk_to_people"] = self.routing.high_risk_to_people
        return out


# --- rows to arrays ---------------------------------------------------------------------------------

class TrueLabels:
    """The labels of rows as arrays in the artifact's label order."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], meta: ArtifactMeta) -> None:
        tiers = {name: i for i, name in enumerate(meta.tier_labels)}
        areas = {name: j for j, name in enumerate(meta.area_labels)}
        n = len(rows)
        self.texts = [str(r["text"]) for r in rows]
        self.languages = [str(r["language"]) for r in rows]
        self.sources = [str(r.get("source") or UNKNOWN_SOURCE) for r in rows]
        self.tier: Ints = np.zeros(n, dtype=np.int64)
        self.areas: Bools = np.zeros((n, len(areas)), dtype=np.bool_)
        self.known: Bools = np.ones((n, len(areas)), dtype=np.bool_)
        self.area_names: list[list[str]] = []
        for i, row in enumerate(rows):
            tier = row["risk_tier"]
            if tier not in tiers:
                raise ValueError(f"row {i}: risk_tier {tier!r} is not one of {', '.join(tiers)}")
            self.tier[i] = tiers[tier]
            positives = [str(a) for a in row.get("policy_areas") or []]
            for area in positives:
                if area not in areas:
                    raise ValueError(f"row {i}: policy area {area!r} is not in the model's labels")
                self.areas[i, areas[area]] = True
            self.area_names.append(positives)
            if positives == [NONE_AREA]:  # "no area applies" is a negative for every area
                continue
            for area in row.get("unknown_areas") or []:
                if area in areas:
                    self.known[i, areas[area]] = False


# --- pieces -----------------------------------------------------------------------------------------

def confusion_matrix(true: Ints, pred: Ints, n_classes: int) -> list[list[int]]:
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)
    return [[int(v) for v in row] for row in matrix]


def reliability_bins(probs: Floats, true: Ints, bins: int = RELIABILITY_BINS) -> list[ReliabilityBin]:
    """The bins of ``expected_calibration_error``: top-class confidence against accuracy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == true
    out = []
    for low, high in pairwise(np.linspace(0.0, 1.0, bins + 1)):
        in_bin = (confidence > low) & (confidence <= high)
        n = int(in_bin.sum())
        out.append(ReliabilityBin(
            low=float(low), high=float(high), n=n,
            confidence=float(confidence[in_bin].mean()) if n else None,
            accuracy=float(correct[in_bin].mean()) if n else None))
    return out


def pr_curve(scores: Floats, positive: Bools, points: int = PR_POINTS) -> list[PRPoint]:
    """Precision and recall of ``scores >= t`` for ``points`` thresholds from the score quantiles
    (precision 1.0 where nothing reaches t)."""
    if scores.size == 0:
        return []
    thresholds = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, points)))
    out = []
    for t in thresholds:
        pred = scores >= t
        precision, recall = precision_recall(positive, pred)
        out.append(PRPoint(threshold=float(t), precision=precision if pred.any() else 1.0, recall=recall))
    return out


def _slice(name: str, rows: Bools, true: Ints, pred: Ints, high: int, n_classes: int) -> SliceMetrics:
    is_high = true[rows] == high
    n_high = int(is_high.sum())
    recall = float(np.mean(pred[rows][is_high] == high)) if n_high else None
    return SliceMetrics(name=name, n=int(rows.sum()), tier_macro_f1=macro_f1(true[rows], pred[rows], n_classes),
                        high_risk_recall=recall, n_high=n_high)


def _slices(groups: Sequence[str], true: Ints, pred: Ints, high: int, n_classes: int) -> list[SliceMetrics]:
    labels = np.asarray(groups, dtype=object)
    out = [_slice(g, labels == g, true, pred, high, n_classes) for g in sorted(set(groups))]
    return sorted(out, key=lambda s: (-s.n, s.name))


def _outcome(p_high: Floats, is_high: Bools, threshold: float) -> ThresholdOutcome:
    report = evaluate_miss_rate(p_high, is_high, threshold)
    return ThresholdOutcome(threshold=threshold, miss_rate=report.miss_rate, workload=report.sent_to_humans_share)


def _artifact_conformal(meta: ArtifactMeta, p_high: Floats, is_high: Bools,
                        languages: Sequence[str]) -> ThresholdOutcome | None:
    if meta.conformal is None:
        return None
    per_row = np.array([meta.conformal.threshold(lang) for lang in languages], dtype=np.float64)
    n_high = int(is_high.sum())
    return ThresholdOutcome(threshold=None,
                            miss_rate=float(np.mean(p_high[is_high] < per_row[is_high])) if n_high else 0.0,
                            workload=float(np.mean(p_high >= per_row)))


def conformal_report(p_high_cal: Floats, is_high_cal: Bools, languages_cal: Sequence[str],
                     p_high: Floats, is_high: Bools, languages: Sequence[str], *, alpha: float,
                     deployed_threshold: float) -> ConformalReport:
    """Fit the conformal thresholds on the calibration rows and judge them on the evaluated rows."""
    pooled = high_risk_threshold(p_high_cal, is_high_cal, alpha)
    groups = mondrian_thresholds(p_high_cal, is_high_cal, list(languages_cal), alpha)
    langs = np.asarray(languages, dtype=object)
    per_row = np.array([groups.get(lang, groups[POOLED]).threshold for lang in languages], dtype=np.float64)
    missed = is_high & (p_high < per_row)
    n_high = int(is_high.sum())
    mondrian: dict[str, GroupThreshold] = {}
    for group, fit in groups.items():
        rows = np.ones(len(langs), dtype=np.bool_) if group == POOLED else langs == group
        group_high = int((is_high & rows).sum())
        if group == POOLED:
            group_missed = int((is_high & (p_high < fit.threshold)).sum())
        else:
            group_missed = int((missed & rows).sum())
        mondrian[group] = GroupThreshold(
            threshold=fit.threshold, n_calibration_high=fit.n_calibration, degenerate=fit.degenerate,
            pooled_fallback=fit.pooled, miss_rate=group_missed / group_high if group_high else None, n_high=group_high)
    return ConformalReport(
        alpha=alpha, n_calibration=len(p_high_cal), n_calibration_high=pooled.n_calibration,
        pooled=_outcome(p_high, is_high, pooled.threshold), pooled_degenerate=pooled.degenerate,
        mondrian=mondrian,
        mondrian_outcome=ThresholdOutcome(
            threshold=None,
            miss_rate=float(missed.sum() / n_high) if n_high else 0.0,
            workload=float(np.mean(p_high >= per_row)) if len(per_row) else 0.0),
        deployed=_outcome(p_high, is_high, deployed_threshold), n_high=n_high)


# --- the harness ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CalibrationScores:
    """P(high) of the calibration rows, whether each is truly high risk, and its language: what the
    conformal thresholds are fitted on."""

    p_high: Floats
    is_high: Bools
    languages: list[str]


def score_rows(scorer: ScorerLike, rows: Sequence[Mapping[str, Any]], batch_size: int = 32) -> tuple[Floats, Floats]:
    """Calibrated tier and area probabilities of ``rows`` (float64, in the artifact's label order)."""
    tier_probs, area_probs = scorer.probabilities([str(r["text"]) for r in rows], batch_size)
    return np.asarray(tier_probs, dtype=np.float64), np.asarray(area_probs, dtype=np.float64)


def score_calibration(scorer: ScorerLike, rows: Sequence[Mapping[str, Any]], batch_size: int = 32) -> CalibrationScores:
    labels = TrueLabels(rows, scorer.meta)
    tier_probs, _ = score_rows(scorer, rows, batch_size)
    high = scorer.meta.tier_labels.index("high")
    return CalibrationScores(tier_probs[:, high], labels.tier == high, labels.languages)


def evaluate(scorer: ScorerLike, rows: Sequence[Mapping[str, Any]], *, alpha: float = DEFAULT_CONFORMAL_ALPHA,
             calibration_rows: Sequence[Mapping[str, Any]] | None = None, policy: RoutingPolicy | None = None,
             batch_size: int = 32) -> EvaluationResult:
    """Score ``rows`` with ``scorer`` and measure them (see the module's description)."""
    if not rows:
        raise ValueError("no rows to evaluate")
    tier_probs, area_probs = score_rows(scorer, rows, batch_size)
    calibration = score_calibration(scorer, calibration_rows, batch_size) if calibration_rows else None
    return measure(scorer.meta, rows, tier_probs, area_probs, alpha=alpha, calibration=calibration, policy=policy)


def routing_outcome(meta: ArtifactMeta, rows: Sequence[Mapping[str, Any]], tier_probs: Floats, area_probs: Floats,
                    policy: RoutingPolicy) -> RoutingOutcome:
    """Route the scored rows with ``policy`` (``evaluation.routing_shares``) and summarise where they went."""
    from evaluation.routing_shares import PEOPLE, route_scores, shares_of

    texts, true = [str(r["text"]) for r in rows], [str(r["risk_tier"]) for r in rows]
    shares = shares_of(route_scores(meta, texts, to_scores(meta, tier_probs, area_probs), policy), true)
    n = shares.total
    people = sum(shares.actions[a] for a in PEOPLE)
    high = shares.by_true_tier.get("high", Counter())
    n_high = sum(high.values())
    return RoutingOutcome(
        policy_version=policy.version, automated=(n - people) / n, to_people=people / n,
        actions={a: c / n for a, c in shares.actions.most_common()},
        grey_rules={r: c / n for r, c in shares.grey_rules.most_common()},
        n_high=n_high,
        high_risk_to_people=sum(high[a] for a in PEOPLE) / n_high if n_high else None)


def measure(meta: ArtifactMeta, rows: Sequence[Mapping[str, Any]], tier_probs: Floats, area_probs: Floats, *,
            alpha: float = DEFAULT_CONFORMAL_ALPHA, calibration: CalibrationScores | None = None,
            policy: RoutingPolicy | None = None) -> EvaluationResult:
    """Every metric of the report from already scored rows (``score_rows``), so that two models scored on
    the same rows can be compared row by row (see ``evaluation.guard``). With ``policy``, also where
    the routing policy sends them."""
    if not rows:
        raise ValueError("no rows to evaluate")
    tiers, areas = meta.tier_labels, meta.area_labels
    high = tiers.index("high")
    labels = TrueLabels(rows, meta)
    threshold = meta.thresholds.high_risk
    pred = decide_tiers(tier_probs, high, threshold)
    true = labels.tier
    area_thresholds = np.array([meta.thresholds.areas[a] for a in areas], dtype=np.float64)
    area_pred = area_probs >= area_thresholds[None, :]

    per_class = {}
    for c, name in enumerate(tiers):
        precision, recall = precision_recall(true == c, pred == c)
        per_class[name] = ClassMetrics(precision=precision, recall=recall,
                                       f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
                                       support=int(np.sum(true == c)))
    is_high = true == high
    high_precision, high_recall = precision_recall(is_high, pred == high)
    p_high = tier_probs[:, high]

    area_rows: dict[str, list[int]] = {}
    for i, names in enumerate(labels.area_names):
        for name in names:
            area_rows.setdefault(name, []).append(i)
    area_slices = []
    for name, members in area_rows.items():
        mask = np.zeros(len(rows), dtype=np.bool_)
        mask[members] = True
        area_slices.append(_slice(name, mask, true, pred, high, len(tiers)))
    area_slices.sort(key=lambda s: (-s.n, s.name))

    conformal = None
    if calibration is not None:
        conformal = conformal_report(
            calibration.p_high, calibration.is_high, calibration.languages,
            p_high, is_high, labels.languages, alpha=alpha, deployed_threshold=threshold)

    return EvaluationResult(
        model_name=meta.name, model_version=meta.version, n=len(rows), tier_labels=list(tiers),
        area_labels=list(areas),
        tier_macro_f1=macro_f1(true, pred, len(tiers)), tier_accuracy=float(np.mean(pred == true)),
        tier_per_class=per_class, confusion=confusion_matrix(true, pred, len(tiers)),
        area_macro_f1=area_macro_f1(labels.areas, area_pred, labels.known),
        area_f1=dict(zip(areas, area_f1(labels.areas, area_pred, labels.known), strict=True)),
        high_risk=HighRisk(threshold=threshold, precision=high_precision, recall=high_recall,
                           n_high=int(is_high.sum()), workload=float(np.mean(pred == high))),
        tier_ece=expected_calibration_error(tier_probs, true),
        reliability=reliability_bins(tier_probs, true),
        pr_curve=pr_curve(p_high, is_high),
        slices={"language": _slices(labels.languages, true, pred, high, len(tiers)),
                "source": _slices(labels.sources, true, pred, high, len(tiers)),
                "policy_area": area_slices},
        conformal=conformal,
        artifact_conformal=_artifact_conformal(meta, p_high, is_high, labels.languages),
        routing=routing_outcome(meta, rows, tier_probs, area_probs, policy) if policy is not None else None,
    )


def metrics_for_tracking(result: EvaluationResult) -> dict[str, Any]:
    """The result as nested numbers for ``model.registry.flatten`` (curves and bins left out)."""
    out: dict[str, Any] = dict(result.headline())
    out["tier_per_class"] = {k: v.model_dump() for k, v in result.tier_per_class.items()}
    out["area_f1"] = result.area_f1
    out["slices"] = {kind: {s.name: {"n": s.n, "tier_macro_f1": s.tier_macro_f1,
                                     "high_risk_recall": s.high_risk_recall} for s in slices}
                     for kind, slices in result.slices.items()}
    if result.conformal is not None:
        c = result.conformal
        out["conformal"] = {
            "alpha": c.alpha, "pooled": c.pooled.model_dump(), "mondrian": c.mondrian_outcome.model_dump(),
            "deployed": c.deployed.model_dump(),
        }
    if result.routing is not None:
        out["routing"] = {"actions": result.routing.actions, "grey_rules": result.routing.grey_rules}
    return out
