"""The API's request and response bodies. The report itself is ``model.schema.Report``, shared with
training, so the API refuses exactly what the corpus reader refuses, with the same messages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from model.schema import ID_PATTERN, MAX_ID_CHARS, MAX_NOTE_CHARS, Report

MAX_BATCH = 256


class BatchScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reports: Annotated[list[Report], Field(min_length=1, max_length=MAX_BATCH)]


class FiredRule(BaseModel):
    name: str = Field(description="Stable rule name, e.g. grey.tier_uncertain or signal.report_count.")
    reason: str


class RiskOut(BaseModel):
    tier: str = Field(description="The tier routing acted on: the model's, raised by report signals if any fired.")
    model_tier: str = Field(description="The model's own tier (calibrated, at the deployed high-risk threshold).")
    probabilities: dict[str, float] = Field(description="Calibrated tier probabilities.")
    high_risk_threshold: float


class AreaOut(BaseModel):
    area: str
    probability: float = Field(description="Calibrated probability. Compare it with the area's threshold: "
                                           "raw probabilities are not comparable across areas.")
    threshold: float = Field(description="The area's decision threshold (chosen on the calibration split).")
    predicted: bool = Field(description="At or above the area's threshold.")


class LanguageOut(BaseModel):
    code: str | None = Field(description="The language routing used (detected, or the hint when detection "
                                         "was unsure); null when undetected.")
    detected: str | None
    confidence: float
    hint: str | None
    supported: bool = Field(description="Among the languages the model was evaluated on.")


class RouteOut(BaseModel):
    action: str = Field(description="escalate, review, auto_route or auto_close.")
    queue: str | None
    market: str | None = Field(default=None, description="The report's language market, for a queue the routing "
                               "policy splits by market (its [markets] section); null otherwise.")
    priority: int = Field(description="0-100, higher first.")
    sla_deadline: datetime | None
    reasons: list[FiredRule] = Field(description="Every rule that fired, in the order they were applied.")


class GreyAreaOut(BaseModel):
    is_grey_area: bool
    reasons: list[FiredRule]


class ModelOut(BaseModel):
    name: str
    version: str


class Decision(BaseModel):
    report_id: str
    risk: RiskOut
    policy_areas: list[AreaOut] = Field(description="Every area: predicted ones first, then by how close each "
                                                    "is to its threshold.")
    language: LanguageOut
    route: RouteOut
    grey_area: GreyAreaOut
    model: ModelOut
    policy_version: str
    received_at: datetime
    replayed: bool = Field(description="True when this report_id was already scored: the stored decision.")


class BatchDecision(BaseModel):
    results: list[Decision]


class FieldError(BaseModel):
    field: str = Field(description="Where in the request, e.g. reports[3].text.")
    message: str


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code: invalid_request, unauthorized, forbidden, conflict, ...")
    message: str
    fields: list[FieldError] | None = None


class QueueOut(BaseModel):
    queue: str
    open: int = Field(description="Items waiting to be claimed (expired leases included).")
    claimed: int = Field(description="Items held under a live lease.")
    overdue: int = Field(description="Undecided items past their SLA deadline.")
    oldest_open_age_seconds: float | None
    next_due_at: datetime | None
    sla_status: str = Field(description="breached (something overdue), at_risk (due within the hour) or ok.")
    markets: list[MarketOut] = Field(default_factory=list, description="The same per language market, for a "
                                     "queue the routing policy splits by market.")


class MarketOut(BaseModel):
    market: str
    open: int
    claimed: int
    overdue: int
    oldest_open_age_seconds: float | None
    next_due_at: datetime | None
    sla_status: str


class QueuesOut(BaseModel):
    queues: list[QueueOut]


class ReportOut(BaseModel):
    report_id: str
    text: str = Field(description="The reported content as sent (sensitive).")
    language_hint: str | None
    reporter_type: str
    channel: str
    surface: str
    reporter_reason: str | None
    followers: int | None
    prior_strikes: int | None
    report_count: int
    created_at: datetime


class ItemOut(BaseModel):
    id: int
    queue: str
    kind: str = Field(description="primary, qa (a low-risk QA sample), second_review (blind) or appeal.")
    status: str
    priority: int
    due_at: datetime | None
    created_at: datetime
    claimed_by: str | None
    lease_expires_at: datetime | None
    language: str | None = None
    market: str | None = Field(default=None, description="The language market, in a queue split by market.")
    report: ReportOut
    decision: Decision = Field(description="The model's scores and the routing decision.")
    appeal: AppealOut | None = Field(default=None, description="For an appeal: the appeal and the contested "
                                                               "decision, side by side.")


class ReassignRequest(BaseModel):
    to: str = Field(pattern=r"^[a-f0-9]{12}$", description="The key id of the reviewer to hand the item to.")


class ReviewDecisionOut(BaseModel):
    id: int
    queue_item_id: int
    report_id: str
    reviewer: str
    risk_tier: str
    policy_areas: list[str]
    action: str
    note: str | None
    model_version: str
    decided_at: datetime


class SeriesOut(BaseModel):
    area: str
    language: str
    counts: list[int] = Field(description="Reports per window, oldest first; the last is the latest window.")
    latest: int
    baseline: float = Field(description="Mean reports per window before the latest (at least 0.5).")
    p_value: float = Field(description="P(at least `latest` reports | the baseline rate): one-sided Poisson.")
    alert: bool


class TrendsOut(BaseModel):
    end: datetime
    window_minutes: int
    windows: int
    alerts: int
    series: list[SeriesOut]


class Appellant(StrEnum):
    #: The side that reported the content (it was left up, or not acted on enough).
    REPORTER = "reporter"
    #: The user whose content or account the decision acted on.
    AFFECTED_USER = "affected_user"


class AppealRequest(BaseModel):
    """A complaint against the latest decision on a report (EU DSA Art. 20)."""

    model_config = ConfigDict(extra="forbid")

    appeal_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN,
                                    description="Your id for the appeal: sending it again returns the stored "
                                                "appeal (idempotent), other content under it is a conflict.")]
    appellant: Appellant
    reason: Annotated[str, Field(max_length=MAX_NOTE_CHARS, pattern=r"^[^\x00]*$",
                                 description="The appellant's reasons, as they gave them (sensitive).")] | None = None


class ContestedOut(BaseModel):
    action: str = Field(description="The contested action: a review action, or auto_close (routing's automated "
                                    "decision on a low-risk report).")
    automated: bool
    decided_at: datetime = Field(description="When the contested decision was made (routing's, when automated).")
    decision: ReviewDecisionOut | None = Field(description="The reviewer's decision; null when automated.")


class AppealOut(BaseModel):
    appeal_id: str
    report_id: str
    appellant: str
    reason: str | None
    received_at: datetime
    status: str = Field(description="open or decided.")
    outcome: str | None = Field(description="upheld (the appeal's action is the contested one) or reversed; null "
                                            "while open.")
    queue_item_id: int
    queue: str
    due_at: datetime | None
    contested: ContestedOut
    decision: ReviewDecisionOut | None = Field(description="The appeal's decision, once decided.")
    decided_at: datetime | None
    replayed: bool = False


QueueOut.model_rebuild()
ItemOut.model_rebuild()
