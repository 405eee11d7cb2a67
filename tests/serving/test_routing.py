"""The routing rules, one at a time (pure functions: no model, no database, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from model.artifact import Conformal
from model.schema import Report
from model.settings import DEFAULT_ROUTING_POLICY
from model.taxonomy import RiskTier
from serving.policy import RoutingPolicy, load_policy
from serving.routing import (
    Action,
    LanguageView,
    ModelView,
    Route,
    grey_area_rules,
    prediction_set,
    priority,
    qa_sampled,
    raise_tier,
    resolve_language,
    route,
    signal_rules,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = load_policy(DEFAULT_ROUTING_POLICY)
AREAS = ["hate_speech", "harassment", "violence_incitement", "graphic_violence", "self_harm", "adult_sexual",
         "child_safety", "dangerous_orgs", "spam_fraud", "intellectual_property", "privacy", "misinformation",
         "none"]
ENGLISH = LanguageView(detected="en", confidence=0.99)


def report(**fields: Any) -> Report:
    return Report.model_validate({"report_id": "r-1", "text": "some text", **fields})


def model(tier: str = "low", probs: tuple[float, float, float] = (0.9, 0.07, 0.03), **areas: float) -> ModelView:
    area_probs = {a: 0.01 for a in AREAS} | {"none": 0.9} | areas
    return ModelView(tier=RiskTier(tier), tier_probs=dict(zip(["low", "medium", "high"], probs, strict=True)),
                     area_probs=area_probs, area_thresholds={a: 0.5 for a in AREAS},
                     languages=frozenset({"en", "fr", "de"}))


def decide(m: ModelView, r: Report | None = None, lang: LanguageView = ENGLISH,
           policy: RoutingPolicy = POLICY) -> Route:
    return route(r or report(report_id="not-sampled-3"), m, lang, policy, NOW)


def names(decision: Route) -> list[str]:
    return [rule.name for rule in decision.rules]


# --- tiers ----------------------------------------------------------------------------------------

def test_high_risk_goes_to_human_escalation_with_a_short_sla_and_priority_by_score() -> None:
    decision = decide(model("high", (0.05, 0.15, 0.80), violence_incitement=0.9, none=0.02))
    assert decision.action is Action.ESCALATE
    assert decision.queue == "human_escalation"
    assert decision.sla_deadline == NOW + timedelta(minutes=60)
    assert decision.priority == 60 + round(40 * 0.80)
    assert "tier.high" in names(decision)


def test_a_more_certain_high_risk_report_comes_first() -> None:
    assert priority(RiskTier.HIGH, 0.95, POLICY) > priority(RiskTier.HIGH, 0.40, POLICY)
    assert priority(RiskTier.MEDIUM, 0.99, POLICY) < priority(RiskTier.HIGH, 0.0, POLICY)


def test_medium_risk_is_auto_routed_to_the_top_areas_team() -> None:
    decision = decide(model("medium", (0.1, 0.85, 0.05), hate_speech=0.8, harassment=0.55, none=0.05))
    assert decision.action is Action.AUTO_ROUTE
    assert decision.queue == "hate_harassment"
    assert decision.sla_deadline == NOW + timedelta(minutes=1440)


def test_medium_risk_below_every_threshold_goes_to_the_strongest_areas_team() -> None:
    decision = decide(model("medium", (0.1, 0.85, 0.05), privacy=0.2, spam_fraud=0.3))
    assert decision.action is Action.AUTO_ROUTE
    assert decision.queue == "spam_fraud"
    assert "below its threshold" in decision.rules[-1].reason


def test_areas_are_compared_by_distance_to_their_own_thresholds() -> None:
    m = ModelView(tier=RiskTier.MEDIUM, tier_probs={"low": 0.1, "medium": 0.85, "high": 0.05},
                  area_probs={a: 0.01 for a in AREAS} | {"misinformation": 0.75, "spam_fraud": 0.6},
                  area_thresholds={a: 0.5 for a in AREAS} | {"misinformation": 0.9},
                  languages=frozenset({"en"}))
    assert m.predicted_areas == ["spam_fraud"]
    assert decide(m).queue == "spam_fraud"


def test_low_risk_is_auto_closed_without_a_queue() -> None:
    decision = decide(model())
    assert decision.action is Action.AUTO_CLOSE
    assert decision.queue is None and decision.sla_deadline is None
    assert names(decision) == ["tier.low"]


def test_low_risk_qa_sample_goes_to_review_deterministically() -> None:
    sampled = next(f"r-{i}" for i in range(1000) if qa_sampled(f"r-{i}", POLICY.low.qa_sample_rate))
    decision = decide(model(), report(report_id=sampled))
    assert decision.action is Action.REVIEW and decision.queue == "specialist_review"
    assert "low.qa_sample" in names(decision)
    assert decide(model(), report(report_id=sampled)) == decision  # the same report, the same draw


def test_qa_sample_rate_is_honoured() -> None:
    drawn = sum(qa_sampled(f"report-{i}", 0.02) for i in range(20_000))
    assert 300 < drawn < 500
    assert not any(qa_sampled(f"report-{i}", 0.0) for i in range(1000))


# --- grey areas -----------------------------------------------------------------------------------

def test_model_unsure_between_tiers_is_a_grey_area() -> None:
    decision = decide(model("medium", (0.40, 0.45, 0.15), hate_speech=0.7, none=0.1))
    assert decision.action is Action.REVIEW and decision.queue == "specialist_review"
    assert [r.name for r in decision.grey_area] == ["grey.tier_uncertain"]
    assert decision.sla_deadline == NOW + timedelta(minutes=240)


def test_areas_of_two_teams_near_their_thresholds_are_a_grey_area() -> None:
    rules = grey_area_rules(model("medium", (0.1, 0.8, 0.1), hate_speech=0.62, spam_fraud=0.45), "en",
                            report(), POLICY)
    assert [r.name for r in rules] == ["grey.areas_close"]
    assert "hate_speech (0.62, threshold 0.50), spam_fraud (0.45, threshold 0.50)" in rules[0].reason


def test_competing_areas_matter_only_where_the_area_picks_the_queue() -> None:
    m = model("low", (0.9, 0.05, 0.05), hate_speech=0.62, spam_fraud=0.45)  # low: auto-closed, whatever the area
    assert grey_area_rules(m, "en", report(), POLICY) == []
    assert [r.name for r in grey_area_rules(m, "en", report(), POLICY, RiskTier.MEDIUM)] == ["grey.areas_close"]


def test_areas_of_one_team_do_not_compete() -> None:
    m = model("medium", (0.1, 0.8, 0.1), hate_speech=0.62, harassment=0.58)
    assert grey_area_rules(m, "en", report(), POLICY) == []


def test_areas_far_below_their_thresholds_do_not_compete() -> None:
    assert grey_area_rules(model("low", (0.9, 0.05, 0.05), hate_speech=0.2, spam_fraud=0.19), "en",
                           report(), POLICY) == []


def test_a_thin_area_near_its_threshold_is_a_grey_area() -> None:
    for p in (0.4, 0.6):
        rules = grey_area_rules(model("low", (0.9, 0.05, 0.05), self_harm=p), "en", report(), POLICY)
        assert [r.name for r in rules] == ["grey.thin_area"]
    assert grey_area_rules(model("low", (0.9, 0.05, 0.05), self_harm=0.1), "en", report(), POLICY) == []


def test_undetected_language_is_a_grey_area() -> None:
    decision = decide(model(), lang=LanguageView(detected=None, confidence=0.0))
    assert decision.language is None
    assert [r.name for r in decision.grey_area] == ["grey.language_undetected"]
    assert decision.action is Action.REVIEW


def test_language_outside_the_evaluated_languages_is_a_grey_area() -> None:
    decision = decide(model(), lang=LanguageView(detected="sw", confidence=0.99))
    assert [r.name for r in decision.grey_area] == ["grey.language_unsupported"]


def test_unsure_detection_falls_back_to_the_intakes_hint() -> None:
    language, rules = resolve_language(LanguageView(detected="it", confidence=0.5, hint="fr-CA"), POLICY)
    assert language == "fr"
    assert [r.name for r in rules] == ["language.hint_used"]
    assert resolve_language(LanguageView(detected="it", confidence=0.5), POLICY) == (None, [])
    assert resolve_language(LanguageView(detected="zh", confidence=0.95, hint="en"), POLICY) == ("zh", [])


def test_trusted_flagger_reporting_what_the_model_scores_low_is_a_grey_area() -> None:
    rules = grey_area_rules(model(), "en", report(reporter_type="trusted_flagger", reporter_reason="hate_speech"),
                            POLICY)
    assert [r.name for r in rules] == ["grey.reporter_disagrees"]
    assert "as hate_speech" in rules[0].reason
    assert grey_area_rules(model(), "en", report(reporter_type="user"), POLICY) == []


def test_every_grey_reason_is_listed_not_just_the_first() -> None:
    decision = decide(model("low", (0.45, 0.40, 0.15), privacy=0.4), lang=LanguageView(detected=None, confidence=0))
    assert [r.name for r in decision.grey_area] == ["grey.tier_uncertain", "grey.thin_area",
                                                    "grey.language_undetected"]


def test_high_risk_grey_area_still_goes_to_human_escalation() -> None:
    decision = decide(model("high", (0.30, 0.32, 0.38), violence_incitement=0.6))
    assert decision.action is Action.ESCALATE and decision.queue == "human_escalation"
    assert decision.is_grey_area


# --- report signals -------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "rule"), [
    ({"report_count": 10}, "signal.report_count"),
    ({"account": {"followers": 250_000}}, "signal.high_reach"),
    ({"account": {"prior_strikes": 2}}, "signal.prior_strikes"),
])
def test_each_report_signal_raises_the_tier_with_its_reason(fields: dict[str, Any], rule: str) -> None:
    assert [r.name for r in signal_rules(report(**fields), POLICY)] == [rule]
    decision = decide(model("medium", (0.1, 0.85, 0.05), spam_fraud=0.9, none=0.05), report(**fields))
    assert decision.tier is RiskTier.HIGH
    assert decision.action is Action.ESCALATE
    assert names(decision)[:2] == [rule, "signal.tier_raised"]


def test_signals_below_their_thresholds_do_nothing() -> None:
    r = report(report_count=9, account={"followers": 99_999, "prior_strikes": 1})
    assert signal_rules(r, POLICY) == []


def test_signals_together_raise_at_most_max_raise_steps() -> None:
    r = report(report_count=50, account={"followers": 1_000_000, "prior_strikes": 5})
    decision = decide(model(), r)
    assert len(signal_rules(r, POLICY)) == 3
    assert decision.tier is RiskTier.MEDIUM  # low + at most one step


def test_raise_tier_stops_at_high() -> None:
    assert raise_tier(RiskTier.LOW, 1) is RiskTier.MEDIUM
    assert raise_tier(RiskTier.HIGH, 2) is RiskTier.HIGH


@pytest.mark.parametrize("reporter", ["press", "regulator", "law_enforcement"])
def test_sensitive_reporters_always_reach_a_person(reporter: str) -> None:
    decision = decide(model(), report(reporter_type=reporter))
    assert decision.action is Action.ESCALATE and decision.queue == "human_escalation"
    assert decision.priority >= POLICY.priority.sensitive_reporter_floor
    assert decision.sla_deadline == NOW + timedelta(minutes=POLICY.sla_minutes.sensitive_reporter)
    assert names(decision)[-1] == "reporter.sensitive"


def test_every_decision_lists_the_rules_that_fired_with_reasons() -> None:
    decision = decide(model("medium", (0.1, 0.85, 0.05), hate_speech=0.8), report(report_count=12))
    assert names(decision) == ["signal.report_count", "signal.tier_raised", "tier.high"]
    assert all(rule.reason for rule in decision.rules)


# --- the conformal grey zone -----------------------------------------------------------------------

CONFORMAL = Conformal(alpha=0.02, high_risk={"*": 0.05, "de": 0.02}, n_calibration_high={"*": 240, "de": 60})


def with_conformal(m: ModelView, conformal: Conformal | None = CONFORMAL) -> ModelView:
    return ModelView(m.tier, m.tier_probs, m.area_probs, m.area_thresholds, m.languages, conformal)


def test_a_low_score_whose_p_high_reaches_the_conformal_threshold_goes_to_a_specialist() -> None:
    m = with_conformal(model("low", (0.88, 0.06, 0.06)))
    decision = decide(m)
    assert decision.action is Action.REVIEW
    assert decision.queue == "specialist_review"
    [rule] = [r for r in decision.grey_area if r.name == "grey.high_risk_possible"]
    assert "0.060 reaches the conformal threshold 0.050 (pooled over languages, alpha 0.02)" in rule.reason
    assert "{low, high}" in rule.reason


def test_the_conformal_threshold_is_the_languages_own_where_it_has_one() -> None:
    m = with_conformal(model("low", (0.94, 0.03, 0.03)))
    assert prediction_set(m, "de", RiskTier.LOW) == [RiskTier.LOW, RiskTier.HIGH]  # 0.03 >= 0.02 (de)
    assert prediction_set(m, "en", RiskTier.LOW) == [RiskTier.LOW]  # 0.03 < 0.05 (pooled)
    assert decide(m, lang=LanguageView("de", 0.99)).action is Action.REVIEW
    assert decide(m).action is Action.AUTO_CLOSE


def test_a_report_below_the_conformal_threshold_is_routed_as_before() -> None:
    m = model("medium", (0.1, 0.86, 0.04), hate_speech=0.8, none=0.05)
    assert decide(with_conformal(m)) == decide(m)
    assert decide(with_conformal(m)).action is Action.AUTO_ROUTE


def test_high_risk_is_escalated_not_sent_to_review_by_the_conformal_rule() -> None:
    m = with_conformal(model("high", (0.05, 0.15, 0.80), violence_incitement=0.9, none=0.02))
    assert prediction_set(m, "en", RiskTier.HIGH) == [RiskTier.HIGH]
    assert decide(m).action is Action.ESCALATE
    assert "grey.high_risk_possible" not in names(decide(m))


def test_the_policy_can_turn_the_conformal_rule_off_and_old_artifacts_have_none() -> None:
    m = model("low", (0.88, 0.06, 0.06))
    off = POLICY.model_copy(update={"grey_area": POLICY.grey_area.model_copy(update={"conformal_high_risk": False})})
    assert decide(with_conformal(m), policy=off).action is Action.AUTO_CLOSE
    assert decide(with_conformal(m, None)).action is Action.AUTO_CLOSE


def test_a_conformal_block_without_the_pooled_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="pooled threshold"):
        Conformal(alpha=0.02, high_risk={"en": 0.1})
