"""A training run's summary: ``training.json`` in the run folder, written by ``triage train``
(``training.train``) and read by ``triage export`` (``training.export``) and the scoring benchmark.

It holds what export needs to rebuild and describe the model (config, label order, text prefix, encoder)
and the run's own figures (validation report, evaluation history, probe epochs, held-out sources). The keys
on disk are the field names, in this order; older run folders (before the probe and the held-out sources)
load with those fields empty.

Importing this module does not load the training stack (torch, MLflow): the benchmark reads run folders
without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from training.config import Profile, TrainConfig

SUMMARY_FILE = "training.json"
#: Why the training loop ended: its last step, the early-stopping patience, ``max_minutes``, or no loop at
#: all (``frozen_layers == encoder_layers``: the probe is the whole training).
StopReason = Literal["completed", "early_stopping", "time_budget", "probe_only"]
#: The summary's fields that the artifact carries (``model.artifact.ArtifactMeta.training``), in this order.
ARTIFACT_TRAINING_FIELDS = ("run_name", "mlflow_run_id", "profile", "config", "rows", "steps", "stop_reason",
                            "train_seconds")


class SummaryError(ValueError):
    """A run folder's ``training.json`` is missing or invalid; the message names the file."""


class ProbeEpoch(BaseModel):
    """One epoch of the linear probe (``training.train.linear_probe``), on validation, untuned thresholds."""

    model_config = ConfigDict(frozen=True)

    probe_epoch: int
    probe_val_tier_macro_f1: float
    probe_val_area_macro_f1: float
    probe_val_score: float


class Evaluation(BaseModel):
    """One validation pass of the fine-tuning loop (where early stopping and checkpoints happen)."""

    model_config = ConfigDict(frozen=True)

    step: int
    epoch: float
    #: The training loss, smoothed over the steps before it.
    loss: float
    val_tier_macro_f1: float
    val_area_macro_f1: float
    val_score: float


class TrainingSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_name: str
    mlflow_run_id: str | None
    profile: Profile
    #: ``TrainConfig.model_dump(mode="json")``; kept as written (see ``train_config`` for the typed one): a
    #: config is validated against the corpus on disk, which a reader of the run may not have.
    config: dict[str, Any]
    taxonomy_version: str
    tier_labels: list[str]
    area_labels: list[str]
    text_prefix: str
    max_length: int
    pad_id: int
    corpus_fingerprint: str
    #: The encoder's provenance (``provenance.json`` of the prepared encoder).
    encoder: dict[str, Any]
    encoder_dir: Path
    #: Rows per split the run trained and validated on.
    rows: dict[str, int]
    #: ``evaluation.metrics.classification_report`` of the best weights on validation (untuned thresholds).
    validation: dict[str, Any]
    #: ``evaluation.ood.OODReport.model_dump()``, or None when no source was held out; stored as the run
    #: wrote it (export measures the held-out sources again).
    ood: dict[str, Any] | None = None
    history: list[Evaluation]
    probe: list[ProbeEpoch] = Field(default_factory=list)
    #: The probe's embedding pass (``training.embedding_cache.CacheStats``): rows, cache hits, rows computed
    #: and the seconds computing them took; None for runs before the cache.
    probe_embeddings: dict[str, Any] | None = None
    stop_reason: StopReason
    steps: int
    train_seconds: float
    total_seconds: float

    @field_serializer("encoder_dir")
    def _path(self, encoder_dir: Path) -> str:
        return str(encoder_dir)

    def train_config(self) -> TrainConfig:
        """The run's config, validated (which needs its corpus on disk)."""
        return TrainConfig.model_validate(self.config)

    def artifact_training(self) -> dict[str, Any]:
        """What the exported artifact records of its training run (``ArtifactMeta.training``)."""
        data = self.to_dict()
        return {name: data[name] for name in ARTIFACT_TRAINING_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """The summary as ``training.json`` holds it (plain JSON values, the keys in file order)."""
        return self.model_dump()

    def save(self, run_dir: Path) -> Path:
        path = run_dir / SUMMARY_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, run_dir: Path) -> TrainingSummary:
        """The summary of the run in ``run_dir``; ``SummaryError`` naming the file when it is missing, not
        JSON, or not a training summary."""
        path = run_dir / SUMMARY_FILE
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise SummaryError(f"{path}: no training summary (not a finished training run)") from None
        except OSError as exc:
            raise SummaryError(f"{path}: cannot read the training summary: {exc}") from exc
        try:
            return cls.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise SummaryError(f"{path}: not JSON: {exc}") from exc
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'summary'}: {e['msg']}"
                                 for e in exc.errors())
            raise SummaryError(f"{path}: not a valid training summary: {problems}") from exc
