"""The functional (HateCheck-style) suite: the shipped cases, the pass-rate arithmetic, bad rows."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluation.functional.suite import (
    CASES_PATH,
    FUNCTIONALITIES,
    LANGUAGES,
    Case,
    CaseError,
    Prediction,
    format_failures,
    format_report,
    load_cases,
    run_suite,
    scorer_fn,
)
from model.taxonomy import PolicyArea, RiskTier
from triage.cli import app

GOOD_ROW = {
    "id": "threat-en-01",
    "functionality": "threat",
    "language": "en",
    "script": "latn",
    "text": "I know where you live and I will hurt you.",
    "expected_tier": "high",
    "expected_area": "violence_incitement",
}


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases()


def test_shipped_cases_load_and_validate(cases: list[Case]) -> None:
    assert 250 <= len(cases) <= 350
    assert {c.functionality for c in cases} == set(FUNCTIONALITIES)
    assert all(isinstance(c.expected_tier, RiskTier) and isinstance(c.expected_area, PolicyArea) for c in cases)


def test_every_functionality_is_in_every_language(cases: list[Case]) -> None:
    assert set(LANGUAGES) == {"en", "fr", "de", "es", "hi", "ar"}
    present = {(c.functionality, c.language) for c in cases}
    missing = [(f, lang) for f in FUNCTIONALITIES for lang in LANGUAGES if (f, lang) not in present]
    assert not missing


def test_hindi_has_devanagari_and_romanised_cases(cases: list[Case]) -> None:
    scripts = {c.script for c in cases if c.language == "hi"}
    assert scripts == {"deva", "latn"}


def test_ids_are_unique(cases: list[Case]) -> None:
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))


def test_each_functionality_has_one_expected_answer(cases: list[Case]) -> None:
    answers: dict[str, set[tuple[str, str]]] = {}
    for c in cases:
        answers.setdefault(c.functionality, set()).add((c.expected_tier.value, c.expected_area.value))
    assert all(len(a) == 1 for a in answers.values()), answers


def test_expected_answers_score_100_percent(cases: list[Case]) -> None:
    by_text = {c.text: (c.expected_tier.value, [c.expected_area.value]) for c in cases}

    def oracle(texts: Sequence[str]) -> list[Prediction]:
        return [by_text[t] for t in texts]

    report = run_suite(oracle, cases)
    assert report.overall.total == len(cases)
    assert report.overall.tier_rate == 1.0
    assert report.overall.area_rate == 1.0
    assert all(t.tier_rate == 1.0 and t.area_rate == 1.0 for t in report.cells.values())
    assert not report.failures
    assert "100%" in format_report(report)


def test_always_low_none_passes_exactly_the_benign_cases(cases: list[Case]) -> None:
    def always_low(texts: Sequence[str]) -> list[Prediction]:
        return [("low", ["none"]) for _ in texts]

    report = run_suite(always_low, cases)
    benign = [c for c in cases if c.expected_tier is RiskTier.LOW]
    benign_none = [c for c in benign if c.expected_area is PolicyArea.NONE]
    assert 0 < len(benign) < len(cases)
    assert report.overall.tier_passed == len(benign)
    assert report.overall.tier_rate == pytest.approx(len(benign) / len(cases))
    assert report.overall.area_rate == pytest.approx(len(benign_none) / len(cases))
    for func in FUNCTIONALITIES:
        expected = 1.0 if next(c for c in cases if c.functionality == func).expected_tier is RiskTier.LOW else 0.0
        assert report.by_functionality[func].tier_rate == expected
    for lang in LANGUAGES:
        in_lang = [c for c in cases if c.language == lang]
        share = sum(c.expected_tier is RiskTier.LOW for c in in_lang) / len(in_lang)
        assert report.by_language[lang].tier_rate == pytest.approx(share)
    text = format_report(report)
    assert f"tier {len(benign)}/{len(cases)}" in text


def test_area_pass_needs_none_alone_and_tier_is_tracked_separately() -> None:
    rows = [Case.model_validate(GOOD_ROW | {"id": f"c{i}"}) for i in range(3)]
    benign = Case.model_validate(
        GOOD_ROW | {"id": "benign", "expected_tier": "low", "expected_area": "none", "functionality": "negation"}
    )
    predictions: list[Prediction] = [
        ("high", ["harassment", "violence_incitement"]),  # tier and area pass
        ("medium", ["violence_incitement"]),  # area passes, tier fails
        ("high", ["none"]),  # tier passes, area fails
        ("low", ["harassment"]),  # tier passes, area fails: 'none' must be alone
    ]
    report = run_suite(lambda texts: predictions, [*rows, benign])
    assert [(r.tier_passed, r.area_passed) for r in report.results] == [
        (True, True), (False, True), (True, False), (True, False),
    ]
    assert report.cells[("threat", "en")].tier_passed == 2
    assert report.cells[("threat", "en")].area_passed == 2
    assert report.overall.tier_passed == 3


def test_score_fn_must_answer_every_text() -> None:
    case = Case.model_validate(GOOD_ROW)
    with pytest.raises(ValueError, match="1 texts"):
        run_suite(lambda texts: [], [case])


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_unknown_tier_names_the_line(tmp_path: Path) -> None:
    rows = [GOOD_ROW, GOOD_ROW | {"id": "threat-en-02"}, GOOD_ROW | {"id": "threat-en-03", "expected_tier": "severe"}]
    path = _write(tmp_path / "cases.jsonl", rows)
    with pytest.raises(CaseError, match=r"cases\.jsonl:3: invalid case: expected_tier"):
        load_cases(path)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"expected_area": "hate"}, "expected_area"),
        ({"language": "xx"}, "language"),
        ({"functionality": "sarcasm"}, "functionality"),
        ({"script": "deva"}, "no deva characters"),
        ({"surprise": "field"}, "surprise"),
    ],
)
def test_bad_fields_name_the_line(tmp_path: Path, change: dict[str, str], needle: str) -> None:
    path = _write(tmp_path / "cases.jsonl", [GOOD_ROW | {"id": "ok"}, GOOD_ROW | change])
    with pytest.raises(CaseError, match=rf":2: invalid case: .*{needle}"):
        load_cases(path)


def test_duplicate_id_and_bad_json_name_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "dup.jsonl", [GOOD_ROW, GOOD_ROW])
    with pytest.raises(CaseError, match=r"dup\.jsonl:2: duplicate id 'threat-en-01' \(first on line 1\)"):
        load_cases(path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(GOOD_ROW) + "\n\n{not json\n", encoding="utf-8")
    with pytest.raises(CaseError, match=r"bad\.jsonl:3: invalid JSON"):
        load_cases(bad)


def test_default_path_is_the_shipped_file() -> None:
    assert CASES_PATH.name == "cases.jsonl"
    assert CASES_PATH.is_file()


# --- The command, `triage analyse functional`, on the tiny model. ----------------------------------------

runner = CliRunner()


def test_command_prints_both_tables_and_with_failures_the_failing_cases(tmp_path: Path, tiny_artifact: Path) -> None:
    rows = [GOOD_ROW, GOOD_ROW | {"id": "scam-fr-01", "functionality": "scam", "language": "fr",
                                  "text": "Vous avez gagné un iPhone, cliquez ici", "expected_tier": "medium",
                                  "expected_area": "spam_fraud"}]
    cases = _write(tmp_path / "cases.jsonl", rows)
    result = runner.invoke(app, ["analyse", "functional", "--artifact", str(tiny_artifact), "--cases", str(cases)])
    assert result.exit_code == 0, result.output
    assert "Tier pass rate (predicted tier == expected tier)" in result.stdout
    assert "Area pass rate" in result.stdout
    assert re.search(r"^functionality\s+en\s+fr\s+all\s+n$", result.stdout, re.M)
    assert re.search(r"^overall: tier \d/2 \(.*\), area \d/2", result.stdout, re.M)
    listed = runner.invoke(app, ["analyse", "functional", "--artifact", str(tiny_artifact), "--cases", str(cases),
                                 "--failures"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.startswith(result.stdout)
    report = run_suite(scorer_fn(tiny_artifact), load_cases(cases))
    extra = listed.stdout[len(result.stdout):].strip()
    assert extra == format_failures(report)
    assert [line.split(":")[0] for line in extra.splitlines()] == [r.case.id for r in report.failures]


def test_command_errors_name_the_option_and_the_file(tmp_path: Path, tiny_artifact: Path) -> None:
    missing = runner.invoke(app, ["analyse", "functional", "--artifact", str(tmp_path)])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"error: --artifact {tmp_path}: no artifact.json"
    cases = _write(tmp_path / "cases.jsonl", [GOOD_ROW, GOOD_ROW | {"expected_tier": "severe"}])
    bad = runner.invoke(app, ["analyse", "functional", "--artifact", str(tiny_artifact), "--cases", str(cases)])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    err = bad.stderr.strip()
    assert err.startswith(f"error: --cases {cases}:2: invalid case: expected_tier") and "\n" not in err
