"""Scoring with the exported model: onnxruntime and tokenizers only (no torch, no transformers).

Texts are normalised, prefixed as the encoder expects, tokenised in one batch call, sorted by length and
scored in batches padded only to the longest text of the batch (dynamic padding), then put back in order;
with ``max_padding`` a batch also ends where the next text would add too much padding (length bucketing, what
the server's micro-batcher uses for the mixed requests it merges). Probabilities are calibrated with the
artifact's temperatures.

A text longer than the model's ``max_length`` is scored in windows (up to the artifact's ``max_windows``):
each window is the text's leading special and prefix tokens, a stretch of its tokens and the closing token;
windows overlap by a quarter. The text takes the tier logits of its most harmful window (lowest P(low)) and,
per area, the highest area logit of any window: a threat in the last paragraph of a long escalation counts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model.artifact import ArtifactMeta
from model.text import normalize_text

Floats = npt.NDArray[np.float32]


class ArtifactError(RuntimeError):
    """The artifact folder is missing a file or does not describe itself."""


@dataclass(frozen=True, slots=True)
class Score:
    tier: str
    tier_probs: dict[str, float]
    area_probs: dict[str, float]
    #: Areas at or above their threshold, most probable first; ``["none"]`` when no violation area is.
    areas: list[str]


def softmax(logits: Floats) -> Floats:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: Floats = e / e.sum(axis=1, keepdims=True)
    return out


def sigmoid(logits: Floats) -> Floats:
    out: Floats = np.reciprocal(1.0 + np.exp(-logits))
    return out


def calibrate(tier_logits: Floats, area_logits: Floats, tier_t: float, area_t: float) -> tuple[Floats, Floats]:
    """Temperature-scaled tier probabilities (softmax) and area probabilities (sigmoid): the one definition
    that serving, calibration and evaluation all use."""
    return softmax(tier_logits / tier_t), sigmoid(area_logits / area_t)


def to_scores(meta: ArtifactMeta, tier_probs: Floats, area_probs: Floats) -> list[Score]:
    """Per-row scores from calibrated probabilities: the decided tier (``decide_tiers`` at the artifact's
    high-risk threshold) and the areas at or above their thresholds."""
    tiers, area_labels = meta.tier_labels, meta.area_labels
    thresholds = np.array([meta.thresholds.areas[a] for a in area_labels], dtype=area_probs.dtype)
    decided = decide_tiers(tier_probs, tiers.index("high"), meta.thresholds.high_risk)
    results = []
    for tp, ap, tier_index in zip(tier_probs, area_probs, decided, strict=True):
        hits = [area_labels[j] for j in np.argsort(-ap) if ap[j] >= thresholds[j] and area_labels[j] != "none"]
        results.append(Score(
            tier=tiers[int(tier_index)],
            tier_probs={name: float(p) for name, p in zip(tiers, tp, strict=True)},
            area_probs={name: float(p) for name, p in zip(area_labels, ap, strict=True)},
            areas=hits or ["none"],
        ))
    return results


def encode_texts(tokenizer: Any, prefix: str, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of ``texts`` as the model sees them: normalised, prefixed, tokenised (and truncated, as the
    tokenizer is set up). Training, export and serving all encode through here."""
    return [e.ids for e in tokenizer.encode_batch([prefix + normalize_text(t) for t in texts])]


def windows(ids: Sequence[int], head: int, width: int, max_windows: int) -> list[list[int]]:
    """``ids`` (an untruncated encoding: ``head`` leading tokens, the body, one closing token) cut into at most
    ``max_windows`` windows of at most ``width`` tokens, each ``head + part of the body + closing``; windows
    overlap by a quarter of their body. A text that fits is one window, unchanged."""
    if len(ids) <= width or max_windows <= 1:
        return [[*ids[: width - 1], ids[-1]]] if len(ids) > width else [list(ids)]
    lead, body, close = list(ids[:head]), list(ids[head:-1]), ids[-1]
    size = width - head - 1
    stride = max(1, size - size // 4)
    starts = list(range(0, max(1, len(body) - size + stride), stride))[:max_windows]
    return [[*lead, *body[start : start + size], close] for start in starts]


def combine_windows(tier: Floats, areas: Floats, owner: npt.NDArray[np.intp], n: int,
                    low_index: int = 0) -> tuple[Floats, Floats]:
    """Per text (``owner`` maps window -> text): the tier logits of its most harmful window (lowest P(low))
    and the highest logit of each area over its windows."""
    p_low = softmax(tier)[:, low_index]
    out_tier = np.zeros((n, tier.shape[1]), dtype=tier.dtype)
    out_areas = np.full((n, areas.shape[1]), -np.inf, dtype=areas.dtype)
    best = np.full(n, np.inf)
    for w, text in enumerate(owner):
        if p_low[w] < best[text]:
            best[text] = p_low[w]
            out_tier[text] = tier[w]
        out_areas[text] = np.maximum(out_areas[text], areas[w])
    return out_tier, out_areas


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Input ids and attention mask for ``rows``, padded to the longest of them (dynamic padding)."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def decide_tiers(tier_probs: Floats, high_index: int, high_risk_threshold: float) -> npt.NDArray[np.int64]:
    """The tier of each row: high when P(high) reaches the threshold, else the likelier of the others.

    A threshold below the argmax point sends more reports to people: recall on the dangerous few is
    worth more than precision (the threshold is chosen on the calibration split)."""
    below = np.argmax(np.delete(tier_probs, high_index, axis=1), axis=1)
    below = np.where(below >= high_index, below + 1, below)
    return np.where(tier_probs[:, high_index] >= high_risk_threshold, high_index, below).astype(np.int64)


def _runs(lengths: Sequence[int], order: npt.NDArray[np.intp], batch_size: int,
          max_padding: int | None) -> list[npt.NDArray[np.intp]]:
    """``order`` (texts sorted by ``lengths``, ascending) cut into the runs that go through the model together."""
    cuts = [0]
    for i in range(1, len(order)):
        start = cuts[-1]
        if i - start >= batch_size or (
                max_padding is not None and (lengths[i] - lengths[i - 1]) * (i - start) > max_padding):
            cuts.append(i)
    return [order[a:b] for a, b in zip(cuts, [*cuts[1:], len(order)], strict=True)]


class Scorer:
    def __init__(self, folder: Path, *, use_fp32: bool = False, threads: int | None = None,
                 max_windows: int | None = None) -> None:
        """``max_windows`` overrides the artifact's (1: read only the start of long texts)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            self.meta = ArtifactMeta.load(folder)
        except FileNotFoundError as exc:
            raise ArtifactError(f"{folder}: no artifact.json; export a model with `triage export`") from exc
        if max_windows is not None:
            self.meta = self.meta.model_copy(update={"max_windows": max_windows})
        model_path = folder / (self.meta.files.model_fp32 if use_fp32 else self.meta.files.model)
        tokenizer_path = folder / self.meta.files.tokenizer
        for path in (model_path, tokenizer_path):
            if not path.is_file():
                raise ArtifactError(f"{path}: missing from the artifact")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_padding()
        if self.meta.max_windows > 1:
            self.tokenizer.no_truncation()
            # The tokens every window repeats: the opening special token and the text prefix.
            self._head = len(self.tokenizer.encode(self.meta.text_prefix.strip()).ids) - 1
        else:
            self.tokenizer.enable_truncation(self.meta.max_length)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # Idle intra-op threads sleep instead of spinning: the server's request threads (HTTP, database, language
        # detection) need the cores between and during model calls. Measured on 2 cores with the demo model:
        # server CPU per scored request 36-40 ms instead of 39-51 ms; a lone call in an idle process pays for
        # it (single-report calls about 15% slower), batch scoring does not.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """One token-id list per text: truncated at ``max_length``, or (with windows) the whole text."""
        return encode_texts(self.tokenizer, self.meta.text_prefix, texts)

    def encode_windows(self, texts: Sequence[str]) -> tuple[list[list[int]], npt.NDArray[np.intp]]:
        """The model inputs of ``texts``: one or more windows per text, and the text each window belongs to."""
        encodings = self.encode(texts)
        if self.meta.max_windows <= 1:
            return encodings, np.arange(len(texts))
        rows: list[list[int]] = []
        owner: list[int] = []
        for i, ids in enumerate(encodings):
            parts = windows(ids, self._head, self.meta.max_length, self.meta.max_windows)
            rows.extend(parts)
            owner.extend([i] * len(parts))
        return rows, np.array(owner, dtype=np.intp)

    def logits(self, texts: Sequence[str], batch_size: int = 32, *,
               max_padding: int | None = None) -> tuple[Floats, Floats]:
        """Raw (uncalibrated) tier and area logits, in input order.

        Texts run through the model shortest first, ``batch_size`` at a time. With ``max_padding`` (length
        bucketing), a text also starts a new run when making it the longest of the current run would add more
        than ``max_padding`` pad tokens to that run: on CPU a model call costs about as much as 8 tokens of one
        text, so merging texts of very different lengths costs more in padding than it saves in calls."""
        encodings, owner = self.encode_windows(texts)
        order = np.argsort([len(ids) for ids in encodings], kind="stable")
        tier = np.zeros((len(encodings), len(self.meta.tier_labels)), dtype=np.float32)
        areas = np.zeros((len(encodings), len(self.meta.area_labels)), dtype=np.float32)
        for index in _runs([len(encodings[i]) for i in order], order, batch_size, max_padding):
            ids, mask = pad_batch([encodings[i] for i in index], self.meta.pad_id)
            tier_logits, area_logits = self.session.run(None, {"input_ids": ids, "attention_mask": mask})
            tier[index] = tier_logits
            areas[index] = area_logits
        if len(encodings) == len(texts):
            return tier, areas
        return combine_windows(tier, areas, owner, len(texts), self.meta.tier_labels.index("low"))

    def probabilities(self, texts: Sequence[str], batch_size: int = 32, *,
                      max_padding: int | None = None) -> tuple[Floats, Floats]:
        """Calibrated tier probabilities (softmax) and area probabilities (sigmoid), in input order."""
        tier, areas = self.logits(texts, batch_size, max_padding=max_padding)
        return calibrate(tier, areas, self.meta.temperatures.tier, self.meta.temperatures.areas)

    def score(self, texts: Sequence[str], batch_size: int = 32) -> list[Score]:
        return to_scores(self.meta, *self.probabilities(texts, batch_size))
