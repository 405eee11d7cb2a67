"""``triage train``: fine-tune the classifier, calibrate it, and record everything in MLflow.

The run folder (``$TRIAGE_WORK_DIR/runs/<run name>``) holds ``checkpoint.pt`` (trainable weights,
optimizer and scheduler state, step: enough to resume), ``model.safetensors`` (the best weights, whole
model) and ``training.json`` (``training.summary.TrainingSummary``: config, label order, metrics,
provenance), which ``triage export`` turns into the serving artifact (and where calibration happens: on the
exported int8 model's outputs, since that is the model that serves).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from evaluation.metrics import classification_report
from evaluation.ood import OODReport, format_table, ood_report, sample_per_source
from model import registry
from model.scorer import calibrate, decide_tiers, softmax
from model.settings import Settings, get_settings
from model.taxonomy import get_taxonomy
from training.config import TrainConfig
from training.data.build import load_manifest
from training.dataset import SplitArrays, balance_weights, balanced_sample, batches, encode, load_splits
from training.embedding_cache import CacheStats, EmbeddingCache, cache_key
from training.encoder import PAD_ID, TEXT_PREFIX, prepare_encoder
from training.modeling import SourceConventions, TriageClassifier, load_encoder
from training.summary import SUMMARY_FILE, Evaluation, ProbeEpoch, StopReason, TrainingSummary

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "model.safetensors"
SUMMARY = SUMMARY_FILE  # the run's TrainingSummary (training.summary)

Floats = npt.NDArray[np.float32]


@dataclass
class Prepared:
    split: SplitArrays
    ids: list[list[int]]


def progress(iterable: Any, **kwargs: Any) -> Any:
    """A progress bar; in a log file (no terminal), one line every 30 s instead of a redraw per step."""
    return tqdm(iterable, mininterval=0.2 if sys.stderr.isatty() else 30.0, **kwargs)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def random_sample(split: SplitArrays, limit: int | None, seed: int) -> SplitArrays:
    """A uniform sample (held-out splits keep their natural class balance, which calibration needs)."""
    if limit is None or len(split) <= limit:
        return split
    index = np.sort(np.random.default_rng(seed).choice(len(split), size=limit, replace=False))
    return split.take(index.astype(np.int64))


def held_out_sample(splits: dict[str, SplitArrays], name: str, config: TrainConfig) -> SplitArrays:
    """The rows of a held-out split that a run evaluates on: the same for training and export."""
    limit = {"test": config.max_test_rows, "calibration": config.max_calibration_rows}.get(name, config.max_eval_rows)
    offset = {"validation": 1, "calibration": 2, "test": 3}[name]
    return random_sample(splits[name], limit, config.seed + offset)


def class_weights(tiers: npt.NDArray[np.int64], n: int) -> torch.Tensor:
    """Inverse square-root frequency, normalised to mean 1: rare tiers count more, without overshooting."""
    counts = np.bincount(tiers, minlength=n).astype(np.float64) + 1.0
    weights = 1.0 / np.sqrt(counts)
    return torch.tensor(weights / weights.mean(), dtype=torch.float32)


def area_pos_weights(areas: Floats, known: npt.NDArray[np.bool_]) -> torch.Tensor:
    """Negatives per positive among known labels, clipped to [1, 20]: rare areas are not drowned out."""
    positives = (areas * known).sum(axis=0)
    negatives = ((1 - areas) * known).sum(axis=0)
    return torch.tensor(np.clip(negatives / np.maximum(positives, 1.0), 1.0, 20.0), dtype=torch.float32)


def loss_fn(tier_logits: torch.Tensor, area_logits: torch.Tensor, tier: torch.Tensor, areas: torch.Tensor,
            known: torch.Tensor, weight: torch.Tensor, tier_weights: torch.Tensor, pos_weight: torch.Tensor,
            area_loss_weight: float) -> torch.Tensor:
    """Weighted tier cross-entropy plus area BCE over the known labels only (unknown ones are ignored)."""
    tier_loss = torch.nn.functional.cross_entropy(tier_logits.float(), tier, weight=tier_weights, reduction="none")
    area_loss = torch.nn.functional.binary_cross_entropy_with_logits(
        area_logits.float(), areas, pos_weight=pos_weight, reduction="none")
    mask = known.float()
    per_row_area = (area_loss * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return ((tier_loss + area_loss_weight * per_row_area) * weight).sum() / weight.sum()


@torch.no_grad()
def predict_logits(model: TriageClassifier, ids: list[list[int]], batch_size: int, bf16: bool,
                   desc: str = "predict") -> tuple[Floats, Floats]:
    model.eval()
    taxonomy = get_taxonomy()
    tier = np.zeros((len(ids), len(taxonomy.tier_names)), dtype=np.float32)
    areas = np.zeros((len(ids), len(taxonomy.area_names)), dtype=np.float32)
    for index, input_ids, mask in progress(list(batches(ids, batch_size * 2, PAD_ID)), desc=desc, leave=False):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            t, a = model(torch.from_numpy(input_ids), torch.from_numpy(mask))
        tier[index] = t.float().numpy()
        areas[index] = a.float().numpy()
    return tier, areas


def evaluate(split: SplitArrays, tier_logits: Floats, area_logits: Floats, temperatures: tuple[float, float],
             thresholds: dict[str, float], high_threshold: float) -> dict[str, Any]:
    taxonomy = get_taxonomy()
    tier_probs, area_probs = calibrate(tier_logits, area_logits, *temperatures)
    tier_pred = decide_tiers(tier_probs, taxonomy.tier_names.index("high"), high_threshold)
    return classification_report(
        tier_probs, split.tier, area_probs, split.areas > 0.5, split.known,
        np.array([thresholds[a] for a in taxonomy.area_names], dtype=np.float32),
        taxonomy.tier_names, taxonomy.area_names, tier_pred=tier_pred, languages=split.languages,
    )


def _validation_score(report: dict[str, Any]) -> float:
    return 0.5 * (float(report["tier_macro_f1"]) + float(report["area_macro_f1"]))


def untuned_report(split: SplitArrays, tier_logits: Floats, area_logits: Floats) -> dict[str, Any]:
    """``evaluate`` before calibration: temperatures 1, every threshold 0.5 (what training selects on)."""
    return evaluate(split, tier_logits, area_logits, (1.0, 1.0), {a: 0.5 for a in get_taxonomy().area_names}, 0.5)


def validation_report(model: TriageClassifier, validation: Prepared, config: TrainConfig) -> dict[str, Any]:
    tier_logits, area_logits = predict_logits(model, validation.ids, config.batch_size, config.bf16, "validate")
    return untuned_report(validation.split, tier_logits, area_logits)


def _trainable_state(model: TriageClassifier) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {n: t.detach().clone() for n, t in model.state_dict().items() if n in names}


def _head_state(model: TriageClassifier) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("encoder.")}


@torch.no_grad()
def embeddings(model: TriageClassifier, ids: list[list[int]], batch_size: int, desc: str) -> torch.Tensor:
    """The model's text embeddings (``TriageClassifier.embed``), one row per text, in the texts' order."""
    model.eval()
    out = torch.zeros((len(ids), model.encoder.config.hidden_size))
    for index, input_ids, mask in progress(list(batches(ids, batch_size * 2, PAD_ID)), desc=desc, leave=False):
        out[torch.from_numpy(index)] = model.embed(torch.from_numpy(input_ids), torch.from_numpy(mask)).float()
    return out


def language_directions(x: torch.Tensor, languages: list[str], k: int, min_rows: int = 50) -> torch.Tensor:
    """An orthonormal basis (hidden x k) of the directions along which languages' mean embeddings differ most
    (languages with at least ``min_rows`` rows): a head blind to them scores a text and its translation
    alike (Libovicky et al. 2020, "On the language neutrality of pre-trained multilingual representations")."""
    names = np.array(languages)
    kept = [lang for lang in sorted(set(languages)) if (names == lang).sum() >= min_rows]
    centroids = torch.stack([x[torch.from_numpy(names == lang)].mean(dim=0) for lang in kept])
    u, _, _ = torch.linalg.svd((centroids - centroids.mean(dim=0)).T, full_matrices=False)
    basis: torch.Tensor = u[:, : min(k, len(kept) - 1)]
    return basis


def probe_embeddings(model: TriageClassifier, rows: SplitArrays, tokenizer_path: Path, config: TrainConfig,
                     encoder_sha256: str) -> tuple[torch.Tensor, CacheStats]:
    """The frozen encoder's embeddings of ``rows``: through the embedding cache (``training.embedding_cache``)
    when the config keeps one, so that a later run embeds only the texts it has not seen."""

    def compute(positions: npt.NDArray[np.int64]) -> Floats:
        ids = encode([rows.texts[i] for i in positions], tokenizer_path, config.max_length)
        return embeddings(model, ids, config.batch_size, "probe: embed training rows").numpy()

    if not config.embedding_cache:
        started = time.perf_counter()
        vectors = compute(np.arange(len(rows), dtype=np.int64))
        return torch.from_numpy(vectors), CacheStats(len(rows), 0, len(rows), round(time.perf_counter() - started, 1))
    key = cache_key(encoder_sha256, config.encoder_layers, config.max_length, TEXT_PREFIX)
    cache = EmbeddingCache(config.encoder_cache_dir / "embeddings" / key, model.encoder.config.hidden_size)
    vectors, stats = cache.embed(rows.texts, compute)
    log.info("probe embeddings: %d rows, %d from the cache, %d computed in %.0f s", stats.rows, stats.hits,
             stats.computed, stats.compute_seconds)
    return torch.from_numpy(vectors), stats


@dataclass
class ProbeResult:
    history: list[ProbeEpoch]
    embeddings: CacheStats


def linear_probe(model: TriageClassifier, data: RunData, config: TrainConfig, objective: Objective) -> ProbeResult:
    """The first stage of LP-FT (Kumar et al. 2022): the heads alone, trained for ``probe_epochs`` over the
    embeddings the pretrained encoder gives (computed once, and cached across runs), the best epoch on
    validation kept.

    With ``probe_rows="all"`` the probe sees every training row, each weighted (``dataset.balance_weights``)
    so that the whole is spread over source x language x tier cells as the fine-tuning sample is; with
    ``"sample"`` only the fine-tuning sample.

    Fine-tuning from randomly initialised heads moves the encoder most where the heads are wrong at the start,
    and so distorts the features that carry across languages and sources; starting from a fitted probe it
    moves them less. The probe alone (``frozen_layers == encoder_layers``) keeps them exactly."""
    split = data.splits["train"] if config.probe_rows == "all" else data.train.split
    weight = split.weight * (balance_weights(split, config.sample_power, by_source=config.sample_cells ==
                                             "source_language_tier") if config.probe_rows == "all" else 1.0)
    x_train, stats = probe_embeddings(model, split, data.tokenizer_path, config,
                                      data.provenance["sources"]["weights"]["sha256"])
    x_val = embeddings(model, data.validation.ids, config.batch_size, "probe: embed validation rows")
    basis = None
    if config.probe_language_directions:
        basis = language_directions(x_train, split.languages, config.probe_language_directions)
        x_train, x_val = (x - (x @ basis) @ basis.T for x in (x_train, x_val))
    tier, areas, known = (torch.from_numpy(a) for a in (split.tier, split.areas, split.known))
    row_weight = torch.from_numpy(weight.astype(np.float32))
    sources = torch.from_numpy(objective.source_index(split.sources))
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    if objective.conventions is not None:
        head_params += list(objective.conventions.parameters())
    optimizer = torch.optim.AdamW(head_params, lr=config.probe_lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    best_score, best_state, history = -1.0, _head_state(model), list[ProbeEpoch]()
    best_conventions = objective.conventions_state()
    for epoch in range(config.probe_epochs):
        model.train()
        order = torch.randperm(len(split), generator=generator)
        for start in range(0, len(split), config.probe_batch_size):
            index = order[start : start + config.probe_batch_size]
            pooled = x_train[index]
            tier_logits, area_logits = model.heads(pooled)
            loss = objective.loss_on(tier_logits, area_logits, pooled, tier[index], areas[index], known[index],
                                     row_weight[index], sources[index])
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        model.eval()
        with torch.no_grad():
            tier_v, area_v = (t.numpy() for t in model.heads(x_val))
        report = untuned_report(data.validation.split, tier_v, area_v)
        score = _validation_score(report)
        history.append(ProbeEpoch(probe_epoch=epoch + 1, probe_val_tier_macro_f1=report["tier_macro_f1"],
                                  probe_val_area_macro_f1=report["area_macro_f1"], probe_val_score=score))
        if score > best_score:
            best_score, best_state, best_conventions = score, _head_state(model), objective.conventions_state()
    model.load_state_dict(best_state, strict=False)
    objective.load_conventions(best_conventions)
    if basis is not None:  # W (I - B B^T) x == W x' on the projected x': the heads ignore those directions
        with torch.no_grad():
            for head in (model.tier_head, model.area_head):
                head.weight -= (head.weight @ basis) @ basis.T
    log.info("probe: best of %d epochs over %d rows: val score %.3f", config.probe_epochs, len(split), best_score)
    return ProbeResult(history, stats)


def ood_figures(model: TriageClassifier, ood: SplitArrays | None, tokenizer_path: Path, config: TrainConfig,
                ) -> OODReport | None:
    """The run's figures on the held-out sources (``evaluation.ood``) from its own logits: rankings only
    (AUROC), since thresholds and calibration come at export. None when the corpus holds no source out."""
    if ood is None or config.max_ood_rows_per_source == 0:
        return None
    tiers = get_taxonomy().tier_names
    everything = [{"source": s, "language": lang, "risk_tier": tiers[t], "index": i}
                  for i, (s, lang, t) in enumerate(zip(ood.sources, ood.languages, ood.tier.tolist(), strict=True))]
    rows = sample_per_source(everything, config.max_ood_rows_per_source, config.seed)
    sample = ood.take(np.array([r["index"] for r in rows], dtype=np.int64))
    tier_logits, _ = predict_logits(model, encode(sample.texts, tokenizer_path, config.max_length),
                                    config.batch_size, config.bf16, "held-out sources")
    tier_probs = softmax(tier_logits)
    return ood_report(rows, tier_probs, tiers, decide_tiers(tier_probs, tiers.index("high"), 0.5))


@dataclass
class TrainResult:
    run_dir: Path
    summary: TrainingSummary
    mlflow_run_id: str | None


@dataclass
class RunData:
    """What a run trains and validates on, and where it came from."""

    corpus_fingerprint: str
    encoder_dir: Path
    #: The encoder's ``provenance.json``.
    provenance: dict[str, Any]
    #: Every split of the corpus (export samples the held-out ones with ``held_out_sample`` too).
    splits: dict[str, SplitArrays]
    train: Prepared
    validation: Prepared

    @property
    def tokenizer_path(self) -> Path:
        return self.encoder_dir / "tokenizer.json"

    def rows(self) -> dict[str, int]:
        return {"train": len(self.train.split), "validation": len(self.validation.split)}


def load_data(config: TrainConfig, corpus_fingerprint: str) -> RunData:
    """The prepared encoder, the corpus' splits, and the training and validation samples, tokenized."""
    encoder_dir = prepare_encoder(config.encoder_cache_dir)
    provenance = json.loads((encoder_dir / "provenance.json").read_text())
    splits = load_splits(config.corpus_dir, config.none_implies_negatives)
    for name in ("train", "validation", "calibration", "test"):  # all four are needed, export uses the rest
        if name not in splits:
            raise ValueError(f"{config.corpus_dir}: the corpus has no {name} split")
    train_split = balanced_sample(splits["train"], config.max_train_rows, config.seed, config.sample_power,
                                  by_source=config.sample_cells == "source_language_tier")
    if config.exclude_train_sources:
        excluded = set(config.exclude_train_sources)
        splits["train"] = without_sources(splits["train"], excluded)
        train_split = without_sources(train_split, excluded)
    validation = held_out_sample(splits, "validation", config)
    tokenizer_path = encoder_dir / "tokenizer.json"
    data = RunData(corpus_fingerprint, encoder_dir, provenance, splits,
                   train=Prepared(train_split, encode(train_split.texts, tokenizer_path, config.max_length)),
                   validation=Prepared(validation, encode(validation.texts, tokenizer_path, config.max_length)))
    log.info("rows: %s", data.rows())
    return data


def without_sources(split: SplitArrays, sources: set[str]) -> SplitArrays:
    """The rows of ``split`` whose source is not in ``sources``, in their order."""
    return split.take(np.array([i for i, s in enumerate(split.sources) if s not in sources], dtype=np.int64))


def build_model(config: TrainConfig, encoder_dir: Path) -> TriageClassifier:
    """The classifier on the pretrained encoder's lowest ``encoder_layers``, frozen as the config says."""
    taxonomy = get_taxonomy()
    model = TriageClassifier(load_encoder(encoder_dir, config.encoder_layers), len(taxonomy.tier_names),
                             len(taxonomy.area_names), config.dropout)
    model.freeze(config.freeze_embeddings, config.frozen_layers)
    return model


def is_reference_source(name: str, config: TrainConfig) -> bool:
    """A source labelled in the taxonomy's own convention: no convention offset (``SourceConventions``)."""
    return name in config.reference_sources or name.startswith(("custom:", "reviewer_decisions"))


@dataclass
class Objective:
    """The loss: per-tier and per-area positive weights from the training sample, and the sources' conventions
    (``training.modeling.SourceConventions``; None to fit every source with the served heads alone)."""

    tier_weights: torch.Tensor
    pos_weight: torch.Tensor
    area_loss_weight: float
    conventions: SourceConventions | None = None
    convention_l2: float = 0.0

    @classmethod
    def for_sample(cls, train_data: Prepared, config: TrainConfig, sources: list[str] | None = None,
                   hidden: int = 0) -> Objective:
        """The objective for the sample; with ``sources`` (every source of the training split) and the
        config's ``source_conventions``, with a convention offset per non-reference source."""
        split = train_data.split
        taxonomy = get_taxonomy()
        conventions = None
        if config.source_conventions and sources:
            names = sorted(set(sources))
            conventions = SourceConventions(names, [is_reference_source(n, config) for n in names], hidden,
                                            len(taxonomy.tier_names) + len(taxonomy.area_names))
        return cls(class_weights(split.tier, len(taxonomy.tier_names)), area_pos_weights(split.areas, split.known),
                   config.area_loss_weight, conventions, config.convention_l2)

    def source_index(self, sources: list[str]) -> npt.NDArray[np.int64]:
        if self.conventions is None:
            return np.zeros(len(sources), dtype=np.int64)
        position = {name: i for i, name in enumerate(self.conventions.sources)}
        return np.array([position[s] for s in sources], dtype=np.int64)

    def conventions_state(self) -> dict[str, torch.Tensor]:
        if self.conventions is None:
            return {}
        return {n: t.detach().clone() for n, t in self.conventions.state_dict().items()}

    def load_conventions(self, state: dict[str, torch.Tensor]) -> None:
        if self.conventions is not None and state:
            self.conventions.load_state_dict(state)

    def loss_on(self, tier_logits: torch.Tensor, area_logits: torch.Tensor, pooled: torch.Tensor,
                tier: torch.Tensor, areas: torch.Tensor, known: torch.Tensor, weight: torch.Tensor,
                source_index: torch.Tensor) -> torch.Tensor:
        """``loss_fn`` on logits offset by each row's source convention, plus the offsets' penalty."""
        penalty = torch.zeros(())
        if self.conventions is not None:
            offset, penalty = self.conventions(pooled, source_index)
            n_tiers = tier_logits.shape[1]
            tier_logits = tier_logits + offset[:, :n_tiers]
            area_logits = area_logits + offset[:, n_tiers:]
        return loss_fn(tier_logits, area_logits, tier, areas, known, weight, self.tier_weights, self.pos_weight,
                       self.area_loss_weight) + self.convention_l2 * penalty

    def loss(self, split: SplitArrays, index: npt.NDArray[np.int64], tier_logits: torch.Tensor,
             area_logits: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """The loss on the rows ``index`` of ``split``, whose logits and pooled embeddings (which the sources'
        conventions read) are given."""
        return self.loss_on(tier_logits, area_logits, pooled, torch.from_numpy(split.tier[index]),
                            torch.from_numpy(split.areas[index]), torch.from_numpy(split.known[index]),
                            torch.from_numpy(split.weight[index]),
                            torch.from_numpy(self.source_index([split.sources[i] for i in index])))


@dataclass
class Schedule:
    """AdamW over the trainable parameters (encoder and heads at their own rates), linear warm-up and decay."""

    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR
    steps_per_epoch: int
    total_steps: int
    #: Validate (and checkpoint) every this many steps.
    eval_every: int

    @classmethod
    def build(cls, model: TriageClassifier, config: TrainConfig, train_rows: int,
              extra: list[torch.nn.Parameter] | None = None) -> Schedule:
        """``extra``: more parameters trained at the heads' rate (the sources' conventions)."""
        head_params = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("encoder.")]
        head_params += extra or []
        encoder_params = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("encoder.")]
        groups = [{"params": encoder_params, "lr": config.encoder_lr}, {"params": head_params, "lr": config.head_lr}]
        optimizer = torch.optim.AdamW([g for g in groups if g["params"]], weight_decay=config.weight_decay)
        steps_per_epoch = math.ceil(train_rows / config.batch_size)
        total_steps = steps_per_epoch * config.epochs
        warmup = max(1, int(config.warmup_ratio * total_steps))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))))
        return cls(optimizer, scheduler, steps_per_epoch, total_steps,
                   eval_every=max(1, steps_per_epoch // config.evals_per_epoch))


@dataclass
class LoopState:
    """Where the fine-tuning loop stands: with the model, optimizer and scheduler, what a checkpoint holds
    (the evaluation history of a resumed run starts again)."""

    step: int
    best_score: float
    best_state: dict[str, torch.Tensor]
    bad_evals: int
    history: list[Evaluation]

    @classmethod
    def start(cls, model: TriageClassifier) -> LoopState:
        return cls(step=0, best_score=-1.0, best_state=_trainable_state(model), bad_evals=0, history=[])

    @classmethod
    def resume(cls, checkpoint_path: Path, model: TriageClassifier, schedule: Schedule) -> LoopState:
        """The state saved in ``checkpoint_path``, loaded into ``model`` and ``schedule`` too."""
        checkpoint = torch.load(checkpoint_path, weights_only=True)
        model.load_state_dict(checkpoint["model"], strict=False)
        schedule.optimizer.load_state_dict(checkpoint["optimizer"])
        schedule.scheduler.load_state_dict(checkpoint["scheduler"])
        log.info("resumed from %s at step %d", checkpoint_path, checkpoint["step"])
        return cls(step=checkpoint["step"], best_score=checkpoint["best_score"], best_state=checkpoint["best"],
                   bad_evals=checkpoint["bad_evals"], history=[])


@dataclass
class FineTuning:
    """The second stage of LP-FT: the trainable layers and the heads, over ``epochs`` of the training sample,
    validated ``evals_per_epoch`` times an epoch (a checkpoint each time), the best validation score kept;
    stopped early after ``patience`` evaluations without a better score, or past the deadline."""

    model: TriageClassifier
    config: TrainConfig
    data: RunData
    objective: Objective
    schedule: Schedule
    state: LoopState
    checkpoint_path: Path
    deadline: float | None
    track: bool

    def run(self) -> StopReason:
        """Train from ``state`` on; why the loop ended."""
        for epoch in range(self.state.step // self.schedule.steps_per_epoch, self.config.epochs):
            stop_reason = self.epoch(epoch)
            if stop_reason != "completed":
                return stop_reason
        return "completed"

    def epoch(self, epoch: int) -> StopReason:
        """One epoch (the rest of it, when resuming in its middle); "completed" unless it stopped the loop."""
        config, state = self.config, self.state
        self.model.train()
        skip = state.step - epoch * self.schedule.steps_per_epoch
        epoch_batches = list(batches(self.data.train.ids, config.batch_size, PAD_ID,
                                     shuffle_seed=config.seed + epoch))[skip:]
        bar = progress(epoch_batches, desc=f"epoch {epoch + 1}/{config.epochs}", initial=skip,
                       total=self.schedule.steps_per_epoch)
        running = 0.0
        for index, input_ids, mask in bar:
            value = self.train_step(index, input_ids, mask)
            state.step += 1
            running = 0.9 * running + 0.1 * value if state.step > 1 else value
            bar.set_postfix(loss=f"{running:.3f}", refresh=False)
            out_of_time = self.deadline is not None and time.perf_counter() > self.deadline
            if state.step % self.schedule.eval_every == 0 or state.step == self.schedule.total_steps or out_of_time:
                self.validate(running)
                if state.bad_evals >= config.patience and state.step < self.schedule.total_steps:
                    return "early_stopping"
                if out_of_time:
                    return "time_budget"
        return "completed"

    def train_step(self, index: npt.NDArray[np.int64], input_ids: npt.NDArray[np.int64],
                   mask: npt.NDArray[np.int64]) -> float:
        """One optimizer step on one batch; its loss."""
        optimizer = self.schedule.optimizer
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.bf16):
            pooled = self.model.embed(torch.from_numpy(input_ids), torch.from_numpy(mask))
            tier_logits, area_logits = self.model.heads(pooled)
        loss = self.objective.loss(self.data.train.split, index, tier_logits, area_logits, pooled)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], 1.0)
        optimizer.step()
        self.schedule.scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.item())

    def validate(self, running: float) -> None:
        """Score validation, record it (in MLflow too), keep the best weights, count a miss, checkpoint."""
        state = self.state
        report = validation_report(self.model, self.data.validation, self.config)
        score = _validation_score(report)
        state.history.append(Evaluation(
            step=state.step, epoch=state.step / self.schedule.steps_per_epoch, loss=running,
            val_tier_macro_f1=report["tier_macro_f1"], val_area_macro_f1=report["area_macro_f1"], val_score=score))
        if self.track:
            mlflow.log_metrics(state.history[-1].model_dump(exclude={"step"}), step=state.step)
        if score > state.best_score:
            state.best_score, state.best_state, state.bad_evals = score, _trainable_state(self.model), 0
        else:
            state.bad_evals += 1
        self.save_checkpoint()
        self.model.train()
        log.info("step %d: val tier F1 %.3f area F1 %.3f", state.step, report["tier_macro_f1"],
                 report["area_macro_f1"])

    def save_checkpoint(self) -> None:
        state = self.state
        torch.save({"model": _trainable_state(self.model), "optimizer": self.schedule.optimizer.state_dict(),
                    "scheduler": self.schedule.scheduler.state_dict(), "step": state.step,
                    "best_score": state.best_score, "bad_evals": state.bad_evals, "best": state.best_state,
                    "conventions": self.objective.conventions_state()},
                   self.checkpoint_path)


def start_tracking(config: TrainConfig, run_name: str, data: RunData, probe_history: list[ProbeEpoch],
                   settings: Settings | None) -> str:
    """An MLflow run for this training run, with its config, provenance and probe epochs; its id."""
    taxonomy = get_taxonomy()
    experiment = registry.configure(settings or get_settings())
    active = mlflow.start_run(experiment_id=experiment, run_name=run_name)
    mlflow.log_params({**config.model_dump(mode="json"), "train_rows": len(data.train.split),
                       "encoder": data.provenance["encoder"],
                       "encoder_sha256": data.provenance["sources"]["weights"]["sha256"]})
    mlflow.set_tags({"corpus_fingerprint": data.corpus_fingerprint, "taxonomy_version": taxonomy.version,
                     "profile": config.profile, "stage": "train"})
    for record in probe_history:
        mlflow.log_metrics(record.model_dump(exclude={"probe_epoch"}), step=record.probe_epoch)
    return str(active.info.run_id)


def save_weights(model: TriageClassifier, best_state: dict[str, torch.Tensor], run_dir: Path) -> None:
    """The best weights into ``model`` and, whole model, into the run folder."""
    model.load_state_dict(best_state, strict=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(run_dir / WEIGHTS))


def make_summary(config: TrainConfig, run_name: str, data: RunData, state: LoopState, *, run_id: str | None,
                 probe: list[ProbeEpoch], probe_embeddings: CacheStats | None, stop_reason: StopReason,
                 validation: dict[str, Any],
                 ood: OODReport | None, train_seconds: float, total_seconds: float) -> TrainingSummary:
    """The run's ``training.json``."""
    taxonomy = get_taxonomy()
    return TrainingSummary(
        run_name=run_name, mlflow_run_id=run_id, profile=config.profile,
        config=config.model_dump(mode="json"), taxonomy_version=taxonomy.version,
        tier_labels=taxonomy.tier_names, area_labels=taxonomy.area_names,
        text_prefix=TEXT_PREFIX, max_length=config.max_length, pad_id=PAD_ID,
        corpus_fingerprint=data.corpus_fingerprint, encoder=data.provenance, encoder_dir=data.encoder_dir,
        rows=data.rows(), validation=validation, ood=ood.model_dump() if ood is not None else None,
        history=state.history, probe=probe,
        probe_embeddings=dataclasses.asdict(probe_embeddings) if probe_embeddings is not None else None,
        stop_reason=stop_reason, steps=state.step,
        train_seconds=round(train_seconds, 1), total_seconds=round(total_seconds, 1),
    )


def log_results(summary: TrainingSummary, ood: OODReport | None) -> None:
    """The run's final figures and its summary, to its MLflow run."""
    mlflow.log_metrics(registry.flatten({"train_validation": summary.validation,
                                         "train_seconds": summary.train_seconds}))
    if ood is not None:
        mlflow.log_metrics(ood.flat())
        log.info("held-out sources (torch, untuned thresholds):\n%s", format_table(ood))
    mlflow.log_dict(summary.to_dict(), SUMMARY)


def train(config: TrainConfig, run_name: str, resume: bool = False, track: bool = True,
          settings: Settings | None = None) -> TrainResult:
    """Probe, fine-tune and validate a classifier; its run folder (weights, checkpoint, ``training.json``)."""
    started = time.perf_counter()
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    seed_everything(config.seed)
    manifest = load_manifest(config.corpus_dir)
    run_dir = config.output_dir / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    data = load_data(config, manifest["fingerprint"])
    model = build_model(config, data.encoder_dir)
    objective = Objective.for_sample(data.train, config, data.splits["train"].sources,
                                     model.encoder.config.hidden_size)
    conventions = list(objective.conventions.parameters()) if objective.conventions is not None else []
    schedule = Schedule.build(model, config, len(data.train.split), extra=conventions)

    checkpoint_path = run_dir / CHECKPOINT
    resuming = resume and checkpoint_path.is_file()
    probe_history: list[ProbeEpoch] = []
    probe_stats: CacheStats | None = None
    if config.probe_epochs and not resuming:  # a checkpoint holds the probed heads already
        probe = linear_probe(model, data, config, objective)
        probe_history, probe_stats = probe.history, probe.embeddings
    state = LoopState.resume(checkpoint_path, model, schedule) if resuming else LoopState.start(model)
    if resuming:  # the sources' conventions as the checkpoint left them (older checkpoints hold none)
        objective.load_conventions(torch.load(checkpoint_path, weights_only=True).get("conventions", {}))
    run_id = start_tracking(config, run_name, data, probe_history, settings) if track else None
    deadline = started + config.max_minutes * 60 if config.max_minutes else None
    try:
        stop_reason: StopReason = "probe_only"
        if config.frozen_layers < config.encoder_layers:
            stop_reason = FineTuning(model, config, data, objective, schedule, state, checkpoint_path, deadline,
                                     track).run()
        train_seconds = time.perf_counter() - started
        save_weights(model, state.best_state, run_dir)
        validation = validation_report(model, data.validation, config)
        ood = ood_figures(model, data.splits.get("ood"), data.tokenizer_path, config)
        summary = make_summary(config, run_name, data, state, run_id=run_id, probe=probe_history,
                               probe_embeddings=probe_stats, stop_reason=stop_reason, validation=validation, ood=ood,
                               train_seconds=train_seconds, total_seconds=time.perf_counter() - started)
        summary.save(run_dir)
        if track:
            log_results(summary, ood)
    finally:
        if track:
            mlflow.end_run()
    return TrainResult(run_dir=run_dir, summary=summary, mlflow_run_id=run_id)
