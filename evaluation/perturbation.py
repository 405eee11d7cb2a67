"""Adversarial perturbations: does the tier decision hold when a threat or slur is disguised?

Each perturbation is a seeded pure function that disguises a few words of a text the way people do to slip
past a filter: invisible characters between letters, Cyrillic lookalikes, mixed Cyrillic and Greek, leet
digits, letters spaced out, full-width forms, elongated letters. The command takes the threat and hate
cases of the functional suite (``evaluation/functional/cases.jsonl``) in all its languages, scores each
original and its perturbed variants with the exported model, and prints the flip rate: the share of
(case, variant) pairs whose tier differs from the original's. It does so twice in one run: with the
normaliser as it is (``model.text.normalize_text``), and with a raw baseline that skips its
deobfuscation steps (``deobfuscate=False``), so what the normaliser buys is visible. Two more tables need
no model: the share of variants that normalise back to exactly the original's text, and to nearly it (but
for spaces lost where spelled-out letters met a one-letter word, and for capped elongations).

    triage analyse perturbation --artifact var/models/demo [--cases evaluation/functional/cases.jsonl]

A perturbation that does not apply to a text (leetspeak on Arabic script) gives no variant; such cells
show "-". The command is ``evaluation.analyse.perturbation_command``.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.functional.suite import LANGUAGES, Case
from model.scorer import Scorer
from model.text import normalize_text

#: Functionalities of the functional suite whose cases are perturbed: the ones a disguise is meant to hide.
DEFAULT_FUNCTIONALITIES: tuple[str, ...] = ("threat", "threat_polite", "slur_hate")

# Invisible characters people put between letters.
_INVISIBLES = ("\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff")
# Cyrillic letters that look like Latin ones (defined here, not taken from the normaliser, so the suite
# tests the normaliser rather than mirroring it).
_CYRILLIC: dict[str, str] = {
    **dict(zip("aceijopsx", "\u0430\u0441\u0435\u0456\u0458\u043e\u0440\u0455\u0445", strict=True)),
    **dict(zip("yABCEHIKM", "\u0443\u0410\u0412\u0421\u0415\u041d\u0406\u041a\u041c", strict=True)),
    **dict(zip("OPTXY", "\u041e\u0420\u0422\u0425\u0423", strict=True)),
}
_GREEK: dict[str, str] = {
    **dict(zip("aikopuvxA", "\u03b1\u03b9\u03ba\u03bf\u03c1\u03c5\u03bd\u03c7\u0391", strict=True)),
    **dict(zip("BEHIKMNOP", "\u0392\u0395\u0397\u0399\u039a\u039c\u039d\u039f\u03a1", strict=True)),
    **dict(zip("TXYZ", "\u03a4\u03a7\u03a5\u0396", strict=True)),
}
_LEET = {"a": "4@", "e": "3", "i": "1", "o": "0", "s": "5$", "t": "7"}
_TATWEEL = "\u0640"
# Arabic letters after which a tatweel joins (alef, dal, thal, reh, zain, waw and the hamza forms do not).
_NON_JOINING_ARABIC = set("\u0627\u0623\u0625\u0622\u062f\u0630\u0631\u0632\u0648\u0624\u0621\u0629")

#: A perturbation of one word: the disguised word, or None where it does not apply to that word.
WordPerturbation = Callable[[str, random.Random], str | None]


def _is_latin(ch: str) -> bool:
    return ch.isalpha() and (ch.isascii() or "\u00c0" <= ch <= "\u024f")


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _clusters(word: str) -> list[str]:
    """A word's letters with their combining marks (Devanagari vowel signs, Arabic harakat) attached."""
    out: list[str] = []
    for ch in word:
        if out and _is_mark(ch):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def word_spans(text: str) -> list[tuple[int, int]]:
    """Start and end of each word: a run of letters and combining marks, in any script."""
    spans, start = [], None
    for i, ch in enumerate(text):
        if unicodedata.category(ch)[0] in "LM":
            if start is None:
                start = i
        elif start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def zero_width(word: str, rng: random.Random) -> str | None:
    """An invisible character (zero-width space, joiners, word joiner, soft hyphen, BOM) between every two
    letters: ``k\u200bi\u200dl\u00adl``."""
    parts = _clusters(word)
    if len(parts) < 2:
        return None
    return parts[0] + "".join(rng.choice(_INVISIBLES) + p for p in parts[1:])


def homoglyph(word: str, rng: random.Random) -> str | None:
    """One Latin letter swapped for its Cyrillic lookalike: ``kill`` with a Cyrillic i (U+0456)."""
    positions = [i for i, ch in enumerate(word) if ch in _CYRILLIC]
    if not positions or not all(_is_latin(ch) for ch in word):
        return None
    i = rng.choice(positions)
    return word[:i] + _CYRILLIC[word[i]] + word[i + 1:]


def mixed_script(word: str, rng: random.Random) -> str | None:
    """Every Latin letter that has a Cyrillic or Greek lookalike swapped for one, Cyrillic and Greek mixed:
    ``parasites`` with seven of its nine letters Cyrillic or Greek."""
    if not all(_is_latin(ch) for ch in word):
        return None
    out, swapped = [], 0
    for ch in word:
        choices = [table[ch] for table in (_CYRILLIC, _GREEK) if ch in table]
        if choices:
            out.append(rng.choice(choices))
            swapped += 1
        else:
            out.append(ch)
    return "".join(out) if swapped >= 2 else None


def leetspeak(word: str, rng: random.Random) -> str | None:
    """About half of the lower-case letters that have a leet twin swapped for it (a 4/@, e 3, i 1, o 0,
    s 5/$, t 7), in the style of the functional suite's spelling variants (``k1ll``, ``p@r@s1tes``,
    ``v3rm1n``, ``1mm1gr4nts``): one between two letters that stay letters, never two side by side, at
    least three letters left, no ``@`` first (that would be a handle)."""
    if not all(_is_latin(ch) for ch in word) or len(word) < 4:
        return None
    positions = [i for i, ch in enumerate(word) if ch in _LEET]
    inner = [i for i in positions if 0 < i < len(word) - 1]
    if not inner:
        return None
    chosen = {rng.choice(inner)}
    target = max(1, min(len(positions) // 2, len(word) - 3))
    for i in rng.sample(positions, len(positions)):
        if len(chosen) == target:
            break
        if i - 1 not in chosen and i + 1 not in chosen:
            chosen.add(i)

    def swap(i: int, ch: str) -> str:
        if i not in chosen:
            return ch
        return rng.choice(_LEET[ch].replace("@", "") if i == 0 else _LEET[ch])

    return "".join(swap(i, ch) for i, ch in enumerate(word))


def spaced(word: str, rng: random.Random) -> str | None:
    """The letters (with their marks) spelled out with a space between each: ``k i l l``,
    ``घु स पै ठि ए``."""
    parts = _clusters(word)
    return " ".join(parts) if len(parts) >= 3 else None


def fullwidth(word: str, rng: random.Random) -> str | None:
    """ASCII letters as their full-width forms (U+FF4B for ``k``; ``é`` has none and stays); Arabic letters
    as their isolated presentation forms, as text copied out of a PDF has them. None for scripts with
    neither (Devanagari)."""
    if any(ch.isascii() for ch in word):
        return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() else ch for ch in word)
    forms = _arabic_isolated_forms()
    if all(ch in forms or _is_mark(ch) for ch in word) and any(ch in forms for ch in word):
        return "".join(forms.get(ch, ch) for ch in word)
    return None


def elongation(word: str, rng: random.Random) -> str | None:
    """One letter repeated four to seven times (``kiiiiill``, ``कीड़ेेेे``); in Arabic, a run of tatweel
    between two joining letters (``حشـــــرات``), as Arabic stretches a word."""
    parts = _clusters(word)
    if len(parts) < 2:
        return None
    if all("\u0600" <= p[0] <= "\u06ff" for p in parts):
        joins = [i for i in range(len(parts) - 1) if parts[i][0] not in _NON_JOINING_ARABIC]
        if not joins:
            return None
        i = rng.choice(joins)
        return "".join(parts[: i + 1]) + _TATWEEL * rng.randint(3, 8) + "".join(parts[i + 1:])
    i = rng.randrange(len(parts))
    unit = parts[i][-1]  # the letter, or a Devanagari word's vowel sign
    return "".join(parts[:i]) + parts[i] + unit * rng.randint(3, 6) + "".join(parts[i + 1:])


_ISOLATED: dict[str, str] = {}


def _arabic_isolated_forms() -> dict[str, str]:
    """Arabic letter -> its isolated presentation form (U+FE70-U+FEFF), built once on first use."""
    if not _ISOLATED:
        for code in range(0xFE70, 0xFEFF):
            decomposition = unicodedata.decomposition(chr(code)).split()
            if len(decomposition) == 2 and decomposition[0] == "<isolated>":
                _ISOLATED.setdefault(chr(int(decomposition[1], 16)), chr(code))
    return _ISOLATED


#: The perturbation kinds, in report order.
PERTURBATIONS: dict[str, WordPerturbation] = {
    "zero_width": zero_width,
    "homoglyph": homoglyph,
    "mixed_script": mixed_script,
    "leetspeak": leetspeak,
    "spaced": spaced,
    "fullwidth": fullwidth,
    "elongation": elongation,
}


def perturb(text: str, kind: str, rng: random.Random, words: int = 2) -> str | None:
    """``text`` with up to ``words`` of its words (four letters or longer, chosen with ``rng``) disguised
    by ``kind``; None when the perturbation applies to none of them."""
    word_fn = PERTURBATIONS[kind]
    spans = [(s, e) for s, e in word_spans(text) if e - s >= 4]
    rng.shuffle(spans)
    chosen: list[tuple[int, int, str]] = []
    for start, end in spans:
        if len(chosen) == words:
            break
        disguised = word_fn(text[start:end], rng)
        if disguised is not None:
            chosen.append((start, end, disguised))
    if not chosen:
        return None
    out, last = [], 0
    for start, end, disguised in sorted(chosen):
        out += [text[last:start], disguised]
        last = end
    return "".join(out) + text[last:]


def case_rng(seed: int, case_id: str, kind: str, variant: int) -> random.Random:
    """The random generator of one variant: the same seed gives the same variants on every machine."""
    return random.Random(f"{seed}:{case_id}:{kind}:{variant}")


@dataclass(frozen=True)
class Variant:
    case: Case
    kind: str
    text: str


def make_variants(cases: Sequence[Case], kinds: Sequence[str], variants: int = 2, words: int = 2,
                  seed: int = 0) -> list[Variant]:
    """``variants`` perturbed texts of each case for each kind (fewer where a kind does not apply, or
    where two variants came out the same)."""
    out = []
    for case in cases:
        for kind in kinds:
            seen = set()
            for v in range(variants):
                text = perturb(case.text, kind, case_rng(seed, case.id, kind, v), words)
                if text is not None and text not in seen:
                    seen.add(text)
                    out.append(Variant(case, kind, text))
    return out


#: Tiers of a batch of texts, in order: what a model decides.
TierFn = Callable[[Sequence[str]], Sequence[str]]
Normalizer = Callable[[str], str]


@dataclass
class Cell:
    total: int = 0
    hits: int = 0

    @property
    def rate(self) -> float:
        return self.hits / self.total if self.total else 0.0


@dataclass
class RateTable:
    """A rate per (kind, language), per kind, per language and overall."""

    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    by_kind: dict[str, Cell] = field(default_factory=dict)
    by_language: dict[str, Cell] = field(default_factory=dict)
    overall: Cell = field(default_factory=Cell)

    def add(self, kind: str, language: str, hit: bool) -> None:
        for cell in (self.cells.setdefault((kind, language), Cell()), self.by_kind.setdefault(kind, Cell()),
                     self.by_language.setdefault(language, Cell()), self.overall):
            cell.total += 1
            cell.hits += hit


@dataclass
class FlipReport:
    flips: RateTable
    #: Flips to a lower tier than the original's (a disguised threat let through): the costly direction.
    downgrades: int
    #: Original tier of each case id.
    original_tiers: dict[str, str]


_SPACE = re.compile(r"\s+")
_REPEATED = re.compile(r"(.)\1+")


def nearly_equal(seen: str, plain: str) -> bool:
    """``seen`` is ``plain`` but for spaces lost and repeated characters: what is left when spaced-out
    letters were collapsed but merged with a neighbouring one-letter word (``I w i l l`` -> ``Iwill``) or
    an elongation was capped (``kiiiiill`` -> ``kiiill``). Letters still spelled out (more words than
    ``plain``) are not nearly equal."""
    squeezed = [_REPEATED.sub(r"\1", _SPACE.sub("", t)) for t in (seen, plain)]
    return squeezed[0] == squeezed[1] and len(seen.split()) <= len(plain.split())


def undone_table(variants: Sequence[Variant], normalizer: Normalizer = normalize_text, *,
                 nearly: bool = False) -> RateTable:
    """Share of variants whose normalised text equals the original's normalised text (``nearly``: but for
    spaces and repeated characters): undone by the normaliser, whatever the model."""
    same = nearly_equal if nearly else str.__eq__
    table = RateTable()
    for v in variants:
        table.add(v.kind, v.case.language, same(normalizer(v.text), normalizer(v.case.text)))
    return table


_TIER_ORDER = {"low": 0, "medium": 1, "high": 2}


def flip_rates(variants: Sequence[Variant], tier_fn: TierFn, normalizer: Normalizer) -> FlipReport:
    """Tier flips of ``variants`` against their originals. Texts are normalised with ``normalizer`` first
    and each distinct normalised text is scored once (``tier_fn`` gets normalised text, which a normaliser
    leaves as it is)."""
    cases = {v.case.id: v.case for v in variants}
    originals = {cid: normalizer(c.text) for cid, c in cases.items()}
    perturbed = [normalizer(v.text) for v in variants]
    unique = list(dict.fromkeys([*originals.values(), *perturbed]))
    tiers = dict(zip(unique, tier_fn(unique), strict=True))
    table, downgrades = RateTable(), 0
    original_tiers = {cid: tiers[text] for cid, text in originals.items()}
    for v, text in zip(variants, perturbed, strict=True):
        before, after = original_tiers[v.case.id], tiers[text]
        table.add(v.kind, v.case.language, after != before)
        downgrades += _TIER_ORDER.get(after, 0) < _TIER_ORDER.get(before, 0)
    return FlipReport(table, downgrades, original_tiers)


def format_table(table: RateTable, title: str, kinds: Sequence[str]) -> str:
    """Kind by language, with a column for all languages and the number of (case, variant) pairs."""
    languages = [lang for lang in LANGUAGES if lang in table.by_language]
    languages += sorted(set(table.by_language) - set(languages))
    first = max(len("kind"), *(len(k) for k in kinds))
    width = 6

    def cell(c: Cell | None) -> str:
        return "-".rjust(width) if c is None or not c.total else f"{c.rate:{width}.0%}"

    header = "kind".ljust(first) + "".join(lang.rjust(width) for lang in languages) + "all".rjust(width) + "n".rjust(6)
    lines = [title, header, "-" * len(header)]
    for kind in kinds:
        row = kind.ljust(first) + "".join(cell(table.cells.get((kind, lang))) for lang in languages)
        by_kind = table.by_kind.get(kind)
        lines.append(row + cell(by_kind) + f"{by_kind.total if by_kind else 0:6d}")
    lines.append("-" * len(header))
    row = "all".ljust(first) + "".join(cell(table.by_language.get(lang)) for lang in languages)
    lines.append(row + cell(table.overall) + f"{table.overall.total:6d}")
    return "\n".join(lines)


def summary(report: FlipReport) -> str:
    """One line: flips overall, how many went to a lower tier, and the originals' tiers."""
    o = report.flips.overall
    return (f"flips: {o.hits}/{o.total} ({o.rate:.1%}), to a lower tier: {report.downgrades}; "
            f"originals by tier: {_count(report.original_tiers.values())}")


def _count(tiers: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for t in tiers:
        counts[t] = counts.get(t, 0) + 1
    return ", ".join(f"{t} {counts[t]}" for t in sorted(counts, key=lambda t: _TIER_ORDER.get(t, 9)))


class NormalizerScorer(Scorer):
    """A ``Scorer`` whose texts go through ``normalizer`` instead of ``normalize_text``: the raw baseline
    needs the model to see text the deobfuscation steps did not touch. One model, loaded once, serves
    both normalisers (set ``normalizer`` between calls)."""

    def __init__(self, folder: Path, *, threads: int | None = None, normalizer: Normalizer = normalize_text) -> None:
        super().__init__(folder, threads=threads)
        self.normalizer = normalizer

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        # As model.scorer.encode_texts, with this scorer's normaliser.
        batch = [self.meta.text_prefix + self.normalizer(t) for t in texts]
        return [e.ids for e in self.tokenizer.encode_batch(batch)]


def tier_fn(scorer: NormalizerScorer, normalizer: Normalizer, batch_size: int = 1) -> TierFn:
    """The scorer's tiers, its texts normalised by ``normalizer``."""

    def tiers(texts: Sequence[str]) -> list[str]:
        scorer.normalizer = normalizer
        return [s.tier for s in scorer.score(texts, batch_size=batch_size)]

    return tiers
