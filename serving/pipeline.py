"""The decision pipeline, one place for every caller: scored reports -> language -> route.

The service (``serving.service``), bulk scoring (``serving.bulk``) and the workload tools
(``evaluation.routing_shares``, ``evaluation.capacity``) all decide a report the same way: the language is
detected on the report's normalised text, preferring the model's own languages, and the routing policy turns
the model's scores and that language into an action. Detection is separate from routing so that the service
can detect while the model scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from model.artifact import ArtifactMeta
from model.schema import Report
from serving.language import Detection, LanguageDetector, prior_languages
from serving.policy import RoutingPolicy
from serving.routing import LanguageView, ModelView, Route, route

if TYPE_CHECKING:
    from model.scorer import Score


def detect_languages(reports: Sequence[Report], meta: ArtifactMeta, detector: LanguageDetector) -> list[Detection]:
    """Each report's language, from its normalised text, with the model's languages as the prior."""
    prior = prior_languages(meta.languages)
    return [detector.detect(report.normalized_text, prior) for report in reports]


def route_scored(reports: Sequence[Report], scores: Sequence[Score], detections: Sequence[Detection],
                 meta: ArtifactMeta, policy: RoutingPolicy, received_at: datetime) -> list[Route]:
    """The policy's decision for each scored report (the intake's language hint beside the detected one)."""
    return [route(report, ModelView.from_score(score, meta),
                  LanguageView(detected=detection.language, confidence=detection.confidence, hint=report.language),
                  policy, received_at)
            for report, score, detection in zip(reports, scores, detections, strict=True)]


def decide(reports: Sequence[Report], scores: Sequence[Score], meta: ArtifactMeta, detector: LanguageDetector,
           policy: RoutingPolicy, received_at: datetime) -> list[Route]:
    """Detect, then route: the whole pipeline for reports already scored."""
    return route_scored(reports, scores, detect_languages(reports, meta, detector), meta, policy, received_at)
