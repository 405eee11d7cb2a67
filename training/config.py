"""The training configuration: typed, validated before any work starts, with three profiles.

``quick`` is what the README's main job runs (``make demo``). It keeps the encoder's lowest 8 of 12 layers
("Poor Man's BERT": a third less compute per step and per scored report) and trains in two stages (LP-FT): the
heads alone on the frozen encoder's embeddings of its sample (10 epochs; the embeddings go through the
embedding cache, ``training.embedding_cache``, so a retrain does not compute them again), then the top 4 layers
with them (word embeddings and the lowest 4 layers frozen), in fp32, on 32,000 training rows spread over source x
language x tier cells (no single source's style decides what a tier looks like), at 64 tokens (the corpus'
median text is 35 tokens): 1,000 steps of 32, one epoch. Each non-reference source's labelling convention is
learnt as a training-only offset (``source_conventions``). It evaluates on samples of the validation,
calibration and test splits, and on each held-out source. The recipe was chosen on the held-out sources
(README, "Model quality on unseen sources").
``standard`` trains all 12 layers but the lowest 2 on 96,000 rows at 96 tokens, its probe on every training row
(``probe_rows="all"``): hours on this CPU.
``full`` trains every layer but the word embeddings on all of the data at 128 tokens for 3 epochs: hours on
this CPU, minutes on a GPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from model.artifact import DEFAULT_CONFORMAL_ALPHA
from model.corpus import CORPUS_FILE, corpus_file

Profile = Literal["quick", "standard", "full"]
#: How the training sample is spread: over language x tier cells, or over source x language x tier cells
#: (so that no single source's style decides what a tier looks like).
SampleCells = Literal["language_tier", "source_language_tier"]
Positive = Annotated[int, Field(gt=0)]


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: Profile
    corpus_dir: Path
    output_dir: Path
    encoder_cache_dir: Path
    seed: int = 13
    max_length: Annotated[int, Field(ge=16, le=512)] = 64
    batch_size: Positive = 32
    epochs: Positive = 1
    #: Train on at most this many rows, balanced over language x tier; None for all. The quick profile's
    #: budget is this (32,000 rows: 1,000 steps of 32, one epoch with its whole learning-rate schedule), not
    #: the clock, so that the same command gives the same model on a busy machine.
    max_train_rows: Positive | None = 32_000
    #: How the training sample spreads over language x tier cells: each cell in proportion to its
    #: size ** power (0: every cell alike, 1: as in the corpus).
    sample_power: float = Field(default=0.5, ge=0, le=1)
    sample_cells: SampleCells = "source_language_tier"
    #: Evaluate on at most this many rows of each held-out split; None for all.
    max_eval_rows: Positive | None = 1000
    max_test_rows: Positive | None = 4000
    #: Rows of the calibration split that fit the temperatures and thresholds at export (the conformal thresholds
    #: use all of its high-risk rows). Enough that most areas have the 20 positives a threshold of their own
    #: needs (``training.calibration``); None for all.
    max_calibration_rows: Positive | None = 6000
    #: Rows of each held-out source (the corpus' ``ood`` split) scored after training, for the run's OOD
    #: figures (``evaluation.ood``); None for all, 0 for none.
    max_ood_rows_per_source: Annotated[int, Field(ge=0)] | None = 400
    #: The exported model scores a text longer than ``max_length`` tokens in up to this many windows
    #: (``model.scorer.windows``); 1 reads only its start. Training reads the start of each text.
    max_windows: Annotated[int, Field(ge=1, le=64)] = 4
    #: Keep only the encoder's lowest layers (12: all); see ``training.modeling.load_encoder``.
    encoder_layers: Annotated[int, Field(ge=1, le=12)] = 8
    freeze_embeddings: bool = True
    frozen_layers: Annotated[int, Field(ge=0, le=12)] = 4
    #: LP-FT (``training.train.linear_probe``): train the heads alone for this many epochs over the frozen
    #: encoder's embeddings of the training sample first, then fine-tune from there; 0 skips the probe.
    #: With ``frozen_layers == encoder_layers`` the probe is the whole training.
    probe_epochs: Annotated[int, Field(ge=0, le=1000)] = 10
    probe_lr: float = Field(default=3e-3, gt=0)
    #: Make the probed heads blind to this many directions along which languages' mean embeddings differ
    #: (``training.train.language_directions``); 0 for none.
    probe_language_directions: Annotated[int, Field(ge=0, le=64)] = 0
    probe_batch_size: Positive = 256
    #: What the probe trains on: ``all`` training rows (each weighted so that the whole is balanced as the
    #: fine-tuning sample is), or only the fine-tuning ``sample``. Either way their embeddings go through the
    #: embedding cache (``training.embedding_cache``). The frozen 8-layer encoder embeds about 100-210 rows/s
    #: on 2 cores, so ``all`` (266,000 training rows) costs 20-45 minutes the first time: the standard
    #: profile's default, and the quick profile's with ``--set probe_rows=all`` once the cache is warm.
    probe_rows: Literal["all", "sample"] = "sample"
    #: Keep the frozen encoder's embeddings under ``encoder_cache_dir/embeddings`` for later runs.
    embedding_cache: bool = True
    #: Learn each source's labelling convention as a training-only offset to the heads
    #: (``training.modeling.SourceConventions``), so that the served heads learn the taxonomy's convention.
    source_conventions: bool = True
    #: L2 penalty on the convention offsets' weights (their biases go free): larger keeps them to less.
    convention_l2: float = Field(default=0.05, ge=0)
    #: Leave these sources' rows out of training (the probe's rows and the fine-tuning sample), after the sample
    #: is drawn: an ablation that changes nothing else (the same other rows, validation, calibration and test),
    #: and whose probe embeddings all come from the cache.
    exclude_train_sources: tuple[str, ...] = ()
    #: Sources labelled in the taxonomy's own convention (no offset); sources named ``custom:*`` and
    #: ``reviewer_decisions*`` (a team's own labels) are always reference sources.
    reference_sources: tuple[str, ...] = ("authored", "ud_benign_sentences", "ud_benign_sentences_nc")
    encoder_lr: float = Field(default=5e-5, gt=0)
    #: The heads' learning rate while fine-tuning (low: after the probe they need adjusting, not learning).
    head_lr: float = Field(default=2e-4, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.06, ge=0, lt=1)
    dropout: float = Field(default=0.1, ge=0, lt=1)
    #: bf16 autocast pays only on CPUs with AMX; on the AVX2-only CPU here it made training 3x and
    #: inference 4x slower than fp32 (measured: 15 vs 50 training rows/s at batch 32), so it is opt-in.
    bf16: bool = False
    #: Evaluate on validation this many times per epoch (early stopping and checkpoints happen there).
    evals_per_epoch: Positive = 3
    patience: Positive = 2
    #: Stop the training loop after this many minutes, a safety limit (a run cut by it says so in
    #: ``stop_reason``, and its model depends on the machine's speed); None for no limit.
    max_minutes: float | None = Field(default=30.0, gt=0)
    #: Weight of the area loss beside the tier loss.
    area_loss_weight: float = Field(default=1.0, ge=0)
    #: Treat a row labelled "none" as a negative for every area, not only those its source labels
    #: (see ``training.dataset.load_splits``).
    none_implies_negatives: bool = True
    #: Target recall of the high tier on the calibration split, which sets the high-risk threshold.
    high_risk_recall: float = Field(default=0.9, gt=0, le=1)
    #: At most this share of truly low-risk calibration rows may reach the high-risk threshold (it is raised
    #: where the recall target would escalate more); None for no limit.
    max_low_escalated: float | None = Field(default=0.02, gt=0, lt=1)
    #: Target miss rate of the conformal high-risk thresholds fitted at export (``model.artifact.Conformal``):
    #: at most this share of truly high-risk reports may fall below them (and so bypass a person).
    conformal_alpha: float = Field(default=DEFAULT_CONFORMAL_ALPHA, gt=0, lt=1)
    threads: Positive | None = None

    @model_validator(mode="after")
    def _check_layers(self) -> TrainConfig:
        if self.frozen_layers > self.encoder_layers:
            raise ValueError(f"frozen_layers {self.frozen_layers}: the model keeps {self.encoder_layers} "
                             "encoder_layers")
        if self.frozen_layers == self.encoder_layers and not self.probe_epochs:
            raise ValueError(f"frozen_layers {self.frozen_layers} freezes every encoder layer and probe_epochs "
                             "is 0: nothing would be trained (set probe_epochs to train the heads alone)")
        return self

    @model_validator(mode="after")
    def _check_paths(self) -> TrainConfig:
        if not corpus_file(self.corpus_dir).is_file():
            raise ValueError(f"{self.corpus_dir}: no {CORPUS_FILE}; run `triage data build` first")
        return self

    @classmethod
    def for_profile(cls, profile: Profile, **overrides: object) -> TrainConfig:
        presets: dict[str, dict[str, object]] = {
            "quick": {},
            "standard": {"max_length": 96, "max_train_rows": 96_000, "encoder_layers": 12, "frozen_layers": 2,
                         "max_eval_rows": 2000, "evals_per_epoch": 4, "max_minutes": 120.0, "probe_rows": "all"},
            "full": {"max_length": 128, "epochs": 3, "max_train_rows": None, "max_eval_rows": None, "probe_rows": "all",
                     "max_test_rows": None, "encoder_layers": 12, "frozen_layers": 0, "max_minutes": None,
                     "evals_per_epoch": 2, "batch_size": 32, "max_ood_rows_per_source": None},
        }
        values = {"profile": profile, **presets[profile]}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
