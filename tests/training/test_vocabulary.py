"""Vocabulary trimming: the corpus' texts are tokenised exactly as before, new text falls back to kept pieces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from model.scorer import encode_texts
from training.encoder import PAD_ID, TEXT_PREFIX, TOKENIZER_FILE, TOKENIZER_PACKAGE, package_file
from training.modeling import TriageClassifier, tiny_encoder
from training.vocabulary import VocabularyError, kept_ids, trim_embeddings, trim_tokenizer, used_token_ids

CORPUS = [
    "I know where you live and I am coming for you",
    "Ich weiß, wo du wohnst.",
    "أعرف أين تسكن",
    "お前の住所は知っている",
    "a " * 200 + "the last words of a long text count too",
]


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads(package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tokenizer(spec: dict) -> Tokenizer:
    return Tokenizer.from_str(json.dumps(spec))


@pytest.fixture(scope="module")
def keep(spec: dict, tokenizer: Tokenizer) -> np.ndarray:
    return kept_ids(spec, used_token_ids(tokenizer, TEXT_PREFIX, CORPUS))


def test_the_kept_ids_are_the_corpus_tokens_the_special_tokens_and_the_characters(spec, tokenizer, keep):
    used = {i for ids in encode_texts(tokenizer, TEXT_PREFIX, CORPUS) for i in ids}
    specials = {token["id"] for token in spec["added_tokens"]}
    characters = {i for i, (piece, _) in enumerate(spec["model"]["vocab"]) if len(piece) == 1}
    assert set(keep.tolist()) == used | specials | characters
    assert list(keep) == sorted(keep)


def test_used_ids_include_the_tail_of_a_text_longer_than_any_truncation(spec):
    truncating = Tokenizer.from_str(json.dumps(spec))
    truncating.enable_truncation(16)
    tail = truncating.encode("the last words of a long text count too", add_special_tokens=False).ids
    assert set(tail) <= set(used_token_ids(truncating, TEXT_PREFIX, CORPUS).tolist())


def test_corpus_texts_are_tokenised_as_before_renumbered(spec, tokenizer, keep):
    trimmed = Tokenizer.from_str(json.dumps(trim_tokenizer(spec, keep)))
    new_id = {int(old): new for new, old in enumerate(keep)}
    before = encode_texts(tokenizer, TEXT_PREFIX, CORPUS)
    after = encode_texts(trimmed, TEXT_PREFIX, CORPUS)
    assert after == [[new_id[i] for i in ids] for ids in before]


def test_special_tokens_keep_their_ids_and_padding_still_uses_pad(spec, keep):
    trimmed = trim_tokenizer(spec, keep)
    assert trimmed["model"]["vocab"][:4] == spec["model"]["vocab"][:4]
    assert trimmed["model"]["unk_id"] == 3
    assert trimmed["model"]["vocab"][PAD_ID][0] == "<pad>"
    assert {t["content"]: t["id"] for t in trimmed["added_tokens"]}["<mask>"] == len(keep) - 1
    assert trimmed["post_processor"]["special_tokens"]["</s>"]["ids"] == [2]


def test_a_word_outside_the_kept_vocabulary_is_split_into_kept_pieces_not_lost(spec, keep):
    trimmed = Tokenizer.from_str(json.dumps(trim_tokenizer(spec, keep)))
    encoding = trimmed.encode(TEXT_PREFIX + "wohnt where")
    assert 3 not in encoding.ids  # no <unk>: every single character is a kept piece
    assert "".join(encoding.tokens[1:-1]).replace("▁", " ").strip() == "query: wohnt where"


def test_a_character_the_pretrained_tokenizer_did_not_know_stays_unknown(spec, keep, tokenizer):
    trimmed = Tokenizer.from_str(json.dumps(trim_tokenizer(spec, keep)))
    assert trimmed.encode("\U0001F9EC").ids == tokenizer.encode("\U0001F9EC").ids == [0, 6, 3, 2]


def test_trimming_refuses_to_drop_a_token_the_tokenizer_needs(spec):
    with pytest.raises(VocabularyError, match="<unk>"):
        trim_tokenizer(spec, np.array([0, 1, 2, 4, 5]))


def test_only_unigram_tokenizers_are_trimmed(spec):
    with pytest.raises(VocabularyError, match="WordPiece"):
        trim_tokenizer({**spec, "model": {"type": "WordPiece", "vocab": {}}}, np.array([0]))


def test_trimmed_embeddings_give_the_same_outputs_on_kept_tokens(keep):
    model = TriageClassifier(tiny_encoder(250_037), 3, 4).eval()
    ids = torch.tensor([[0, int(keep[5]), int(keep[9]), 2]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        before = model(ids, mask)
        trim_embeddings(model, keep)
        new_id = {int(old): new for new, old in enumerate(keep)}
        after = model(ids.apply_(lambda i: new_id[i]), mask)
    assert model.encoder.embeddings.word_embeddings.weight.shape[0] == len(keep)
    for b, a in zip(before, after, strict=True):
        torch.testing.assert_close(a, b)
