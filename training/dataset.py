"""From the corpus Parquet to tensors: label arrays, balanced samples, length-bucketed batches."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from model.corpus import CorpusRow, corpus_file, read_corpus
from model.scorer import encode_texts, pad_batch
from model.taxonomy import get_taxonomy
from training.encoder import TEXT_PREFIX


@dataclass
class SplitArrays:
    """One split of the corpus as arrays, rows in corpus order."""

    texts: list[str]
    languages: list[str]
    sources: list[str]
    tier: npt.NDArray[np.int64]  # (n,) index into the taxonomy's tiers
    areas: npt.NDArray[np.float32]  # (n, areas) 1 where the area applies
    known: npt.NDArray[np.bool_]  # (n, areas) False where the source did not label the area
    weight: npt.NDArray[np.float32]  # (n,) label confidence

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, index: npt.NDArray[np.int64]) -> SplitArrays:
        return SplitArrays(
            texts=[self.texts[i] for i in index], languages=[self.languages[i] for i in index],
            sources=[self.sources[i] for i in index], tier=self.tier[index], areas=self.areas[index],
            known=self.known[index], weight=self.weight[index],
        )


def load_splits(corpus_dir: Path, none_implies_negatives: bool = True) -> dict[str, SplitArrays]:
    """The corpus' splits as arrays.

    With ``none_implies_negatives``, a row whose source says no policy area applies (``none``) is a known
    negative for every area, also for areas outside the source's scope. The corpus keeps the source's own
    scope (those areas stay unknown there); the taxonomy defines ``none`` as "no policy area applies", and
    without this the thin areas (adult_sexual, child_safety, privacy, ...), which only AILuminate labels
    and almost only positively, have next to no negatives and fire on everything.
    """
    taxonomy = get_taxonomy()
    tiers = {name: i for i, name in enumerate(taxonomy.tier_names)}
    areas = {name: i for i, name in enumerate(taxonomy.area_names)}
    rows: dict[str, list[CorpusRow]] = defaultdict(list)
    for row in read_corpus(corpus_file(corpus_dir)):
        rows[row["split"]].append(row)
    splits: dict[str, SplitArrays] = {}
    for name, members in rows.items():
        n = len(members)
        area_targets = np.zeros((n, len(areas)), dtype=np.float32)
        known = np.ones((n, len(areas)), dtype=np.bool_)
        for i, row in enumerate(members):
            for area in row["policy_areas"]:
                area_targets[i, areas[area]] = 1.0
            if none_implies_negatives and row["policy_areas"] == ["none"]:
                continue
            for area in row["unknown_areas"]:
                known[i, areas[area]] = False
        splits[name] = SplitArrays(
            texts=[r["text"] for r in members], languages=[r["language"] for r in members],
            sources=[r["source"] for r in members],
            tier=np.array([tiers[r["risk_tier"]] for r in members], dtype=np.int64),
            areas=area_targets, known=known,
            weight=np.array([r["label_confidence"] for r in members], dtype=np.float32),
        )
    return splits


def cell_keys(split: SplitArrays, by_source: bool) -> list[tuple[str, str, int]]:
    """Each row's sampling cell: (source, language, tier) with ``by_source``, else ("", language, tier)."""
    return [(source if by_source else "", language, tier)
            for source, language, tier in zip(split.sources, split.languages, split.tier.tolist(), strict=True)]


def balanced_sample(split: SplitArrays, limit: int | None, seed: int, power: float = 0.0,
                    by_source: bool = False) -> SplitArrays:
    """At most ``limit`` rows, spread over language x tier cells (source x language x tier with
    ``by_source``) in proportion to ``size ** power``.

    ``power`` 0 gives every cell the same share (as far as its rows allow), 1 keeps the corpus' own
    proportions, 0.5 is in between: rare cells (high risk outside English) are over-sampled without
    making high risk a third of every language. What a small cell cannot use goes to the others."""
    if limit is None or len(split) <= limit:
        return split
    rng = np.random.default_rng(seed)
    cells: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for i, key in enumerate(cell_keys(split, by_source)):
        cells[key].append(i)
    members = {key: rng.permutation(np.array(index)) for key, index in sorted(cells.items())}
    quota = {key: 0 for key in members}
    remaining, open_cells = limit, list(members)
    while remaining > 0 and open_cells:
        weights = np.array([len(members[key]) ** power for key in open_cells], dtype=np.float64)
        shares = np.maximum(1, np.floor(remaining * weights / weights.sum())).astype(int)
        for key, share in zip(list(open_cells), shares, strict=True):
            take = int(min(share, len(members[key]) - quota[key], remaining))
            quota[key] += take
            remaining -= take
            if quota[key] >= len(members[key]):
                open_cells.remove(key)
            if remaining == 0:
                break
    chosen = np.sort(np.concatenate([members[key][: quota[key]] for key in members]))
    return split.take(chosen.astype(np.int64))


def balance_weights(split: SplitArrays, power: float, by_source: bool = False) -> npt.NDArray[np.float32]:
    """Per-row weights that give each language x tier cell (source x language x tier with ``by_source``) a
    total in proportion to ``size ** power``, as ``balanced_sample`` spreads its rows, while every row is
    seen; normalised to mean 1."""
    keys = cell_keys(split, by_source)
    sizes = Counter(keys)
    weights = np.array([sizes[key] ** (power - 1.0) for key in keys], dtype=np.float64)
    return (weights / weights.mean()).astype(np.float32) if len(weights) else weights.astype(np.float32)


def encode(texts: list[str], tokenizer_path: Path, max_length: int) -> list[list[int]]:
    """Token ids exactly as the ONNX scorer makes them: normalised, prefixed, truncated."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return encode_texts(tokenizer, TEXT_PREFIX, texts)


def batches(ids: list[list[int]], batch_size: int, pad_id: int, shuffle_seed: int | None = None,
            ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """(row index, input ids, attention mask) per batch, each padded to its longest row.

    Rows are grouped by length so that little compute goes to padding; with a seed, groups of similar
    length are formed from a shuffled order and the batches themselves shuffled."""
    order = np.arange(len(ids))
    if shuffle_seed is not None:
        rng = np.random.default_rng(shuffle_seed)
        order = rng.permutation(order)
        chunk = batch_size * 50
        order = np.concatenate([sorted(order[i : i + chunk], key=lambda j: len(ids[j]))
                                for i in range(0, len(order), chunk)]).astype(np.int64)
        groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        groups = [groups[i] for i in rng.permutation(len(groups))]
    else:
        order = np.array(sorted(order, key=lambda j: len(ids[j])), dtype=np.int64)
        groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for index in groups:
        input_ids, mask = pad_batch([ids[i] for i in index], pad_id)
        yield np.asarray(index, dtype=np.int64), input_ids, mask
