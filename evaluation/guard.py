"""The promotion guard: may a challenger replace the champion? Small, pure, numpy only (no MLflow, no torch).

Both models are scored on the **same** rows (``evaluation.harness.score_rows`` then ``measure``), and the
challenger is promoted only when every check holds:

* ``taxonomy``: both models were trained on the same taxonomy with the same labels (otherwise nothing else
  is comparable and the other checks are not run);
* ``high_risk_recall``: the paired bootstrap confidence interval of the recall difference (challenger minus
  champion) on the truly high-risk rows does not lie entirely below 0, i.e. the challenger is not worse on
  the dangerous few beyond what resampling the evaluated rows explains. No truly high-risk row fails the
  check: the guard cannot vouch for what it did not see;
* ``tier_macro_f1`` and ``area_macro_f1``: not lower than the champion's by more than ``f1_tolerance``;
* ``language.<code>``: the tier macro-F1 of each language slice not lower by more than ``language_margin``.
  Slices with fewer than ``min_language_rows`` rows are reported (``judged`` False) but not judged: their
  F1 moves by more than any sensible margin from noise alone.

Without a champion (the first promotion) there is nothing to compare: the single check ``no_champion``
says so and the challenger is promoted on its own metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evaluation.harness import EvaluationResult, SliceMetrics, TrueLabels
from evaluation.metrics import Bools, Floats
from model.artifact import ArtifactMeta
from model.scorer import decide_tiers

HIGH = "high"
#: Differences this close to a limit count as at the limit (F1 values are means of float ratios).
EPSILON = 1e-9


class GuardConfig(BaseModel):
    """How strict the guard is. Logged as the promotion run's parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Two-sided confidence of the bootstrap interval of the high-risk recall difference.
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    #: Bootstrap resamples.
    bootstrap: int = Field(default=2000, ge=100)
    seed: int = 0
    #: How much lower the challenger's tier and area macro-F1 may be than the champion's.
    f1_tolerance: float = Field(default=0.0, ge=0.0, le=1.0)
    #: How much lower the challenger's tier macro-F1 may be on one language slice.
    language_margin: float = Field(default=0.02, ge=0.0, le=1.0)
    #: Language slices with fewer rows are reported, not judged.
    min_language_rows: int = Field(default=200, ge=1)


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    passed: bool
    #: A sentence with the numbers behind the verdict.
    detail: str
    #: False for what is reported but not judged (a thin language slice); such a check never refuses.
    judged: bool = True

    @property
    def status(self) -> Literal["PASS", "FAIL", "SKIP"]:
        if not self.judged:
            return "SKIP"
        return "PASS" if self.passed else "FAIL"


class Verdict(BaseModel):
    promote: bool
    checks: list[Check]
    #: Flat numbers for MLflow metrics: ``champion.<headline>``, ``challenger.<headline>``, ``diff.<metric>``,
    #: ``high_risk_recall.*`` (the bootstrap) and ``language.<code>.*``.
    evidence: dict[str, float]
    config: GuardConfig

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.judged and not c.passed]


@dataclass(frozen=True, slots=True)
class Contender:
    """One model's evaluation on the shared rows."""

    result: EvaluationResult
    #: For each truly high-risk row, in row order: did the model decide it high (``high_risk_hits``)?
    high_hits: Bools
    taxonomy_version: str


@dataclass(frozen=True, slots=True)
class RecallDifference:
    """High-risk recall of both models on the same truly high-risk rows, and the paired bootstrap interval
    of their difference (challenger minus champion)."""

    champion: float
    challenger: float
    n_high: int
    #: Rows only the champion decided high, and rows only the challenger did: all the difference comes from them.
    champion_only: int
    challenger_only: int
    difference: float
    low: float
    high: float
    confidence: float

    @property
    def significantly_lower(self) -> bool:
        """The whole interval lies below 0: the challenger misses more high-risk reports beyond the noise."""
        return self.n_high > 0 and self.high < -EPSILON


def high_risk_hits(meta: ArtifactMeta, rows: Sequence[Mapping[str, Any]], tier_probs: Floats) -> Bools:
    """For each truly high-risk row (in row order), whether the deployed decision (``decide_tiers`` at the
    artifact's threshold) calls it high; the mean is the high-risk recall of ``measure``."""
    high = meta.tier_labels.index(HIGH)
    true = TrueLabels(rows, meta).tier
    decided = decide_tiers(tier_probs, high, meta.thresholds.high_risk)
    hits: Bools = decided[true == high] == high
    return hits


def recall_difference(champion_hits: Bools, challenger_hits: Bools, *, confidence: float = 0.95,
                      resamples: int = 2000, seed: int = 0) -> RecallDifference:
    """Paired bootstrap of the recall difference over the same truly high-risk rows.

    Each resample draws the rows with replacement and takes both models' recall on the same draw. The
    difference of a draw is the mean over its rows of ``hit_challenger - hit_champion`` (-1, 0 or +1), so only
    how many rows of each kind the draw holds matters: the counts are drawn from the multinomial of the three
    kinds, which is the same bootstrap without a resamples x rows index matrix. The interval is the percentile
    interval."""
    champ = np.asarray(champion_hits, dtype=np.bool_)
    chall = np.asarray(challenger_hits, dtype=np.bool_)
    if champ.shape != chall.shape or champ.ndim != 1:
        raise ValueError(f"hits must be two 1-d arrays over the same rows, got {champ.shape} and {chall.shape}")
    n = int(champ.size)
    champion_only = int(np.sum(champ & ~chall))
    challenger_only = int(np.sum(chall & ~champ))
    if n == 0:
        return RecallDifference(champion=0.0, challenger=0.0, n_high=0, champion_only=0, challenger_only=0,
                                difference=0.0, low=0.0, high=0.0, confidence=confidence)
    shares = np.array([champion_only, n - champion_only - challenger_only, challenger_only], dtype=np.float64) / n
    counts = np.random.default_rng(seed).multinomial(n, shares, size=resamples)
    differences = (counts[:, 2] - counts[:, 0]) / n
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(differences, [tail, 1.0 - tail])
    return RecallDifference(
        champion=float(champ.mean()), challenger=float(chall.mean()), n_high=n, champion_only=champion_only,
        challenger_only=challenger_only, difference=(challenger_only - champion_only) / n,
        low=float(low), high=float(high), confidence=confidence)


# --- the checks -------------------------------------------------------------------------------------

def _taxonomy_check(champion: Contender, challenger: Contender) -> Check:
    a, b = champion.result, challenger.result
    if champion.taxonomy_version != challenger.taxonomy_version:
        return Check(name="taxonomy", passed=False,
                     detail=f"champion on taxonomy {champion.taxonomy_version}, challenger on "
                     f"{challenger.taxonomy_version}: models of different taxonomies cannot be compared")
    if a.tier_labels != b.tier_labels or sorted(a.area_labels) != sorted(b.area_labels):
        return Check(name="taxonomy", passed=False,
                     detail=f"both on taxonomy {champion.taxonomy_version} but with different labels (tiers "
                     f"{a.tier_labels} vs {b.tier_labels}, areas {sorted(a.area_labels)} vs {sorted(b.area_labels)})")
    return Check(name="taxonomy", passed=True,
                 detail=f"both on taxonomy {champion.taxonomy_version} with the same labels")


def _recall_check(recall: RecallDifference, evaluated: int) -> Check:
    if recall.n_high == 0:
        return Check(name="high_risk_recall", passed=False,
                     detail=f"no truly high-risk row among the {evaluated:,} evaluated: the recall of the two "
                     "models cannot be compared; evaluate on rows that include high-risk reports")
    interval = (f"difference {recall.difference:+.3f}, {recall.confidence:.0%} CI "
                f"[{recall.low:+.3f}, {recall.high:+.3f}]")
    where = "lies entirely below 0" if recall.significantly_lower else "reaches 0 or above"
    return Check(name="high_risk_recall", passed=not recall.significantly_lower,
                 detail=f"challenger {recall.challenger:.3f} vs champion {recall.champion:.3f} on {recall.n_high:,} "
                 f"truly high-risk rows ({recall.champion_only} caught only by the champion, "
                 f"{recall.challenger_only} only by the challenger): {interval} {where}")


def _f1_check(name: str, champion: float, challenger: float, tolerance: float, limit: str, what: str = "") -> Check:
    difference = challenger - champion
    passed = difference >= -tolerance - EPSILON
    verdict = "within" if passed else "beyond"
    return Check(name=name, passed=passed,
                 detail=f"{what}challenger {challenger:.3f} vs champion {champion:.3f}: {difference:+.3f}, "
                 f"{verdict} the {limit} of {tolerance:.3f}")


def _language_checks(champion: list[SliceMetrics], challenger: list[SliceMetrics],
                     config: GuardConfig) -> tuple[list[Check], dict[str, float]]:
    theirs = {s.name: s for s in challenger}
    checks, evidence = [], {}
    for ours in champion:
        other = theirs.get(ours.name)
        if other is None:
            continue
        name = f"language.{ours.name}"
        evidence.update({f"{name}.n": float(ours.n), f"{name}.champion": ours.tier_macro_f1,
                         f"{name}.challenger": other.tier_macro_f1,
                         f"{name}.diff": other.tier_macro_f1 - ours.tier_macro_f1})
        n = min(ours.n, other.n)
        if n < config.min_language_rows:
            checks.append(Check(
                name=name, passed=True, judged=False,
                detail=f"{n:,} rows, fewer than {config.min_language_rows:,}: reported, not judged (tier macro-F1 "
                f"challenger {other.tier_macro_f1:.3f} vs champion {ours.tier_macro_f1:.3f})"))
            continue
        checks.append(_f1_check(name, ours.tier_macro_f1, other.tier_macro_f1, config.language_margin,
                                "margin", what=f"tier macro-F1 on {n:,} rows, "))
    return checks, evidence


def _headline(prefix: str, result: EvaluationResult) -> dict[str, float]:
    return {f"{prefix}.{key}": value for key, value in result.headline().items()}


def judge(champion: Contender | None, challenger: Contender, config: GuardConfig | None = None) -> Verdict:
    """Whether ``challenger`` may replace ``champion`` (None: there is none yet), with every check and the
    numbers behind it. Both must have been evaluated on the same rows, in the same order."""
    config = config or GuardConfig()
    evidence = _headline("challenger", challenger.result)
    if champion is None:
        check = Check(name="no_champion", passed=True,
                      detail="there is no champion yet: nothing to compare with, so the challenger is promoted "
                      f"on its own metrics (tier macro-F1 {challenger.result.tier_macro_f1:.3f}, "
                      f"high-risk recall {challenger.result.high_risk.recall:.3f} on "
                      f"{challenger.result.high_risk.n_high:,} rows)")
        return Verdict(promote=True, checks=[check], evidence=evidence, config=config)

    a, b = champion.result, challenger.result
    if a.n != b.n or champion.high_hits.shape != challenger.high_hits.shape:
        raise ValueError(f"the models were evaluated on different rows ({a.n:,} and {b.n:,}, "
                         f"{champion.high_hits.size:,} and {challenger.high_hits.size:,} truly high-risk)")
    evidence.update(_headline("champion", a))
    taxonomy = _taxonomy_check(champion, challenger)
    if not taxonomy.passed:
        return Verdict(promote=False, checks=[taxonomy], evidence=evidence, config=config)

    recall = recall_difference(champion.high_hits, challenger.high_hits, confidence=config.confidence,
                               resamples=config.bootstrap, seed=config.seed)
    evidence.update({
        "diff.high_risk_recall": recall.difference, "high_risk_recall.ci_low": recall.low,
        "high_risk_recall.ci_high": recall.high, "high_risk_recall.n_high": float(recall.n_high),
        "high_risk_recall.champion_only": float(recall.champion_only),
        "high_risk_recall.challenger_only": float(recall.challenger_only),
        "diff.tier_macro_f1": b.tier_macro_f1 - a.tier_macro_f1,
        "diff.area_macro_f1": b.area_macro_f1 - a.area_macro_f1,
    })
    checks = [
        taxonomy,
        _recall_check(recall, a.n),
        _f1_check("tier_macro_f1", a.tier_macro_f1, b.tier_macro_f1, config.f1_tolerance, "tolerance"),
        _f1_check("area_macro_f1", a.area_macro_f1, b.area_macro_f1, config.f1_tolerance, "tolerance"),
    ]
    languages, language_evidence = _language_checks(a.slices.get("language", []), b.slices.get("language", []),
                                                    config)
    checks += languages
    evidence.update(language_evidence)
    promote = all(c.passed for c in checks if c.judged)
    return Verdict(promote=promote, checks=checks, evidence=evidence, config=config)
