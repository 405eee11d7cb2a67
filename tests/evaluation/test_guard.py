"""The promotion guard on hand-made numbers: the paired bootstrap of high-risk recall, the F1 limits, the
language slices, and what refuses a challenger."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.guard import Check, Contender, GuardConfig, Verdict, judge, recall_difference
from evaluation.harness import EvaluationResult, HighRisk, SliceMetrics

TIERS = ["low", "medium", "high"]
AREAS = ["hate_speech", "violence_incitement", "none"]


def hits(caught: int, missed: int) -> np.ndarray:
    return np.array([True] * caught + [False] * missed)


def contender(*, tier_f1: float = 0.70, area_f1: float = 0.60, high_hits: np.ndarray | None = None,
              languages: dict[str, tuple[int, float]] | None = None, n: int = 1000, taxonomy: str = "1.0.0",
              tiers: list[str] = TIERS) -> Contender:
    """A model's evaluation with only what the guard reads filled in; ``languages``: code -> (rows, tier F1)."""
    high_hits = hits(20, 0) if high_hits is None else high_hits
    slices = [SliceMetrics(name=code, n=rows, tier_macro_f1=f1, high_risk_recall=None, n_high=0)
              for code, (rows, f1) in (languages or {"en": (n, tier_f1)}).items()]
    result = EvaluationResult(
        model_name="triage-classifier", model_version="v", n=n, tier_labels=tiers, area_labels=AREAS,
        tier_macro_f1=tier_f1, tier_accuracy=0.8, tier_per_class={}, confusion=[], area_macro_f1=area_f1,
        area_f1={}, high_risk=HighRisk(threshold=0.3, precision=0.5, recall=float(np.mean(high_hits)) if high_hits.size
                                       else 0.0, n_high=int(high_hits.size), workload=0.1),
        tier_ece=0.02, reliability=[], pr_curve=[], slices={"language": slices})
    return Contender(result=result, high_hits=high_hits, taxonomy_version=taxonomy)


def check(decision: Verdict, name: str) -> Check:
    return next(c for c in decision.checks if c.name == name)


# --- the bootstrap ----------------------------------------------------------------------------------

def test_identical_hits_give_a_zero_interval() -> None:
    r = recall_difference(hits(7, 3), hits(7, 3))
    assert (r.champion, r.challenger, r.n_high) == (0.7, 0.7, 10)
    assert (r.difference, r.low, r.high) == (0.0, 0.0, 0.0)
    assert not r.significantly_lower


def test_a_challenger_missing_every_high_row_is_lower_with_certainty() -> None:
    r = recall_difference(hits(20, 0), hits(0, 20))
    assert (r.difference, r.low, r.high) == (-1.0, -1.0, -1.0)
    assert r.champion_only == 20 and r.challenger_only == 0
    assert r.significantly_lower


def test_missing_half_of_what_the_champion_catches_is_beyond_the_noise() -> None:
    # 10 truly high rows: the champion catches all, the challenger 5. A resample's difference is -k/10 with
    # k ~ Binomial(10, 0.5): its 2.5% and 97.5% quantiles are k = 2 and k = 8.
    r = recall_difference(hits(10, 0), hits(5, 5), confidence=0.95, resamples=2000, seed=0)
    assert r.difference == -0.5
    assert r.low == pytest.approx(-0.8) and r.high == pytest.approx(-0.2)
    assert r.significantly_lower


def test_one_miss_in_a_hundred_is_within_the_noise() -> None:
    # A resample holds none of the single disagreeing row with probability 0.99**100 = 0.37 > 2.5%,
    # so the interval reaches 0.
    r = recall_difference(hits(100, 0), np.array([False] + [True] * 99))
    assert r.difference == pytest.approx(-0.01)
    assert r.high == 0.0 and r.low < 0.0
    assert not r.significantly_lower


def test_the_multinomial_shortcut_matches_resampling_rows() -> None:
    rng = np.random.default_rng(1)
    champ, chall = rng.random(300) < 0.8, rng.random(300) < 0.75
    r = recall_difference(champ, chall, resamples=4000, seed=2)
    d = chall.astype(float) - champ.astype(float)
    rows = np.random.default_rng(3).integers(0, d.size, size=(4000, d.size))
    low, high = np.quantile(d[rows].mean(axis=1), [0.025, 0.975])
    assert r.difference == pytest.approx(d.mean())
    assert r.low == pytest.approx(low, abs=0.01) and r.high == pytest.approx(high, abs=0.01)


def test_hits_over_different_rows_are_an_error() -> None:
    with pytest.raises(ValueError, match="same rows"):
        recall_difference(hits(3, 0), hits(4, 0))


# --- the decision -----------------------------------------------------------------------------------

def test_identical_models_are_promoted() -> None:
    decision = judge(contender(), contender())
    assert decision.promote and decision.failed == []
    assert [c.name for c in decision.checks] == ["taxonomy", "high_risk_recall", "tier_macro_f1", "area_macro_f1",
                                                 "language.en"]
    assert decision.evidence["diff.high_risk_recall"] == 0.0
    assert decision.evidence["champion.tier_macro_f1"] == decision.evidence["challenger.tier_macro_f1"] == 0.70


def test_a_challenger_missing_high_risk_rows_is_refused_even_with_better_f1() -> None:
    champion = contender(high_hits=hits(30, 0))
    challenger = contender(tier_f1=0.80, area_f1=0.70, high_hits=hits(20, 10))
    decision = judge(champion, challenger)
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["high_risk_recall"]
    detail = check(decision, "high_risk_recall").detail
    assert "challenger 0.667 vs champion 1.000 on 30" in detail and "10 caught only by the champion" in detail
    assert "lies entirely below 0" in detail
    assert decision.evidence["high_risk_recall.ci_high"] < 0
    assert decision.evidence["high_risk_recall.n_high"] == 30


def test_no_high_risk_row_refuses() -> None:
    empty = np.array([], dtype=np.bool_)
    decision = judge(contender(high_hits=empty), contender(high_hits=empty))
    assert not decision.promote
    assert "no truly high-risk row" in check(decision, "high_risk_recall").detail


@pytest.mark.parametrize(("tolerance", "passes"), [(0.0, False), (0.0099, False), (0.01, True), (0.02, True)])
def test_the_f1_tolerance_boundary(tolerance: float, passes: bool) -> None:
    decision = judge(contender(tier_f1=0.80, area_f1=0.60), contender(tier_f1=0.79, area_f1=0.59),
                     GuardConfig(f1_tolerance=tolerance, language_margin=1.0))
    assert check(decision, "tier_macro_f1").passed is passes
    assert check(decision, "area_macro_f1").passed is passes
    assert decision.promote is passes
    assert decision.evidence["diff.tier_macro_f1"] == pytest.approx(-0.01)


def test_a_language_regressing_beyond_the_margin_refuses() -> None:
    champion = contender(languages={"en": (600, 0.70), "de": (300, 0.70), "fr": (100, 0.70)})
    challenger = contender(languages={"en": (600, 0.75), "de": (300, 0.67), "fr": (100, 0.40)})
    decision = judge(champion, challenger, GuardConfig(language_margin=0.02, min_language_rows=200))
    assert not decision.promote
    assert [c.name for c in decision.failed] == ["language.de"]
    assert "beyond the margin of 0.020" in check(decision, "language.de").detail
    # fr collapsed, but on 100 rows it is reported, not judged.
    fr = check(decision, "language.fr")
    assert fr.status == "SKIP" and "fewer than 200" in fr.detail
    assert decision.evidence["language.fr.diff"] == pytest.approx(-0.30)
    assert decision.evidence["language.fr.n"] == 100


def test_a_thin_language_alone_does_not_refuse() -> None:
    champion = contender(languages={"en": (900, 0.70), "pt": (100, 0.90)})
    challenger = contender(languages={"en": (900, 0.70), "pt": (100, 0.10)})
    decision = judge(champion, challenger)
    assert decision.promote
    assert check(decision, "language.pt").judged is False


def test_different_taxonomies_are_refused_without_comparing() -> None:
    decision = judge(contender(), contender(taxonomy="2.0.0"))
    assert not decision.promote
    assert [c.name for c in decision.checks] == ["taxonomy"]
    assert "different taxonomies" in decision.checks[0].detail
    decision = judge(contender(), contender(tiers=["low", "high", "medium"]))
    assert not decision.promote and "different labels" in decision.checks[0].detail


def test_the_first_promotion_has_nothing_to_compare() -> None:
    decision = judge(None, contender(high_hits=hits(3, 1)))
    assert decision.promote
    assert [(c.name, c.passed) for c in decision.checks] == [("no_champion", True)]
    assert "nothing to compare" in decision.checks[0].detail
    assert decision.evidence["challenger.high_risk_recall"] == 0.75
    assert not any(key.startswith("champion.") for key in decision.evidence)


def test_models_evaluated_on_different_rows_are_an_error() -> None:
    with pytest.raises(ValueError, match="different rows"):
        judge(contender(n=1000), contender(n=999))


def test_the_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        GuardConfig(confidence=1.5)
    with pytest.raises(ValueError):
        GuardConfig(language_margin=-0.1)
