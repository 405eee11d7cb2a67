"""The strict test (``evaluation.strict``): its cases, and that no model was trained on them."""

import json

from evaluation.strict import CASES, HIGH_LANGUAGES, LOW_LANGUAGES, run_strict
from model.text import dedup_key, normalize_text
from training.data.sources_authored import AUTHORED_DIR


def test_a_threat_and_a_suicide_plan_in_every_language_and_four_look_alikes() -> None:
    high = {(c.language, c.behaviour) for c in CASES if c.expected_tier == "high"}
    assert high == {(lang, b) for lang in HIGH_LANGUAGES for b in ("threat", "suicide_plan")}
    low = {(c.language, c.behaviour) for c in CASES if c.expected_tier == "low"}
    assert low == {(lang, b) for lang in LOW_LANGUAGES for b in ("recovery", "idiom", "counter_speech", "news")}
    assert len({c.id for c in CASES}) == len(CASES)


def test_one_miss_fails_and_is_named() -> None:
    report = run_strict(lambda texts: ["high" if "kill you" in t else "low" for t in texts])
    assert report.passed == len(CASES) - len(report.failures)
    assert "suicide_plan-en" in {case.id for case, _ in report.failures}
    assert "threat-en" not in {case.id for case, _ in report.failures}
    assert "FAIL suicide_plan-en" in report.format()


def test_no_strict_case_is_in_the_authored_training_set() -> None:
    authored = {dedup_key(normalize_text(json.loads(line)["text"]))
                for path in AUTHORED_DIR.glob("*.jsonl") for line in path.read_text().splitlines() if line.strip()}
    leaked = [c.id for c in CASES if dedup_key(normalize_text(c.text)) in authored]
    assert leaked == []
