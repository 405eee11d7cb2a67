"""Scoring: the one row function both engines use.

``RowScorer.decide`` turns validated reports into output rows: scored in batches through the ONNX scorer, given a
language by ``LanguageDetector`` and routed by the routing policy, exactly as ``serving.service`` does for an API
request. Nothing is stored in the service database. ``resolve_model`` loads the model the server would serve.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model.schema import Report
    from model.scorer import Scorer
    from model.settings import Settings
    from serving.language import LanguageDetector
    from serving.policy import RoutingPolicy


@dataclass(frozen=True, slots=True)
class BulkModel:
    """A loaded model and where its artifact folder is (Ray's actors load it again from there)."""

    scorer: Scorer
    name: str
    version: str
    folder: Path


#: The API's length bucketing (``serving.deps.MODEL_CALL_MAX_PADDING``, which imports the web stack; a test keeps
#: the two equal): the same reports in one model call get the same int8 probabilities as through the API.
MODEL_CALL_MAX_PADDING = 8


class RowScorer:
    """Validated reports to output rows: model, language, routing policy, as the API decides them.

    The model runs in a helper thread while this one detects languages (pure Python, a few ms a report):
    onnxruntime releases the GIL, so the two overlap as in ``ScoringService``. ``close()`` stops the thread."""

    def __init__(self, model: BulkModel, policy: RoutingPolicy, detector: LanguageDetector, *,
                 batch_size: int = 32) -> None:
        self.model = model
        self.policy = policy
        self.detector = detector
        self.batch_size = batch_size
        self.max_padding = MODEL_CALL_MAX_PADDING
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage-bulk-model")
        detector.load()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def decide(self, reports: Sequence[Report], received_at: datetime | None = None) -> list[dict[str, Any]]:
        """One output row per report, in order (``received_at`` only sets SLA deadlines, not in the output)."""
        from model.scorer import to_scores
        from model.taxonomy import get_taxonomy
        from serving.pipeline import detect_languages, route_scored

        if not reports:
            return []
        received_at = received_at or datetime.now(UTC)
        scorer = self.model.scorer
        probabilities = self._pool.submit(scorer.probabilities, [r.text for r in reports], self.batch_size,
                                          max_padding=self.max_padding)
        detections = detect_languages(reports, scorer.meta, self.detector)
        scores = to_scores(scorer.meta, *probabilities.result())
        routes = route_scored(reports, scores, detections, scorer.meta, self.policy, received_at)
        taxonomy = get_taxonomy()
        rows = []
        for report, score, detection, decided in zip(reports, scores, detections, routes, strict=True):
            rows.append({
                "report_id": report.report_id, "tier": decided.tier.value, "model_tier": score.tier,
                **{f"p_{t}": score.tier_probs[t] for t in taxonomy.tier_names},
                "areas": list(score.areas),
                **{f"area_{a}": score.area_probs[a] for a in taxonomy.area_names},
                "language": decided.language, "detected_language": detection.language,
                "language_confidence": detection.confidence,
                "action": decided.action.value, "queue": decided.queue, "priority": decided.priority,
                # Rule names, each once (a rule such as grey.thin_area may fire for several areas); the
                # API's answer has the sentences.
                "grey_area": decided.is_grey_area,
                "grey_reasons": list(dict.fromkeys(r.name for r in decided.grey_area)),
                "rules": list(dict.fromkeys(r.name for r in decided.rules)),
                "model_name": self.model.name, "model_version": self.model.version,
                "policy_version": self.policy.version,
            })
        return rows


def resolve_model(settings: Settings) -> BulkModel:
    """The model the server would serve: ``settings.model_path``, else the registry alias (downloaded once)."""
    from model.registry import download_version, resolve_alias
    from serving.model_loader import load_model, load_registry_version

    if settings.model_path is not None:
        loaded = load_model(settings)
        return BulkModel(loaded.scorer, loaded.name, loaded.version, settings.model_path)
    version, alias = resolve_alias(settings)
    loaded = load_registry_version(settings, version, alias)
    # The version's folder in the serving cache: already downloaded by the load, so this only names it.
    return BulkModel(loaded.scorer, loaded.name, loaded.version, download_version(version, settings))
