"""Word-level occlusion explanations: which words drove a report's score, for the review console.

Method. The text is normalised (as the scorer does) and split into words: whitespace-separated tokens
with their punctuation attached, each with its character span in the normalised text. Runs of scripts
written without spaces (Chinese, Japanese, Thai, Lao, Khmer, Myanmar, Tibetan) are cut into chunks of a
few characters instead, so that such a text still gets several units to weigh rather than one.

The baseline is the calibrated probability of the target (a tier, or ``area:<name>``) on the full text.
For each word i the text is scored again with word i deleted, and

    weight_i = baseline - P(target | text without word i)

so a positive weight means the word pushed the target's probability up, a negative one that it pulled it
down. Deleting a word can change how its neighbours tokenise and let a word past the length limit into
view; the weight is the effect of the deletion as a whole, as the model sees it.

Only what the model sees counts: the model reads at most ``max_length`` tokens, so words past the cut
(found from the tokenizer's offsets) are listed with weight 0, are not occluded, and the explanation is
marked ``truncated``.

Cost. n + 1 forward passes (the baseline and the n occluded variants), made in one
``Scorer.probabilities`` call. n is capped by ``max_words``: when more words are visible than that,
consecutive words are grouped into ``max_words`` groups of near-equal size and each group is occluded, and
reported, as one unit. On CPU this is roughly the cost of scoring n + 1 reports one by one, so
explanations are computed on demand, not at intake.

Batching. By default every variant is its own forward pass (``batch_size=1``). The int8 model quantises
its activations dynamically, with one scale per batch tensor, so a text's probabilities shift with the
other texts in its batch (by up to about 0.02 on the demo model; the fp32 model by about 1e-7). That noise
is as large as many word weights. Scored alone, the baseline is the score a single report gets, and each
weight is exactly the difference between two such scores. ``batch_size=32`` is about twice as fast on CPU
and noisier.

Pure and deterministic: no state, no randomness, no torch.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from model.scorer import Scorer, decide_tiers
from model.text import normalize_text

AREA_PREFIX = "area:"
#: Characters per chunk in scripts written without spaces (about a word or two of Chinese or Japanese).
CHUNK_CHARS = 3

_NON_SPACE = re.compile(r"\S+")
# Scripts written without spaces between words.
_DENSE_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x31A0, 0x31FF),  # Bopomofo extended, CJK strokes, Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


@dataclass(frozen=True, slots=True)
class WordWeight:
    #: The word (or, when words were grouped, the group of consecutive words): ``text[start:end]`` of the
    #: explanation's normalised text.
    text: str
    start: int
    end: int
    #: Baseline minus the target's probability without this word: positive when it pushed the score up.
    weight: float


@dataclass(frozen=True, slots=True)
class Explanation:
    #: A tier name (``"high"``) or ``"area:<name>"``.
    target: str
    #: The target's calibrated probability on the full text.
    baseline: float
    #: The normalised text that the spans of ``words`` index into.
    text: str
    #: In text order; words past the model's length limit are included with weight 0.
    words: list[WordWeight]
    #: The text was longer than the model reads: its later words had no influence.
    truncated: bool

    def top(self, k: int) -> list[WordWeight]:
        """The ``k`` words with the largest absolute weight, largest first (text order among equals)."""
        order = sorted(range(len(self.words)), key=lambda i: (-abs(self.words[i].weight), i))
        return [self.words[i] for i in order[: max(k, 0)]]


def allowed_targets(scorer: Scorer) -> list[str]:
    return [*scorer.meta.tier_labels, *(AREA_PREFIX + a for a in scorer.meta.area_labels)]


def _is_dense(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _DENSE_RANGES)


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PSZ"


def _is_mark(ch: str) -> bool:
    """A combining mark (Thai vowel and tone marks, for instance): it belongs to the letter before it."""
    return unicodedata.category(ch)[0] == "M"


def _split_token(token: str, offset: int, chunk_chars: int) -> list[tuple[int, int]]:
    """Spans of the units of one whitespace-free token: the whole token, unless it holds dense-script
    characters, whose runs are cut into chunks of ``chunk_chars`` letters and at punctuation (punctuation
    and combining marks stay with what precedes them; punctuation at the token's start with what follows)."""
    if not any(_is_dense(ch) for ch in token):
        return [(offset, offset + len(token))]
    # Each character's kind; punctuation takes its neighbour's kind so that it never forms a unit alone.
    kinds: list[bool | None] = [None if _is_punct(ch) else _is_dense(ch) for ch in token]
    previous: bool | None = None
    for i, kind in enumerate(kinds):
        if kind is None:
            kinds[i] = previous
        else:
            if previous is None:
                kinds[:i] = [kind] * i
            previous = kind
    spans: list[tuple[int, int]] = []
    start = 0
    counted = 0  # letters (not punctuation, not combining marks) in the current unit
    for i, ch in enumerate(token):
        if i > start and kinds[i] != kinds[i - 1]:
            spans.append((start, i))
            start, counted = i, 0
        if kinds[i] and not _is_punct(ch) and not _is_mark(ch):
            # A chunk ends after chunk_chars letters, or at punctuation (a clause or sentence end).
            if counted == chunk_chars or (counted and _is_punct(token[i - 1])):
                spans.append((start, i))
                start, counted = i, 0
            counted += 1
    spans.append((start, len(token)))
    return [(offset + a, offset + b) for a, b in spans]


def split_words(text: str, chunk_chars: int = CHUNK_CHARS) -> list[tuple[int, int]]:
    """Character spans of the words of ``text``: whitespace-separated tokens, punctuation attached; runs of
    scripts written without spaces are cut into chunks of ``chunk_chars`` characters."""
    spans: list[tuple[int, int]] = []
    for match in _NON_SPACE.finditer(text):
        spans.extend(_split_token(match.group(), match.start(), chunk_chars))
    return spans


def visible_end(scorer: Scorer, text: str) -> tuple[int, bool]:
    """Where the model stops reading normalised ``text`` (a character offset) and whether that is before
    its end: from the offsets of the last token kept by the tokenizer's truncation."""
    prefix = scorer.meta.text_prefix
    encoding = scorer.tokenizer.encode(prefix + text)
    ends = [end for (_, end), special in zip(encoding.offsets, encoding.special_tokens_mask, strict=True)
            if not special]
    end = max(0, (max(ends) if ends else 0) - len(prefix))
    truncated = bool(encoding.overflowing) or end < len(text)
    return (end if truncated else len(text)), truncated


def occlude(text: str, start: int, end: int) -> str:
    """``text`` without ``text[start:end]`` (the scorer's normalisation folds the spaces left behind)."""
    return text[:start] + text[end:]


def _groups(count: int, max_groups: int) -> list[tuple[int, int]]:
    """``count`` consecutive items as at most ``max_groups`` runs of near-equal size (index ranges)."""
    if count <= max_groups:
        return [(i, i + 1) for i in range(count)]
    return [(g * count // max_groups, (g + 1) * count // max_groups) for g in range(max_groups)]


def _check_target(scorer: Scorer, target: str) -> None:
    tiers, areas = scorer.meta.tier_labels, scorer.meta.area_labels
    if target in tiers or (target.startswith(AREA_PREFIX) and target[len(AREA_PREFIX):] in areas):
        return
    raise ValueError(f"unknown target {target!r}; allowed: {', '.join(allowed_targets(scorer))}")


def explain(
    scorer: Scorer, text: str, *, target: str | None = None, max_words: int = 80, batch_size: int = 1
) -> Explanation:
    """Explain the score of ``text`` by word occlusion (see the module docstring).

    ``target`` is a tier (``"high"``, ``"medium"``, ``"low"``) or ``"area:<name>"``; by default the tier
    the scorer decides for the text. At most ``max_words`` occluded variants are scored (plus the full
    text), in one ``Scorer.probabilities`` call with ``batch_size`` (1: each text scored alone, exactly as a
    single report is; see "Batching" in the module docstring).
    """
    if max_words < 1:
        raise ValueError(f"max_words must be at least 1, not {max_words}")
    if target is not None:
        _check_target(scorer, target)
    normalised = normalize_text(text)
    spans = split_words(normalised)
    cut, truncated = visible_end(scorer, normalised)
    visible = sum(1 for start, _ in spans if start < cut)
    units = [(spans[a][0], spans[b - 1][1]) for a, b in _groups(visible, max_words)]

    variants = [normalised, *(occlude(normalised, s, e) for s, e in units)]
    tier_probs, area_probs = scorer.probabilities(variants, batch_size=batch_size)
    meta = scorer.meta
    if target is None:
        decided = decide_tiers(tier_probs[:1], meta.tier_labels.index("high"), meta.thresholds.high_risk)
        target = meta.tier_labels[int(decided[0])]
    if target.startswith(AREA_PREFIX):
        column = area_probs[:, meta.area_labels.index(target[len(AREA_PREFIX):])]
    else:
        column = tier_probs[:, meta.tier_labels.index(target)]
    baseline = float(column[0])

    words = [WordWeight(normalised[s:e], s, e, baseline - float(p)) for (s, e), p in zip(units, column[1:],
                                                                                          strict=True)]
    words.extend(WordWeight(normalised[s:e], s, e, 0.0) for s, e in spans[visible:])
    return Explanation(target=target, baseline=baseline, text=normalised, words=words, truncated=truncated)
