"""The routing policy file's schema: loaded and validated once at start-up, then passed to the rules.

An unknown key, a queue missing for a policy area, or a rate outside [0, 1] stops the server at start-up
with the file's name and the offending key, rather than misrouting reports later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from model.schema import ReporterType
from model.taxonomy import PolicyArea, RiskTier
from serving.config_files import load_toml

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
#: What a queue and a language market may be called: the API and the console refuse any other name by name.
QUEUE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
MARKET_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
QueueName = Annotated[str, Field(pattern=QUEUE_NAME_PATTERN)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Queues(_Section):
    human_escalation: QueueName
    specialist_review: QueueName
    general: QueueName


class SlaMinutes(_Section):
    high: Annotated[int, Field(gt=0)]
    medium: Annotated[int, Field(gt=0)]
    specialist_review: Annotated[int, Field(gt=0)]
    sensitive_reporter: Annotated[int, Field(gt=0)]
    qa_sample: Annotated[int, Field(gt=0)]


class PriorityBand(_Section):
    base: Annotated[int, Field(ge=0, le=100)]
    span: Annotated[int, Field(ge=0, le=100)]

    @model_validator(mode="after")
    def _within_range(self) -> PriorityBand:
        if self.base + self.span > 100:
            raise ValueError("base + span must be at most 100")
        return self


class Priority(_Section):
    high: PriorityBand
    medium: PriorityBand
    low: PriorityBand
    sensitive_reporter_floor: Annotated[int, Field(ge=0, le=100)]

    @model_validator(mode="after")
    def _bands_ordered(self) -> Priority:
        if not (self.low.base + self.low.span < self.medium.base
                and self.medium.base + self.medium.span < self.high.base):
            raise ValueError("priority bands must not overlap: low < medium < high")
        return self

    def band(self, tier: RiskTier) -> PriorityBand:
        band: PriorityBand = getattr(self, tier.value)
        return band


class Low(_Section):
    qa_sample_rate: Probability


class GreyArea(_Section):
    tier_margin: Probability
    area_margin: Probability
    min_language_confidence: Probability
    thin_areas: frozenset[PolicyArea]
    thin_area_margin: Probability
    trusted_reporters: frozenset[ReporterType]
    #: Send a report the model does not call high to a person when its P(high) reaches the artifact's
    #: conformal threshold for its language (the guaranteed-miss-rate grey zone, see model.artifact.Conformal).
    conformal_high_risk: bool = True


class Signals(_Section):
    max_raise: Annotated[int, Field(ge=0, le=2)]
    report_count_at_least: Annotated[int, Field(ge=2)]
    followers_at_least: Annotated[int, Field(ge=1)]
    prior_strikes_at_least: Annotated[int, Field(ge=1)]
    sensitive_reporters: frozenset[ReporterType]


class Review(_Section):
    lease_minutes: Annotated[int, Field(gt=0, le=24 * 60)]
    second_review_rate: Probability
    second_review_queues: frozenset[QueueName]


class Appeals(_Section):
    """Complaints against decisions (DSA Art. 20): their own queue, SLA and priority."""

    queue: QueueName
    sla_minutes: Annotated[int, Field(gt=0)]
    priority: Annotated[int, Field(ge=0, le=100)]
    #: How long after a decision it may be appealed (the DSA asks for at least six months).
    window_days: Annotated[int, Field(ge=183, le=3650)] = 183


LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
MarketName = Annotated[str, Field(pattern=MARKET_NAME_PATTERN)]


class Markets(_Section):
    """Language markets: the queues in ``split_queues`` keep one backlog (and SLA status) per market, and a
    report goes to the market of its language, or to ``other``."""

    split_queues: frozenset[QueueName] = frozenset()
    #: A market's languages (ISO 639-1 codes); a language belongs to one market at most.
    languages: dict[MarketName, frozenset[LanguageCode]] = Field(default_factory=dict)
    #: The market of a report whose language no market lists (or that has none).
    other: MarketName = "other"

    @model_validator(mode="after")
    def _one_market_per_language(self) -> Markets:
        seen: dict[str, str] = {}
        for market, codes in sorted(self.languages.items()):
            for code in sorted(codes):
                if code in seen:
                    raise ValueError(f"language {code!r} is in two markets: {seen[code]} and {market}")
                seen[code] = market
        if self.other in self.languages:
            raise ValueError(f"other: {self.other!r} is also a market with languages")
        return self

    def market_of(self, language: str | None) -> str:
        for market, codes in self.languages.items():
            if language in codes:
                return market
        return self.other


class OnCall(_Section):
    """Paging: an item of these queues still unclaimed after ``unclaimed_share`` of its SLA pages the queue's
    on-call contact (webhook event ``queue_item.unclaimed``; the contact comes from the queue's rota file)."""

    queues: frozenset[QueueName] = frozenset()
    unclaimed_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5


class RoutingPolicy(_Section):
    version: Annotated[str, Field(min_length=1, max_length=64)]
    queues: Queues
    area_queues: dict[PolicyArea, QueueName]
    sla_minutes: SlaMinutes
    priority: Priority
    low: Low
    grey_area: GreyArea
    signals: Signals
    review: Review
    appeals: Appeals
    markets: Markets = Markets()
    on_call: OnCall = OnCall()

    @model_validator(mode="after")
    def _every_area_has_a_queue(self) -> RoutingPolicy:
        missing = [a.value for a in PolicyArea if a is not PolicyArea.NONE and a not in self.area_queues]
        if missing:
            raise ValueError(f"area_queues has no queue for {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _queues_named_exist(self) -> RoutingPolicy:
        known = self.queue_names
        for section, named in (("markets.split_queues", self.markets.split_queues),
                               ("on_call.queues", self.on_call.queues)):
            unknown = sorted(named - known)
            if unknown:
                raise ValueError(f"{section} names no queue of this policy: {', '.join(unknown)}")
        return self

    @property
    def queue_names(self) -> frozenset[str]:
        """Every queue this policy routes to, the appeals queue included."""
        return frozenset({self.queues.human_escalation, self.queues.specialist_review, self.queues.general,
                          self.appeals.queue, *self.area_queues.values()})

    def market(self, queue: str | None, language: str | None) -> str | None:
        """The language market of an item of ``queue`` in ``language``: None for a queue not split by market."""
        if queue is None or queue not in self.markets.split_queues:
            return None
        return self.markets.market_of(language)

    def area_queue(self, area: PolicyArea) -> str:
        return self.area_queues.get(area, self.queues.general)


class PolicyError(ValueError):
    """The routing policy file is missing or invalid; the message names the file and the key."""


def load_policy(path: Path) -> RoutingPolicy:
    return load_toml(path, RoutingPolicy, "routing policy", PolicyError)
