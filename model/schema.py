"""Schemas shared by training and serving: the report an intake system sends, and a labelled example.

Limits are part of the schema, so an API, a CLI and a corpus reader reject the same things with the same
messages. Text limits apply after normalisation (``model.text``), because that is what the model sees.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from model.taxonomy import PolicyArea, RiskTier
from model.text import normalize_text

MAX_TEXT_CHARS = 10_000
#: A report's text as sent may be longer (links, handles, invisible characters), within reason.
MAX_SUBMITTED_TEXT_CHARS = 4 * MAX_TEXT_CHARS

#: BCP-47-style language tag as intake systems send it: ISO 639-1/3 code, optional region or script.
LANGUAGE_PATTERN = r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$"
#: An id the client chooses (``report_id``, ``appeal_id``): at most ``MAX_ID_CHARS``, no spaces or NUL characters.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
MAX_ID_CHARS = 128


def _normalized_text(value: str) -> str:
    text = normalize_text(value)
    if not text:
        raise ValueError("text is empty after normalisation (only whitespace, control or invisible characters)")
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text has {len(text)} characters after normalisation; the limit is {MAX_TEXT_CHARS}")
    return text


def _submitted_text(value: str) -> str:
    """The text as sent, checked by what the model will see; only NUL characters (which no database text
    column holds) are dropped."""
    _normalized_text(value)
    return value.replace("\x00", "")


#: Report text: normalised, then 1 to 10,000 characters.
ReportText = Annotated[str, Field(min_length=1), AfterValidator(_normalized_text)]
#: Report text as an intake system sends it: kept as sent (reviewers see the links and handles), valid when
#: its normalised form is 1 to 10,000 characters.
SubmittedText = Annotated[str, Field(min_length=1, max_length=MAX_SUBMITTED_TEXT_CHARS),
                          AfterValidator(_submitted_text)]
LanguageTag = Annotated[str, Field(pattern=LANGUAGE_PATTERN, max_length=35)]


class ReporterType(StrEnum):
    USER = "user"
    TRUSTED_FLAGGER = "trusted_flagger"
    PARTNER = "partner"
    PRESS = "press"
    REGULATOR = "regulator"
    LAW_ENFORCEMENT = "law_enforcement"
    INTERNAL = "internal"


class Channel(StrEnum):
    """How the report reached the platform."""

    IN_APP = "in_app"
    WEB_FORM = "web_form"
    EMAIL = "email"
    API = "api"
    PARTNER_PORTAL = "partner_portal"
    LEGAL_REQUEST = "legal_request"
    OTHER = "other"


class Surface(StrEnum):
    """Where the reported content lives."""

    POST = "post"
    COMMENT = "comment"
    MESSAGE = "message"
    PROFILE = "profile"
    AD = "ad"
    LIVE = "live"
    LISTING = "listing"
    OTHER = "other"


class _Strict(BaseModel):
    # Unknown fields are refused: a misspelt field name is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AccountSignals(_Strict):
    """What is known about the reported account."""

    followers: Annotated[int, Field(ge=0, le=10_000_000_000)] | None = None
    prior_strikes: Annotated[int, Field(ge=0, le=10_000)] | None = None


class Report(_Strict):
    """A report about a piece of content, as an intake system sends it."""

    report_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
    text: SubmittedText = Field(description="The reported content as sent; the model scores its normalised "
                                            "form (1 to 10,000 characters).")
    language: LanguageTag | None = Field(default=None, description="The intake system's language hint, if any.")
    reporter_type: ReporterType = ReporterType.USER
    channel: Channel = Channel.IN_APP
    surface: Surface = Surface.POST
    reporter_reason: PolicyArea | None = Field(
        default=None, description="The policy area the reporter chose, mapped to the taxonomy by the intake."
    )
    account: AccountSignals = Field(default_factory=AccountSignals)
    report_count: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        default=1, description="How many reports the same content has received."
    )
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @property
    def normalized_text(self) -> str:
        """What the model sees (``model.text.normalize_text``)."""
        return normalize_text(self.text)

    @field_validator("created_at")
    @classmethod
    def _timezone_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("created_at needs a timezone (e.g. 2026-11-22T10:00:00Z)")
        return value.astimezone(UTC)


class Split(StrEnum):
    TRAIN = "train"
    VALIDATION = "validation"
    CALIBRATION = "calibration"
    TEST = "test"
    #: Every row of a held-out source (``training.data.build.OOD_SOURCES``): never trained, validated or
    #: calibrated on; ``triage evaluate --ood`` scores it per source.
    OOD = "ood"


class LabelledExample(_Strict):
    """One row of the training corpus.

    ``policy_areas`` lists the areas that apply. ``unknown_areas`` lists the areas the source does not
    label: a loss must ignore them rather than treat them as negatives. Every other area is a negative.
    ``policy_areas`` may be empty when the labelling is partial (e.g. "offensive, not hate" leaves open
    whether it is harassment or no violation at all); the risk tier is always known.
    """

    row_id: Annotated[str, Field(min_length=1)]
    text: ReportText
    language: LanguageTag
    policy_areas: tuple[PolicyArea, ...]
    unknown_areas: tuple[PolicyArea, ...] = ()
    risk_tier: RiskTier
    source: Annotated[str, Field(min_length=1)]
    source_split: Annotated[str, Field(min_length=1)]
    licence: Annotated[str, Field(min_length=1)]
    split: Split | None = None
    group_id: str | None = Field(default=None, description="Rows sharing a group stay in one split.")
    label_confidence: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0

    @model_validator(mode="after")
    def _consistent_labels(self) -> LabelledExample:
        if not self.policy_areas and not self.unknown_areas:
            raise ValueError("policy_areas needs at least one area (use 'none' when no area applies)")
        if len(set(self.policy_areas)) != len(self.policy_areas):
            raise ValueError("policy_areas lists an area twice")
        overlap = set(self.policy_areas) & set(self.unknown_areas)
        if overlap:
            raise ValueError(f"areas {sorted(overlap)} are both in policy_areas and in unknown_areas")
        if PolicyArea.NONE in self.policy_areas and len(self.policy_areas) > 1:
            raise ValueError("'none' cannot be combined with other policy areas")
        if self.policy_areas == (PolicyArea.NONE,) and self.risk_tier is not RiskTier.LOW:
            raise ValueError(f"a row with policy area 'none' must be risk tier low, not {self.risk_tier}")
        return self


class ReviewAction(StrEnum):
    """What a specialist decided to do about the reported content."""

    NO_VIOLATION = "no_violation"
    REMOVE = "remove"
    RESTRICT = "restrict"
    AGE_RESTRICT = "age_restrict"
    WARN_USER = "warn_user"
    SUSPEND_ACCOUNT = "suspend_account"
    ESCALATE_LEGAL = "escalate_legal"
    ESCALATE_PARTNER = "escalate_partner"
    ESCALATE_LAW_ENFORCEMENT = "escalate_law_enforcement"


MAX_NOTE_CHARS = 2_000


class ReviewDecision(_Strict):
    """A specialist's decision on a queue item: the labels it becomes in the corpus, and the action taken.

    The label rules are the corpus's (``LabelledExample``), so every decision can be exported as training
    data: ``none`` stands alone and means low risk; "no violation" means ``none``."""

    risk_tier: RiskTier
    policy_areas: Annotated[list[PolicyArea], Field(min_length=1, max_length=len(PolicyArea))]
    action: ReviewAction
    #: A NUL character is refused (no database text column holds one), not silently dropped: a note is the
    #: specialist's own words.
    note: Annotated[str, Field(max_length=MAX_NOTE_CHARS, pattern=r"^[^\x00]*$")] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ReviewDecision:
        if len(set(self.policy_areas)) != len(self.policy_areas):
            raise ValueError("policy_areas lists an area twice")
        if PolicyArea.NONE in self.policy_areas and len(self.policy_areas) > 1:
            raise ValueError("'none' cannot be combined with other policy areas")
        is_none = self.policy_areas == [PolicyArea.NONE]
        if is_none and self.risk_tier is not RiskTier.LOW:
            raise ValueError(f"policy area 'none' means risk tier low, not {self.risk_tier}")
        if (self.action is ReviewAction.NO_VIOLATION) != is_none:
            raise ValueError("action no_violation goes with policy area 'none', and only with it")
        return self


class ExportedDecision(BaseModel):
    """One line of a decisions export (``triage decisions export``, ``serving.decisions``): a row of the
    generic labelled-report format (``training.data.generic``) whose provenance fields the corpus keeps as
    metadata. Written by serving; read by ``triage data build --decisions`` and ``triage evaluate
    --decisions``. Field order is the file's key order."""

    model_config = ConfigDict(extra="forbid")

    text: str
    language: str
    policy_areas: list[str]
    risk_tier: str
    id: str
    #: The ``report_id``: the reviews of one report stay in one split.
    group_id: str
    #: 1.0, or 0.5 for each review of a report whose reviews disagree.
    label_confidence: float
    source: str
    report_id: str
    #: The reviewer's API key id.
    reviewer: str
    #: ISO 8601, UTC.
    decided_at: str
    queue: str
    #: ``primary``, ``qa``, ``second_review`` or ``appeal``.
    item_kind: str
    action: str
    #: ``name:version`` of the model that scored the report.
    model_version: str | None
    model_tier: str | None
    model_areas: list[str]
    model_agreed_tier: bool
    #: Areas compared as sets, ``none`` ignored.
    model_agreed_areas: bool
    #: For an appeal's decision (``item_kind`` ``appeal``): ``upheld`` or ``reversed``.
    appeal_outcome: str | None = None


#: What a row of the generic format (a decisions export among them) must have to be scored and measured.
LABELLED_RECORD_FIELDS = ("text", "language", "policy_areas", "risk_tier")
