from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from model.schema import MAX_TEXT_CHARS, LabelledExample, Report, ReporterType
from model.taxonomy import PolicyArea, RiskTier


def report(**fields: object) -> Report:
    return Report.model_validate({"report_id": "r-1", "text": "I will find you", **fields})


def _fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {".".join(str(p) for p in err["loc"]) for err in exc.value.errors()}


def test_a_minimal_report_gets_defaults() -> None:
    r = report()
    assert r.reporter_type is ReporterType.USER
    assert r.report_count == 1
    assert r.created_at.tzinfo is not None


def test_text_is_kept_as_sent_and_scored_normalised() -> None:
    r = report(text="  hi\u200b @bob see https://evil.example/x  ")
    assert r.text == "hi\u200b @bob see https://evil.example/x", "reviewers see the link and the handle"
    assert r.normalized_text == "hi @user see [url]"


def test_nul_characters_are_dropped() -> None:
    assert report(text="a\x00b").text == "ab"


@pytest.mark.parametrize("text", ["", "   ", "\u200b\u200b", "\x00"])
def test_text_empty_after_normalisation_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        report(text=text)
    assert "text" in _fields(exc)


def test_text_limit_is_measured_after_normalisation() -> None:
    assert len(report(text="a" * MAX_TEXT_CHARS).normalized_text) == MAX_TEXT_CHARS
    # Zero-width characters do not count against the limit.
    assert len(report(text="a" * MAX_TEXT_CHARS + "\u200b" * 50).normalized_text) == MAX_TEXT_CHARS
    with pytest.raises(ValidationError, match="limit is 10000"):
        report(text="a" * (MAX_TEXT_CHARS + 1))


def test_unknown_fields_are_refused_by_name() -> None:
    with pytest.raises(ValidationError) as exc:
        report(reporter="press")
    assert "reporter" in _fields(exc)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reporter_type", "journalist"),
        ("language", "English"),
        ("report_count", 0),
        ("account", {"followers": -1}),
        ("reporter_reason", "rudeness"),
        ("created_at", "2026-11-22T10:00:00"),  # no timezone
        ("report_id", "has spaces"),
    ],
)
def test_bad_values_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        report(**{field: value})
    assert any(name.startswith(field) for name in _fields(exc))


def test_created_at_is_converted_to_utc() -> None:
    r = report(created_at="2026-11-22T12:00:00+02:00")
    assert r.created_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def example(**fields: object) -> LabelledExample:
    base: dict[str, object] = {
        "row_id": "s:1", "text": "hello", "language": "en", "policy_areas": ["none"], "risk_tier": "low",
        "source": "s", "source_split": "train", "licence": "MIT",
    }
    return LabelledExample.model_validate({**base, **fields})


def test_a_labelled_example_may_leave_areas_unknown() -> None:
    ex = example(policy_areas=[], unknown_areas=["harassment", "none"], risk_tier="low")
    assert ex.policy_areas == ()
    assert PolicyArea.HARASSMENT in ex.unknown_areas


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"policy_areas": []}, "at least one area"),
        ({"policy_areas": ["none", "hate_speech"], "risk_tier": "medium"}, "cannot be combined"),
        ({"policy_areas": ["hate_speech"], "unknown_areas": ["hate_speech"], "risk_tier": "medium"}, "both"),
        ({"policy_areas": ["none"], "risk_tier": "high"}, "must be risk tier low"),
        ({"policy_areas": ["spam"]}, "policy_areas"),
        ({"label_confidence": 0}, "label_confidence"),
    ],
)
def test_inconsistent_labels_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        example(**fields)


def test_tier_and_areas_parse_to_enums() -> None:
    ex = example(policy_areas=["hate_speech"], risk_tier="medium")
    assert ex.policy_areas == (PolicyArea.HATE_SPEECH,)
    assert ex.risk_tier is RiskTier.MEDIUM
