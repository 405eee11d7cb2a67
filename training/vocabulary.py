"""Vocabulary trimming: keep only the tokens the corpus uses, in the tokenizer and the word embeddings.

multilingual-e5-small's word embeddings are 96.0M of its 117.7M parameters (250,002 pieces, about 100
languages); the corpus uses a fraction of them. Export keeps the pieces that occur in the corpus' own
splits (train, validation, calibration, test: never the held-out sources, whose figures must stay
out-of-distribution), plus the special tokens, and drops the rest from both the tokenizer and the embedding
matrix (Ushio et al. 2023, "An efficient multilingual language model compression through vocabulary
trimming").

The tokenizer stays a SentencePiece unigram model over the kept pieces, not a lookup that maps dropped ids
to ``<unk>``: the unigram segmentation is the most probable split of a word into pieces of the vocabulary,
so a text whose best split uses only kept pieces (every corpus text) is split exactly as before, and a new
text whose best split used a dropped piece is split into kept pieces instead (shorter ones, down to
characters) rather than losing the word. The word embeddings are frozen in training, so a kept token's row is
the pretrained one, unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from model.scorer import encode_texts

#: Texts per ``encode_batch`` call while counting tokens (bounded memory; the tokenizer uses every core).
_CHUNK = 8192

TokenIds = npt.NDArray[np.int64]


class VocabularyError(ValueError):
    """The tokenizer is not the SentencePiece unigram kind this module trims."""


def used_token_ids(tokenizer: Any, prefix: str, texts: Iterable[str]) -> TokenIds:
    """Sorted ids of every token ``texts`` produce, encoded exactly as the model sees them (normalised,
    prefixed), untruncated: a long text is scored in windows, so its tail's tokens count too."""
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    seen = np.zeros(tokenizer.get_vocab_size(with_added_tokens=True), dtype=np.bool_)
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == _CHUNK:
            _mark(seen, encode_texts(tokenizer, prefix, chunk))
            chunk = []
    if chunk:
        _mark(seen, encode_texts(tokenizer, prefix, chunk))
    return np.flatnonzero(seen).astype(np.int64)


def _mark(seen: npt.NDArray[np.bool_], encodings: Sequence[Sequence[int]]) -> None:
    for ids in encodings:
        seen[ids] = True


def kept_ids(spec: dict[str, Any], used: TokenIds) -> TokenIds:
    """``used`` plus the special tokens and every single-character piece of the tokenizer (``spec``, its
    ``tokenizer.json``), sorted. The characters (13,828 pieces in e5's vocabulary, 5% of it) keep every
    character the pretrained tokenizer knew representable: a word whose pieces were dropped falls back to
    its characters, not to ``<unk>``."""
    special = [token["id"] for token in spec.get("added_tokens", [])]
    characters = [i for i, (piece, _) in enumerate(spec["model"]["vocab"]) if len(piece) == 1]
    return np.union1d(used, np.asarray(special + characters, dtype=np.int64))


def trim_tokenizer(spec: dict[str, Any], keep: TokenIds) -> dict[str, Any]:
    """A copy of the unigram tokenizer ``spec`` (``tokenizer.json`` as a dict) holding only the pieces
    ``keep`` (old ids, sorted), renumbered 0..len(keep)-1 in their old order; the unknown token, the added
    special tokens and the post-processor's special-token ids follow their pieces."""
    model = spec.get("model", {})
    if model.get("type") != "Unigram":
        raise VocabularyError(f"only SentencePiece unigram tokenizers are trimmed, not {model.get('type')!r}")
    vocab = model["vocab"]
    if len(keep) and (keep[0] < 0 or keep[-1] >= len(vocab)):
        raise VocabularyError(f"token ids to keep must lie in 0..{len(vocab) - 1}")
    new_id = {int(old): new for new, old in enumerate(keep)}

    def renumber(old: int) -> int:
        if old not in new_id:
            raise VocabularyError(f"token id {old} ({vocab[old][0]!r}) is needed by the tokenizer but not kept")
        return new_id[old]

    out = copy.deepcopy(spec)
    out["model"]["vocab"] = [vocab[int(old)] for old in keep]
    if model.get("unk_id") is not None:
        out["model"]["unk_id"] = renumber(model["unk_id"])
    for token in out.get("added_tokens", []):
        token["id"] = renumber(token["id"])
    special_tokens = (out.get("post_processor") or {}).get("special_tokens", {})
    for special in special_tokens.values():
        special["ids"] = [renumber(i) for i in special["ids"]]
    return out


def trim_embeddings(model: Any, keep: TokenIds) -> None:
    """Keep only the rows ``keep`` of the classifier's word embeddings (in place), in that order."""
    import torch

    embeddings = model.encoder.embeddings.word_embeddings
    rows = torch.from_numpy(np.asarray(keep, dtype=np.int64))
    embeddings.weight = torch.nn.Parameter(embeddings.weight.data.index_select(0, rows).clone(),
                                           requires_grad=False)
    embeddings.num_embeddings = len(keep)
    model.encoder.config.vocab_size = len(keep)
