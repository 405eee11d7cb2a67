"""Perspective API compatibility: the request and response shapes of Perspective's ``comments:analyze``, and
the mapping from our model's heads to its attributes. Pure: no I/O; the route is ``serving/api/perspective.py``.

A team that calls Perspective (``https://commentanalyzer.googleapis.com/v1alpha1/comments:analyze?key=...``)
switches by changing the base URL and the key (an intake key of this service). Perspective's shapes
(AnalyzeCommentRequest, AnalyzeCommentResponse, and Google's error body ``{"error": {"code", "message",
"status", "details"}}``) are kept field for field, including the ``errorType`` values clients test for.

How our heads answer Perspective's attributes (P: the model's calibrated probabilities, ``model/taxonomy.toml``):

- ``TOXICITY`` = 1 - P(tier ``low``): medium or high risk, i.e. harmful content, not mere rudeness;
- ``SEVERE_TOXICITY`` = P(tier ``high``): credible threats, terrorism, child exploitation, suicide intent, doxxing;
- ``IDENTITY_ATTACK`` = P(area ``hate_speech``): attacks on people for a protected attribute;
- ``INSULT`` = P(area ``harassment``): insults, bullying or intimidation aimed at a person;
- ``THREAT`` = P(area ``violence_incitement``): threats, incitement or glorification of violence;
- ``SEXUALLY_EXPLICIT`` = P(area ``adult_sexual``): sexually explicit content and sexual solicitation.

Differences a switching team should know: our ``TOXICITY`` is about harm, so profanity and untargeted
rudeness (tier ``low`` in our taxonomy) score low where Perspective scores them high; ``PROFANITY``,
``FLIRTATION`` and Perspective's experimental and bridging attributes have no head here and are refused
with Perspective's 400 (``Unknown requested attribute``), never answered with a made-up number. Scores are
the calibrated probabilities of the served model; a language outside the languages the model was evaluated on
(``artifact.json`` ``languages``) is refused as Perspective refuses one (``LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE``).

Spans: by default each attribute has one span, the whole comment, with the summary score. With
``spanAnnotations: true`` the comment is cut into sentences and each sentence is scored on its own, as
Perspective does. Offsets count Unicode code points of ``comment.text`` (Python string indices).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from model.schema import MAX_SUBMITTED_TEXT_CHARS, MAX_TEXT_CHARS
from model.scorer import Score
from model.taxonomy import PolicyArea, RiskTier
from model.text import normalize_text

# --- the mapping ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttributeMapping:
    """How one Perspective attribute is read from a model score."""

    attribute: str
    #: ``tier`` or ``area``: which head of the model answers.
    head: Literal["tier", "area"]
    #: The tier or policy area (``model/taxonomy.toml`` names).
    label: str
    #: The value is 1 - P(label) instead of P(label).
    complement: bool
    meaning: str

    def value(self, score: Score) -> float:
        probabilities = score.tier_probs if self.head == "tier" else score.area_probs
        p = float(probabilities[self.label])
        return min(1.0, max(0.0, 1.0 - p if self.complement else p))

    @property
    def formula(self) -> str:
        p = f"P({self.head} {self.label})"
        return f"1 - {p}" if self.complement else p


def _tier(attribute: str, tier: RiskTier, meaning: str, *, complement: bool = False) -> AttributeMapping:
    return AttributeMapping(attribute, "tier", tier.value, complement, meaning)


def _area(attribute: str, area: PolicyArea, meaning: str) -> AttributeMapping:
    return AttributeMapping(attribute, "area", area.value, False, meaning)


#: Perspective attribute -> how our model answers it. The one place the mapping is defined (README and this
#: module's docstring describe it; tests pin it).
MAPPING: dict[str, AttributeMapping] = {m.attribute: m for m in (
    _tier("TOXICITY", RiskTier.LOW, "medium or high risk: harmful content, not mere rudeness", complement=True),
    _tier("SEVERE_TOXICITY", RiskTier.HIGH, "high risk: credible threats, terrorism, child exploitation, "
                                            "suicide intent, doxxing"),
    _area("IDENTITY_ATTACK", PolicyArea.HATE_SPEECH, "attacks on people for a protected attribute"),
    _area("INSULT", PolicyArea.HARASSMENT, "insults, bullying or intimidation aimed at a person"),
    _area("THREAT", PolicyArea.VIOLENCE_INCITEMENT, "threats, incitement or glorification of violence"),
    _area("SEXUALLY_EXPLICIT", PolicyArea.ADULT_SEXUAL, "sexually explicit content and sexual solicitation"),
)}

#: Perspective attributes this service knows of but has no head for: refused by name, with the reason.
NOT_SERVED: dict[str, str] = {
    "PROFANITY": "profanity is not a policy area here (the taxonomy files it under tier low, area none)",
    "FLIRTATION": "the taxonomy has no flirtation area",
}

SCORE_TYPE = "PROBABILITY"
#: With spanAnnotations, at most this many sentences are scored separately; the rest of a longer comment is the
#: last span. Bounds the model work one request can ask for.
MAX_SPANS = 32

# --- request and response shapes --------------------------------------------------------------------


class _Message(BaseModel):
    """Perspective's JSON: lowerCamelCase fields (proto3 JSON also accepts the snake_case names); a field it
    does not define is refused by name, as Google's JSON parser refuses one."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class TextEntry(_Message):
    text: str = Field(default="", max_length=MAX_SUBMITTED_TEXT_CHARS,
                      description="The comment, UTF-8 plain text; its normalised form must be 1 to 10,000 characters.")
    type: str = Field(default="PLAIN_TEXT", description="Only PLAIN_TEXT, as on Perspective.")


class AttributeParameters(_Message):
    score_type: str | None = Field(default=None, description="Only PROBABILITY.")
    score_threshold: float | None = Field(
        default=None, ge=0, le=1,
        description="Leave the attribute out of the answer when its summary score is below this.")


class AnalyzeCommentRequest(_Message):
    """Perspective's AnalyzeCommentRequest."""

    comment: TextEntry = Field(default_factory=TextEntry)
    context: dict[str, Any] | None = Field(default=None, description="Accepted and ignored, as on Perspective.")
    requested_attributes: dict[str, AttributeParameters | None] = Field(
        default_factory=dict, max_length=64,
        description=f"Attribute name -> parameters ({{}} for the defaults). Served: {', '.join(MAPPING)}.")
    languages: list[str] = Field(
        default_factory=list, max_length=16,
        description="ISO 639-1 or BCP-47 codes of the comment's language; detected when empty.")
    do_not_store: bool = Field(default=False, description="Accepted; this endpoint never stores anything.")
    client_token: str | None = Field(default=None, max_length=1024, description="Echoed back.")
    session_id: str | None = Field(default=None, max_length=1024, description="Accepted and ignored.")
    community_id: str | None = Field(default=None, max_length=1024, description="Accepted and ignored.")
    span_annotations: bool = Field(default=False, description="Score each sentence as a span of its own.")


class _Out(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ScoreValue(_Out):
    value: float = Field(ge=0, le=1)
    type: Literal["PROBABILITY"] = "PROBABILITY"


class SpanScore(_Out):
    begin: int = Field(ge=0, description="First code point of the span in comment.text.")
    end: int = Field(ge=0, description="One past its last code point.")
    score: ScoreValue


class AttributeScores(_Out):
    summary_score: ScoreValue
    span_scores: list[SpanScore]


class AnalyzeCommentResponse(_Out):
    """Perspective's AnalyzeCommentResponse. ``attributeScores`` is absent when every requested attribute scored
    below its ``scoreThreshold``, as on Perspective."""

    attribute_scores: dict[str, AttributeScores] | None = None
    languages: list[str]
    detected_languages: list[str] | None = None
    client_token: str | None = None


class GoogleError(BaseModel):
    code: int
    message: str
    status: str
    details: list[dict[str, Any]] | None = None


class GoogleErrorBody(BaseModel):
    """Google's error body, as Perspective answers: ``details`` holds Perspective's ``errorType`` and a
    ``google.rpc.BadRequest`` naming the field."""

    error: GoogleError


# --- errors -----------------------------------------------------------------------------------------

#: HTTP status -> Google's canonical status name.
GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 409: "ALREADY_EXISTS", 413: "INVALID_ARGUMENT", 422: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
                 500: "INTERNAL", 503: "UNAVAILABLE"}
ERROR_DETAIL_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


class PerspectiveError(Exception):
    """An error answered in Google's shape. ``error_type`` is Perspective's ErrorType (COMMENT_EMPTY, ...);
    ``fields`` are (field, description) pairs, reported as a google.rpc.BadRequest."""

    def __init__(self, status: int, message: str, *, error_type: str | None = None,
                 fields: Sequence[tuple[str, str]] = (), extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = 400 if status == 422 else status
        self.message = message
        self.error_type = error_type
        self.fields = list(fields)
        self.extra = extra or {}
        self.headers = headers

    @property
    def google_status(self) -> str:
        return GOOGLE_STATUS.get(self.status, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        details: list[dict[str, Any]] = []
        if self.error_type is not None:
            details.append({"@type": ERROR_DETAIL_TYPE, "errorType": self.error_type, **self.extra})
        if self.fields:
            details.append({"@type": BAD_REQUEST_TYPE, "fieldViolations": [
                {"field": field, "description": description} for field, description in self.fields]})
        error = GoogleError(code=self.status, message=self.message, status=self.google_status,
                            details=details or None)
        return {"error": error.model_dump(exclude_none=True)}


def _invalid(message: str, error_type: str, field: str, description: str | None = None,
             **extra: Any) -> PerspectiveError:
    return PerspectiveError(400, f"{message} ({field})", error_type=error_type,
                            fields=[(field, description or message)], extra=extra)


# --- checking a request -----------------------------------------------------------------------------

#: A language code as Perspective accepts it: ISO 639-1/3 or BCP-47 (``en``, ``pt-BR``, ``zh_Hant``).
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


@dataclass(frozen=True, slots=True)
class Analysis:
    """What a valid request asks for."""

    #: The text the model scores: as sent, NUL characters dropped (the scorer normalises it).
    text: str
    #: Its normalised form (what the language detector reads).
    normalized: str
    #: Requested attribute -> its scoreThreshold (None: always answered), in request order.
    attributes: dict[str, float | None]
    #: The request's languages as sent, and their base codes (``pt-BR`` -> ``pt``).
    languages: list[str]
    base_languages: list[str]
    spans: bool


def check_request(request: AnalyzeCommentRequest) -> Analysis:
    """The analysis ``request`` asks for, or a ``PerspectiveError`` (400) with Perspective's message, its
    errorType and the field, in the order Perspective checks: the comment, the attributes, the languages."""
    comment = request.comment
    if comment.type != "PLAIN_TEXT":
        message = ("Currently, only 'PLAIN_TEXT' comments are supported" if comment.type == "HTML"
                   else "Unknown text type")
        raise _invalid(message, "INVALID_REQUEST", "comment.type", "only PLAIN_TEXT is supported")
    text = comment.text.replace("\x00", "")
    normalized = normalize_text(text)
    if not normalized:
        raise _invalid("Comment must be non-empty.", "COMMENT_EMPTY", "comment.text",
                       "empty, or only whitespace, control or invisible characters")
    if len(normalized) > MAX_TEXT_CHARS:
        raise _invalid("Comment text too long.", "COMMENT_TOO_LONG", "comment.text",
                       f"{len(normalized)} characters after normalisation; the limit is {MAX_TEXT_CHARS}")

    if not request.requested_attributes:
        raise _invalid("Missing requested_attributes", "NO_REQUESTED_ATTRIBUTES", "requestedAttributes",
                       f"name at least one attribute: {', '.join(MAPPING)}")
    attributes: dict[str, float | None] = {}
    for name, parameters in request.requested_attributes.items():
        field = f"requestedAttributes.{name}"
        if name not in MAPPING:
            why = NOT_SERVED.get(name, "not a Perspective attribute this service serves")
            raise _invalid(f"Unknown requested attribute: {name}", "INVALID_REQUEST", field,
                           f"{why}; served: {', '.join(MAPPING)}")
        parameters = parameters or AttributeParameters()
        if parameters.score_type not in (None, SCORE_TYPE):
            raise _invalid(f"Requested score type {parameters.score_type} is not supported by attribute {name}",
                           "INVALID_REQUEST", f"{field}.scoreType", f"only {SCORE_TYPE}")
        attributes[name] = parameters.score_threshold

    base_languages = []
    for i, tag in enumerate(request.languages):
        if not _LANGUAGE.match(tag):
            raise _invalid("Invalid language code", "INVALID_REQUEST", f"languages[{i}]",
                           "an ISO 639-1 or BCP-47 code such as en or pt-BR")
        base_languages.append(re.split(r"[-_]", tag)[0].lower())
    return Analysis(text=text, normalized=normalized, attributes=attributes, languages=list(request.languages),
                    base_languages=base_languages, spans=request.span_annotations)


def check_languages(analysis: Analysis, detected: str | None, supported: Sequence[str]) -> list[str]:
    """The response's ``languages``: the request's, else the detected one. Refuses, as Perspective does, a
    request none of whose languages the model serves, and a comment whose language is unknown or not served
    when the request names none. ``supported`` empty means every language is."""
    first = next(iter(analysis.attributes))
    served = set(supported)
    if analysis.languages:
        if served and not served.intersection(analysis.base_languages):
            raise _invalid(f"Attribute {first} does not support request languages: {', '.join(analysis.languages)}",
                           "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE", "languages",
                           f"this model serves {', '.join(sorted(served))}",
                           languageNotSupportedByAttributeError={"attribute": first,
                                                                 "requestedLanguages": analysis.languages})
        return analysis.languages
    if detected is None:
        raise _invalid("Unable to detect language", "LANGUAGE_DETECTION_FAILED", "languages",
                       "not sent, and the comment's language could not be detected: send languages")
    if served and detected not in served:
        raise _invalid(f"Attribute {first} does not support request languages: {detected}",
                       "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE", "languages",
                       f"detected {detected}; this model serves {', '.join(sorted(served))}",
                       languageNotSupportedByAttributeError={"attribute": first, "detectedLanguages": [detected]})
    return [detected]


# --- spans and the answer ---------------------------------------------------------------------------

#: Where a sentence may end: . ! ? ... followed by a space or the end (closing quotes or brackets included), a CJK,
#: Arabic or Devanagari full stop, question or exclamation mark, or a line break.
_SENTENCE_END = re.compile(
    r"(?P<stop>[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*)(?=\s|$)"  # ... " ' closing quotes ) ]
    r"|[\u3002\uff01\uff1f\u061f\u0964]+"  # CJK full stop, full-width ! and ?, Arabic ?, Devanagari danda
    r"|\n+")


def sentence_spans(text: str, max_spans: int = MAX_SPANS) -> list[tuple[int, int]]:
    """``(begin, end)`` of each sentence of ``text``, surrounding whitespace excluded, in order; pieces without
    a letter or digit are left out; after ``max_spans - 1`` sentences the rest is one span. A full stop followed
    by a lowercase word ends no sentence (``e.g. the``, ``approx. ten``)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match["stop"] is not None:
            following = text[match.end():].lstrip()[:1]
            if following.islower():
                continue
        _add_span(spans, text, start, match.end())
        start = match.end()
    _add_span(spans, text, start, len(text))
    if len(spans) > max_spans:
        spans[max_spans - 1:] = [(spans[max_spans - 1][0], spans[-1][1])]
    return spans


def _add_span(spans: list[tuple[int, int]], text: str, begin: int, end: int) -> None:
    while begin < end and text[begin].isspace():
        begin += 1
    while end > begin and text[end - 1].isspace():
        end -= 1
    if any(ch.isalnum() for ch in text[begin:end]):
        spans.append((begin, end))


def span_texts(analysis: Analysis) -> list[tuple[int, int]]:
    """The spans to score on their own: the sentences when asked for and there are several; none otherwise (the
    whole comment is then the one span)."""
    if not analysis.spans:
        return []
    spans = sentence_spans(analysis.text)
    return spans if len(spans) > 1 else []


def build_response(analysis: Analysis, summary: Score, spans: Sequence[tuple[int, int, Score]],
                   languages: list[str], detected: str | None,
                   client_token: str | None) -> AnalyzeCommentResponse:
    """The answer: each requested attribute at or above its threshold, with its summary score and spans
    (``spans`` empty: one span, the whole comment)."""
    whole = [(0, len(analysis.text), summary)]
    scores: dict[str, AttributeScores] = {}
    for name, threshold in analysis.attributes.items():
        value = MAPPING[name].value(summary)
        if threshold is not None and value < threshold:
            continue  # Perspective leaves out an attribute below the requested threshold
        scores[name] = AttributeScores(
            summary_score=ScoreValue(value=value),
            span_scores=[SpanScore(begin=b, end=e, score=ScoreValue(value=MAPPING[name].value(s)))
                         for b, e, s in (spans or whole)])
    return AnalyzeCommentResponse(attribute_scores=scores or None, languages=languages,
                                  detected_languages=[detected] if detected else None, client_token=client_token)


def mapping_table() -> list[tuple[str, str, str]]:
    """(attribute, formula, meaning) rows of the mapping, for documentation."""
    return [(m.attribute, m.formula, m.meaning) for m in MAPPING.values()]
