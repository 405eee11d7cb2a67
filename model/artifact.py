"""The model artifact: one self-describing folder, and the schema of its ``artifact.json``.

``model.onnx`` (int8) beside ``model.fp32.onnx``, ``tokenizer.json`` and ``artifact.json``, which holds
everything a server needs to use the model without the code that trained it: label order, taxonomy
version, input prefix and length, calibration temperatures, thresholds, metrics, the training corpus
fingerprint and the encoder's provenance. Serving reads label order from here, never from code.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ARTIFACT_FILE = "artifact.json"
#: The model's name in the MLflow model registry.
REGISTERED_MODEL = "triage-classifier"
#: Where the registered pyfunc model keeps the artifact folder (``artifacts/<key>`` in the model).
REGISTRY_ARTIFACT_KEY = "artifact"
ARTIFACT_FORMAT = 1


class Temperatures(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: float = Field(gt=0)
    areas: float = Field(gt=0)


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Per policy area: the calibrated probability at or above which the area is predicted.
    areas: dict[str, float]
    #: Calibrated probability of "high" at or above which a report is treated as high risk.
    high_risk: float = Field(ge=0, le=1)


#: The key of the pooled conformal threshold, used for a language without its own.
POOLED = "*"
#: The default target miss rate of the conformal high-risk thresholds: at most 2% of truly high-risk reports
#: may fall below them. Export (``TrainConfig.conformal_alpha``) and ``triage evaluate --alpha`` start here.
DEFAULT_CONFORMAL_ALPHA = 0.02


class Conformal(BaseModel):
    """Split-conformal high-risk thresholds on calibrated P(high) (``evaluation.conformal``), fitted at export
    on every truly high-risk row of the calibration split: per language where it has enough such rows
    (Mondrian), else the pooled one under ``"*"``. A report whose P(high) reaches its language's threshold
    may be high risk: its prediction set holds ``high``, so routing sends it to a person. Under
    exchangeability of calibration and live reports, at most ``alpha`` of the truly high-risk reports fall
    below it, on average."""

    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(gt=0, lt=1)
    high_risk: dict[str, float]
    #: High-risk calibration rows behind each threshold (a language using the pooled one shows the pooled n).
    n_calibration_high: dict[str, int] = Field(default_factory=dict)
    #: Languages that had too few high-risk calibration rows of their own and use the pooled threshold.
    pooled_languages: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_pooled(self) -> Conformal:
        if POOLED not in self.high_risk:
            raise ValueError(f"conformal.high_risk must hold the pooled threshold {POOLED!r}")
        return self

    def threshold(self, language: str | None) -> float:
        """The threshold for ``language``: its own, or the pooled one."""
        if language is not None and language in self.high_risk:
            return self.high_risk[language]
        return self.high_risk[POOLED]


class Optimisation(BaseModel):
    """How export made the serving model smaller and faster (``training.export.ExportOptions``)."""

    #: ``fused``: one onnxruntime ``Attention`` op per layer; ``unfused``: the exporter's MatMul/Softmax ops.
    attention: Literal["fused", "unfused"]
    #: Which MatMuls ``model.onnx`` runs in int8: ``all``; ``ffn-input`` (each feed-forward output projection in
    #: fp32); ``attention`` (both feed-forward MatMuls in fp32).
    quantized: Literal["all", "ffn-input", "attention"]
    #: Pieces the tokenizer and the word embeddings keep, of the pretrained encoder's.
    vocabulary_size: int = Field(gt=0)
    pretrained_vocabulary_size: int = Field(gt=0)


class ArtifactFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "model.onnx"
    model_fp32: str = "model.fp32.onnx"
    tokenizer: str = "tokenizer.json"


class ArtifactMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = ARTIFACT_FORMAT
    name: str
    version: str
    created_at: datetime
    taxonomy_version: str
    tier_labels: list[str]
    area_labels: list[str]
    text_prefix: str
    max_length: int = Field(gt=8)
    #: A text longer than ``max_length`` tokens is scored in up to this many windows of ``max_length``
    #: (``model.scorer.windows``); 1 reads only its start. Artifacts from before windows had no such field.
    max_windows: int = Field(default=1, ge=1, le=64)
    pad_id: int
    temperatures: Temperatures
    thresholds: Thresholds
    corpus_fingerprint: str
    languages: list[str] = Field(description="Languages the model supports: those with enough training rows.")
    encoder: dict[str, Any]
    training: dict[str, Any]
    metrics: dict[str, Any] = Field(default_factory=dict)
    #: None for an artifact exported before the conformal thresholds existed (routing then skips that rule).
    conformal: Conformal | None = None
    files: ArtifactFiles = Field(default_factory=ArtifactFiles)
    #: None for an artifact exported before export recorded it (full vocabulary, feed-forward layers fp32).
    optimisation: Optimisation | None = None

    @model_validator(mode="after")
    def _thresholds_cover_areas(self) -> ArtifactMeta:
        if set(self.thresholds.areas) != set(self.area_labels):
            raise ValueError("thresholds.areas must name every area label")
        return self

    @classmethod
    def load(cls, folder: Path) -> ArtifactMeta:
        return cls.model_validate_json((folder / ARTIFACT_FILE).read_text(encoding="utf-8"))

    def save(self, folder: Path) -> None:
        (folder / ARTIFACT_FILE).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
