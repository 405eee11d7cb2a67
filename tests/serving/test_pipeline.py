"""One decision pipeline (``serving.pipeline``) for the service, bulk scoring and the workload tools."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from model.schema import Report
from model.scorer import Scorer
from model.settings import DEFAULT_ROUTING_POLICY
from serving.language import LanguageDetector, prior_languages
from serving.pipeline import decide, detect_languages, route_scored
from serving.policy import load_policy
from serving.routing import LanguageView, ModelView, route

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


TEXTS = ["I know where you live and I am coming for you tonight.",
         "Heute gehe ich mit meiner Familie ins Museum, das Wetter ist schön.",
         full_width("Congratulations") + "! You have won a cash prize, call now to claim it."]


@pytest.fixture(scope="module")
def scorer(tiny_artifact: Path) -> Scorer:
    return Scorer(tiny_artifact)


def test_the_language_is_detected_on_the_text_the_model_sees(scorer: Scorer) -> None:
    reports = [Report(report_id=f"r{i}", text=text) for i, text in enumerate(TEXTS)]
    detector = LanguageDetector()
    prior = prior_languages(scorer.meta.languages)
    expected = [detector.detect(report.normalized_text, prior) for report in reports]
    assert detect_languages(reports, scorer.meta, detector) == expected
    assert reports[2].normalized_text != reports[2].text  # full-width letters are undone first


def test_decide_routes_with_the_models_view_and_the_intakes_language_hint(scorer: Scorer) -> None:
    reports = [Report(report_id=f"r{i}", text=text, language="de" if i == 1 else None)
               for i, text in enumerate(TEXTS)]
    scores = scorer.score(TEXTS)
    policy = load_policy(DEFAULT_ROUTING_POLICY)
    detector = LanguageDetector()
    detections = detect_languages(reports, scorer.meta, detector)
    by_hand = [route(report, ModelView.from_score(score, scorer.meta),
                     LanguageView(detection.language, detection.confidence, hint=report.language), policy, NOW)
               for report, score, detection in zip(reports, scores, detections, strict=True)]
    assert decide(reports, scores, scorer.meta, detector, policy, NOW) == by_hand
    assert route_scored(reports, scores, detections, scorer.meta, policy, NOW) == by_hand


def test_the_workload_tools_decide_as_the_pipeline_does(scorer: Scorer, tiny_artifact: Path) -> None:
    from evaluation.capacity import routed_sample
    from evaluation.routing_shares import route_scores

    policy = load_policy(DEFAULT_ROUTING_POLICY)
    reports = [Report(report_id=f"sample-{i}", text=text) for i, text in enumerate(TEXTS)]
    expected = decide(reports, scorer.score(TEXTS), scorer.meta, LanguageDetector(), policy, NOW)
    assert routed_sample(TEXTS, tiny_artifact, [policy], NOW) == [expected]
    shares = route_scores(scorer.meta, TEXTS, scorer.score(TEXTS), policy)
    assert [(r.action, r.queue, r.tier, r.language) for r in shares] == \
        [(r.action, r.queue, r.tier, r.language) for r in expected]
