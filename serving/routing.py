"""Routing rules: small pure functions from (scores, language, report signals, policy) to a decision.

Nothing here touches the model, the database or the clock: ``route`` gets the receive time as an
argument, and every rule that fires is recorded with a sentence saying why, so each stored decision
explains itself. The order of precedence, highest first:

1. report signals raise the model's tier (many reports, a high-reach account, prior strikes);
2. press, regulators and law enforcement always reach a person (``human_escalation``);
3. high risk goes to ``human_escalation``, priority by P(high), short SLA;
4. grey areas go to ``specialist_review``;
5. medium risk is auto-routed to the team queue of its strongest policy area;
6. low risk is auto-closed, except a QA sample (a hash of ``report_id``) sent to ``specialist_review``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from model.artifact import ArtifactMeta, Conformal
from model.schema import Report
from model.taxonomy import PolicyArea, RiskTier
from serving.policy import RoutingPolicy

if TYPE_CHECKING:
    from model.scorer import Score

TIER_ORDER = (RiskTier.LOW, RiskTier.MEDIUM, RiskTier.HIGH)


class Action(StrEnum):
    ESCALATE = "escalate"  # a person must act quickly (human_escalation)
    REVIEW = "review"  # a specialist decides (grey area or QA sample)
    AUTO_ROUTE = "auto_route"  # straight to a policy team's queue
    AUTO_CLOSE = "auto_close"  # no action needed


class RuleName(StrEnum):
    """Every rule's stable name, as metrics, audits, stored routes and the console show it."""

    GREY_AREAS_CLOSE = "grey.areas_close"
    GREY_HIGH_RISK_POSSIBLE = "grey.high_risk_possible"
    GREY_LANGUAGE_UNDETECTED = "grey.language_undetected"
    GREY_LANGUAGE_UNSUPPORTED = "grey.language_unsupported"
    GREY_REPORTER_DISAGREES = "grey.reporter_disagrees"
    GREY_THIN_AREA = "grey.thin_area"
    GREY_TIER_UNCERTAIN = "grey.tier_uncertain"
    LANGUAGE_HINT_USED = "language.hint_used"
    LOW_QA_SAMPLE = "low.qa_sample"
    REPORTER_SENSITIVE = "reporter.sensitive"
    ROUTE_GREY_AREA = "route.grey_area"
    SIGNAL_HIGH_REACH = "signal.high_reach"
    SIGNAL_PRIOR_STRIKES = "signal.prior_strikes"
    SIGNAL_REPORT_COUNT = "signal.report_count"
    SIGNAL_TIER_RAISED = "signal.tier_raised"
    TIER_HIGH = "tier.high"
    TIER_LOW = "tier.low"
    TIER_MEDIUM = "tier.medium"


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule that fired: a stable name (for metrics and audits) and a sentence for people."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class ModelView:
    """What the model said about one report: its tier, calibrated probabilities, the per-area thresholds it
    is deployed with, and the languages it was evaluated on."""

    tier: RiskTier
    tier_probs: Mapping[str, float]
    area_probs: Mapping[str, float]
    area_thresholds: Mapping[str, float]
    languages: frozenset[str]
    #: The artifact's conformal high-risk thresholds (None for an artifact without them).
    conformal: Conformal | None = None

    @classmethod
    def from_score(cls, score: Score, meta: ArtifactMeta) -> ModelView:
        """The view of one report scored by the artifact ``meta`` describes."""
        return cls(tier=RiskTier(score.tier), tier_probs=score.tier_probs, area_probs=score.area_probs,
                   area_thresholds=meta.thresholds.areas, languages=frozenset(meta.languages),
                   conformal=meta.conformal)

    def evidence(self, area: str) -> float:
        """How far the area's probability is above (or below) its own threshold: areas' raw probabilities
        are not comparable (a 0.8 may be below one area's threshold and far above another's)."""
        return self.area_probs.get(area, 0.0) - self.area_thresholds.get(area, 0.5)

    def violation_areas(self) -> list[str]:
        """Policy areas (not ``none``), strongest evidence first."""
        return sorted((a for a in self.area_probs if a != PolicyArea.NONE), key=self.evidence, reverse=True)

    @property
    def predicted_areas(self) -> list[str]:
        return [a for a in self.violation_areas() if self.evidence(a) >= 0]


@dataclass(frozen=True, slots=True)
class LanguageView:
    """The detector's best guess (``None`` when it had nothing to go on) and the intake's hint."""

    detected: str | None
    confidence: float
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    action: Action
    queue: str | None
    priority: int
    sla_deadline: datetime | None
    tier: RiskTier
    language: str | None
    grey_area: tuple[Rule, ...]
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    #: The language market, for a queue the policy splits by market (``[markets]``); None otherwise.
    market: str | None = None

    @property
    def is_grey_area(self) -> bool:
        return bool(self.grey_area)


# --- language -------------------------------------------------------------------------------------

def base_language(tag: str) -> str:
    """``pt-BR`` -> ``pt``; ``zh-cn`` -> ``zh``: the model's languages are ISO 639-1 codes."""
    return tag.split("-")[0].lower()


def resolve_language(lang: LanguageView, policy: RoutingPolicy) -> tuple[str | None, list[Rule]]:
    """The language routing uses: the detector's if confident, else the intake's hint, else none."""
    threshold = policy.grey_area.min_language_confidence
    if lang.detected is not None and lang.confidence >= threshold:
        return base_language(lang.detected), []
    if lang.hint is not None:
        return base_language(lang.hint), [Rule(
            RuleName.LANGUAGE_HINT_USED,
            f"detection was not confident ({lang.confidence:.2f} < {threshold:.2f}); "
            f"used the intake's language hint {lang.hint!r}",
        )]
    return None, []


# --- report signals -------------------------------------------------------------------------------

def signal_rules(report: Report, policy: RoutingPolicy) -> list[Rule]:
    """Report signals that argue for a higher tier than the text alone."""
    s = policy.signals
    fired = []
    if report.report_count >= s.report_count_at_least:
        fired.append(Rule(RuleName.SIGNAL_REPORT_COUNT,
                          f"{report.report_count} reports on the same content (>= {s.report_count_at_least})"))
    followers = report.account.followers
    if followers is not None and followers >= s.followers_at_least:
        fired.append(Rule(RuleName.SIGNAL_HIGH_REACH,
                          f"high-reach account: {followers:,} followers (>= {s.followers_at_least:,})"))
    strikes = report.account.prior_strikes
    if strikes is not None and strikes >= s.prior_strikes_at_least:
        fired.append(Rule(RuleName.SIGNAL_PRIOR_STRIKES,
                          f"account has {strikes} prior strikes (>= {s.prior_strikes_at_least})"))
    return fired


def raise_tier(tier: RiskTier, steps: int) -> RiskTier:
    return TIER_ORDER[min(TIER_ORDER.index(tier) + steps, len(TIER_ORDER) - 1)]


def is_sensitive_reporter(report: Report, policy: RoutingPolicy) -> Rule | None:
    if report.reporter_type in policy.signals.sensitive_reporters:
        return Rule(RuleName.REPORTER_SENSITIVE,
                    f"reported by {report.reporter_type.value.replace('_', ' ')}: always reviewed by a person")
    return None


# --- grey areas -----------------------------------------------------------------------------------

def _top_two(probs: Mapping[str, float]) -> list[tuple[str, float]]:
    return sorted(probs.items(), key=lambda kv: kv[1], reverse=True)[:2]


def grey_area_rules(model: ModelView, language: str | None, report: Report, policy: RoutingPolicy,
                    tier: RiskTier | None = None) -> list[Rule]:
    """Why a report is a grey area (empty when it is not): every reason, not just the first.

    ``tier`` is the tier routing acts on (the model's, raised by signals); competing areas matter only
    when it is medium, the one tier whose queue the area chooses."""
    g = policy.grey_area
    fired = []
    (t1, p1), (t2, p2) = _top_two(model.tier_probs)
    if p1 - p2 < g.tier_margin:
        fired.append(Rule(RuleName.GREY_TIER_UNCERTAIN,
                          f"the model is unsure between {t1} ({p1:.2f}) and {t2} ({p2:.2f}); "
                          f"margin {p1 - p2:.2f} < {g.tier_margin:.2f}"))
    near = [a for a in model.violation_areas() if model.evidence(a) >= -g.area_margin]
    teams = {policy.area_queue(PolicyArea(a)) for a in near}
    if (tier or model.tier) is RiskTier.MEDIUM and len(teams) >= 2:
        listed = ", ".join(f"{a} ({model.area_probs[a]:.2f}, threshold {model.area_thresholds[a]:.2f})"
                           for a in near[:3])
        fired.append(Rule(RuleName.GREY_AREAS_CLOSE,
                          f"policy areas of different teams compete: {listed}"))
    for area in sorted(g.thin_areas):
        p, t = model.area_probs.get(area.value, 0.0), model.area_thresholds.get(area.value, 0.5)
        if abs(p - t) < g.thin_area_margin:
            fired.append(Rule(RuleName.GREY_THIN_AREA,
                              f"{area.value} at {p:.2f}, within {g.thin_area_margin:.2f} of its threshold {t:.2f}: "
                              "an area with little training data, so a person decides"))
    conformal = conformal_rule(model, language, tier or model.tier) if g.conformal_high_risk else None
    if conformal is not None:
        fired.append(conformal)
    if language is None:
        fired.append(Rule(RuleName.GREY_LANGUAGE_UNDETECTED,
                          "the language could not be detected and no hint was given"))
    elif language not in model.languages:
        fired.append(Rule(RuleName.GREY_LANGUAGE_UNSUPPORTED,
                          f"language {language!r} is outside the languages the model was evaluated on"))
    if report.reporter_type in g.trusted_reporters and model.tier is RiskTier.LOW:
        reason = f" as {report.reporter_reason.value}" if report.reporter_reason else ""
        fired.append(Rule(RuleName.GREY_REPORTER_DISAGREES,
                          f"a {report.reporter_type.value.replace('_', ' ')} reported this{reason}; "
                          f"the model scores it low"))
    return fired


def prediction_set(model: ModelView, language: str | None, tier: RiskTier) -> list[RiskTier]:
    """The tiers a report may be in: the tier routing acts on, plus ``high`` when P(high) reaches the
    conformal threshold for the report's language (the pooled one for a language without its own)."""
    tiers = {tier}
    if model.conformal is not None and model.tier_probs.get(RiskTier.HIGH, 0.0) >= model.conformal.threshold(language):
        tiers.add(RiskTier.HIGH)
    return [t for t in TIER_ORDER if t in tiers]


def conformal_rule(model: ModelView, language: str | None, tier: RiskTier) -> Rule | None:
    """High risk cannot be ruled out at the guaranteed miss rate, though the tier is lower."""
    tiers = prediction_set(model, language, tier)
    if len(tiers) < 2 or model.conformal is None:
        return None
    c = model.conformal
    own = language is not None and language in c.high_risk
    where = f"for {language}" if own else "pooled over languages"
    return Rule(RuleName.GREY_HIGH_RISK_POSSIBLE,
                f"P(high) = {model.tier_probs.get(RiskTier.HIGH, 0.0):.3f} reaches the conformal threshold "
                f"{c.threshold(language):.3f} ({where}, alpha {c.alpha:g}): prediction set "
                f"{{{', '.join(tiers)}}}, so high risk cannot be ruled out")


# --- routing --------------------------------------------------------------------------------------

def qa_sampled(report_id: str, rate: float) -> bool:
    """A deterministic draw from ``report_id``: the same report is always sampled the same way."""
    digest = hashlib.sha256(report_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def priority(tier: RiskTier, p_high: float, policy: RoutingPolicy) -> int:
    band = policy.priority.band(tier)
    return round(band.base + band.span * p_high)


def top_area(model: ModelView) -> PolicyArea:
    """The area a medium-risk report is routed by: the violation area with the strongest evidence (a
    predicted one if any), as auto-routing needs a team."""
    areas = model.violation_areas()
    return PolicyArea(areas[0]) if areas else PolicyArea.NONE


def page_at(queue: str, created_at: datetime, due_at: datetime | None, policy: RoutingPolicy) -> datetime | None:
    """When an item of ``queue`` created at ``created_at``, due at ``due_at``, pages its queue's on-call contact
    if nobody has claimed it: after ``on_call.unclaimed_share`` of its SLA. None for a queue that does not page
    or an item without a deadline."""
    if due_at is None or queue not in policy.on_call.queues:
        return None
    return created_at + (due_at - created_at) * policy.on_call.unclaimed_share


def route(
    report: Report,
    model: ModelView,
    lang: LanguageView,
    policy: RoutingPolicy,
    received_at: datetime,
) -> Route:
    rules: list[Rule] = []
    language, language_rules = resolve_language(lang, policy)
    rules += language_rules

    signals = signal_rules(report, policy)
    rules += signals
    tier = raise_tier(model.tier, min(len(signals), policy.signals.max_raise))
    if tier is not model.tier:
        rules.append(Rule(RuleName.SIGNAL_TIER_RAISED, f"report signals raised the tier from {model.tier} to {tier}"))

    grey = grey_area_rules(model, language, report, policy, tier)
    rules += grey
    p_high = model.tier_probs.get(RiskTier.HIGH, 0.0)
    prio = priority(tier, p_high, policy)
    minutes = policy.sla_minutes
    queues = policy.queues

    def decided(action: Action, queue: str | None, sla: int | None, *why: Rule, prio: int = prio) -> Route:
        deadline = received_at + timedelta(minutes=sla) if sla is not None else None
        return Route(action, queue, prio, deadline, tier, language, tuple(grey), tuple(rules) + why,
                     market=policy.market(queue, language))

    sensitive = is_sensitive_reporter(report, policy)
    if sensitive is not None:
        sla = minutes.high if tier is RiskTier.HIGH else minutes.sensitive_reporter
        return decided(Action.ESCALATE, queues.human_escalation, sla, sensitive,
                       prio=max(prio, policy.priority.sensitive_reporter_floor))
    if tier is RiskTier.HIGH:
        return decided(Action.ESCALATE, queues.human_escalation, minutes.high,
                       Rule(RuleName.TIER_HIGH, f"high risk (P(high) = {p_high:.2f}): escalated to a person"))
    if grey:
        return decided(Action.REVIEW, queues.specialist_review, minutes.specialist_review,
                       Rule(RuleName.ROUTE_GREY_AREA, "grey area: sent to specialist review"))
    if tier is RiskTier.MEDIUM:
        area = top_area(model)
        if area is PolicyArea.NONE:
            return decided(Action.AUTO_ROUTE, queues.general, minutes.medium,
                           Rule(RuleName.TIER_MEDIUM, "medium risk with no policy area: general review queue"))
        strength = "predicted" if model.evidence(area) >= 0 else "strongest, though below its threshold,"
        return decided(Action.AUTO_ROUTE, policy.area_queue(area), minutes.medium,
                       Rule(RuleName.TIER_MEDIUM, f"medium risk, {strength} area {area.value}: its team's queue"))
    if qa_sampled(report.report_id, policy.low.qa_sample_rate):
        return decided(Action.REVIEW, queues.specialist_review, minutes.qa_sample,
                       Rule(RuleName.LOW_QA_SAMPLE,
                            f"low risk, drawn for the QA sample ({policy.low.qa_sample_rate:.0%})"))
    return decided(Action.AUTO_CLOSE, None, None, Rule(RuleName.TIER_LOW, "low risk: auto-closed"))
