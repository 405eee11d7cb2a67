"""Text normalisation, the same everywhere: corpus building, training, serving, evaluation.

A model only sees text that went through ``normalize_text``, so what it learned at training time is what
it is asked at serving time. The steps, in order:

1. HTML entities are unescaped (``&amp;`` -> ``&``): several sources and many intake systems escape text.
2. Unicode NFKC (full-width forms, ligatures, mathematical alphanumerics, circled letters and other
   compatibility characters folded: ``kill`` in full-width, bold mathematical or circled letters becomes
   ``kill``).
3. Zero-width and other invisible format characters removed (a common way to dodge keyword filters),
   and control characters removed. ZWNJ and ZWJ are removed too, in every script: in the scripts served
   (Latin, Devanagari, Arabic, CJK, Hangul) they never change which letters a word has (in Devanagari
   they only pick a conjunct's glyph), while the tokenizer would turn each into a word break. Persian,
   Urdu and Kurdish use ZWNJ as a morpheme break; serving those would need it kept (as a space).
4. URLs replaced by ``[url]`` and @handles by ``@user``: they identify people and sites, carry no meaning
   a classifier should learn from, and differ between sources (a source-identifying shortcut). Their
   counts are kept as features.
5. Deobfuscation (``deobfuscate=True``, the default; see ``DEOBFUSCATION_STEPS``): what people do to a
   word to slip it past a filter, undone where that is safe. Each step is a small pure function below:
   ``strip_extra_invisibles`` (tag characters, braille blank), ``strip_tatweel`` (Arabic elongation
   inside a word), ``fold_confusables`` (Cyrillic/Greek lookalikes in Latin words, small capitals),
   ``undo_leetspeak`` (``k1ll``, ``h@te``), ``collapse_spaced_letters`` (``k i l l``) and
   ``cap_repeats`` (``kiiiiill`` -> ``kiiill``). Each is written to leave ordinary text alone: numbers,
   prices, dates, e-mail addresses, acronyms, German triple consonants, Hindi, Chinese, Korean.
6. Whitespace folded to single spaces, ends stripped.

Case is kept: capitals carry tone ("I WILL find you").

``deobfuscate=False`` gives the normalisation of models trained before step 5 existed (steps 1-4 and 6,
character for character), so such a model can be served, or compared, as it was trained. On the corpus,
step 5 changes 0.9% of texts, four in five of them by capping a letter repeated four times or more.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

URL_PLACEHOLDER = "[url]"
USER_PLACEHOLDER = "@user"

# Invisible format characters used to split words without changing how they look.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]"
)
# C0 and C1 controls except the whitespace ones (tab, newline, carriage return), which step 6 folds.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"']+", re.IGNORECASE)
# An @handle: not preceded by a word character (so e-mail addresses stay whole).
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?")
_WHITESPACE = re.compile(r"\s+")


# --- Deobfuscation steps (step 5): each a pure function of one string. ---------------------------------------

# Invisible characters that step 3 misses: interlinear annotation controls, musical-notation format
# characters, shorthand format controls and the tag characters (invisible "ASCII smuggling"; they also
# spell subdivision flags such as England's, which then show as a plain black flag). Lone surrogates
# (from a JSON "\ud800" escape) are dropped too: no tokenizer accepts them.
_EXTRA_INVISIBLE = re.compile(
    "[\ufff9-\ufffb\U0001d173-\U0001d17a\U0001bca0-\U0001bca3\U000e0001\U000e0020-\U000e007f\ud800-\udfff]"
)
# The braille blank looks like a space and is used as one to split words.
_BRAILLE_BLANK = "\u2800"


def strip_extra_invisibles(text: str) -> str:
    """Remove the invisible characters step 3 does not (tag characters and other rare format characters,
    lone surrogates) and turn the braille blank into a space."""
    return _EXTRA_INVISIBLE.sub("", text).replace(_BRAILLE_BLANK, " ")


# Arabic letters (hamza to yeh, then the extended letters), without the tatweel (U+0640) between them.
_ARABIC_LETTER = "\u0620-\u063f\u0641-\u064a\u066e-\u06d3"
# Tatweel (kashida) between two Arabic letters, harakat allowed before it: elongation, never spelling.
# A tatweel after a prefix and before a space or digit (the article before a digit) is left: there it marks the prefix.
_TATWEEL = re.compile(f"(?<=[{_ARABIC_LETTER}\u064b-\u065f\u0670])\u0640+(?=[{_ARABIC_LETTER}])")


def strip_tatweel(text: str) -> str:
    """Remove the Arabic tatweel inside a word (``حشـــــرات`` -> ``حشرات``): it only stretches the line
    between two letters."""
    if "\u0640" not in text:
        return text
    return _TATWEEL.sub("", text)


# Cyrillic and Greek letters that look like a Latin letter in common fonts (written as escapes: in source
# they would be indistinguishable from Latin), each paired with its Latin twin by position.
_CONFUSABLES: dict[str, str] = {
    **dict(zip("\u0430\u0432\u0435\u043a\u043e\u0440\u0441\u0443\u0445", "abekopcyx", strict=True)),
    **dict(zip("\u044c\u0456\u0458\u0455\u04bb\u0501\u051b\u051d\u04cf", "bijshdqwl", strict=True)),
    **dict(zip("\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421", "ABEKMHOPC", strict=True)),
    **dict(zip("\u0422\u0423\u0425\u0406\u0408\u0405\u04ae\u051a\u051c", "TYXIJSYQW", strict=True)),
    **dict(zip("\u04c0\u03b1\u03b5\u03b9\u03ba\u03bd\u03bf\u03c1\u03c4", "Iaeikvopt", strict=True)),
    **dict(zip("\u03c5\u03c7\u03f2\u03f3\u0391\u0392\u0395\u0396\u0397", "uxcjABEZH", strict=True)),
    **dict(zip("\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7", "IKMNOPTYX", strict=True)),
    **dict(zip("\u03f9", "C", strict=True)),
}
_CONFUSABLE_TABLE = str.maketrans(_CONFUSABLES)
# Latin small capitals and IPA letters that "fancy text" generators use for ordinary letters; outside
# phonetics (which a report classifier does not see) they never mean anything else.
_FANCY_LATIN: dict[str, str] = {
    **dict(zip("\u1d00\u0299\u1d04\u1d05\u1d07\ua730\u0262\u029c\u026a", "abcdefghi", strict=True)),
    **dict(zip("\u1d0a\u1d0b\u029f\u1d0d\u0274\u1d0f\u1d18\u0280\ua731", "jklmnoprs", strict=True)),
    **dict(zip("\u1d1b\u1d1c\u1d20\u1d21\u028f\u1d22\u0251\u0261\u0269", "tuvwyzagi", strict=True)),
}
_FANCY_TABLE = str.maketrans(_FANCY_LATIN)
_FANCY = re.compile("[" + "".join(_FANCY_LATIN) + "]")
_CYRILLIC_GREEK = re.compile("[\u0370-\u03ff\u0400-\u052f]")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
_WORD = re.compile(r"[^\W\d_]+")


def _fold_word(word: str, latin_text: bool) -> str:
    foreign = _CYRILLIC_GREEK.findall(word)
    if not foreign or any(ch not in _CONFUSABLES for ch in foreign):
        return word  # no lookalike, or a letter with no Latin twin (ж, λ): genuine Cyrillic or Greek
    if _LATIN_LETTER.search(word) or (latin_text and len(word) >= 2):
        return word.translate(_CONFUSABLE_TABLE)
    return word


def fold_confusables(text: str) -> str:
    """Latin lookalikes to Latin letters, where the word shows they stand in for Latin.

    A word (a run of letters) whose Cyrillic or Greek letters all have a Latin twin is folded when it also
    holds a Latin letter (``kill`` with a Cyrillic i), or when it is at least two letters long and the
    text's letters are mostly Latin (``you`` spelled wholly in Cyrillic lookalikes in an English sentence).
    Genuine Russian or Greek text is untouched (its letters are not mostly Latin, and most of its words
    hold a letter with no twin), and so is a lone Greek letter in a Latin text (alpha, rho = 0.4).
    Latin small capitals (``ᴋɪʟʟ``) are folded everywhere.
    """
    if _FANCY.search(text):
        text = text.translate(_FANCY_TABLE)
    if not _CYRILLIC_GREEK.search(text):
        return text
    latin = len(_LATIN_LETTER.findall(text))
    latin_text = latin > len(_CYRILLIC_GREEK.findall(text))
    return _WORD.sub(lambda m: _fold_word(m.group(), latin_text), text)


# "!" is not among them: far more often than "sh!t" it is a missing space ("legal!um", "panique!que").
_LEET_TABLE = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_CHARS = "013457@$"
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
# A leet run between two Latin letters, or a $ at a word's end (never a number there: "cla$$").
_LEET_HINT = re.compile(
    f"[{_LATIN}][{_LEET_CHARS}]{{1,2}}[{_LATIN}]|[{_LATIN}](?:\\$[{_LEET_CHARS}]?|[{_LEET_CHARS}]\\$)(?![\\w@$])"
)
# A whitespace-separated chunk: leading punctuation and elision ("l'", "qu'"), a core of Latin letters and
# leet characters, a clitic ("'s") and trailing punctuation. A chunk that does not match whole (an e-mail
# address, "a.b", another script) is left as it is.
_LEET_CHUNK = re.compile(
    f"([^\\w@$]*(?:[{_LATIN}]{{1,2}}['\u2019])?)([{_LATIN}{_LEET_CHARS}]*[{_LATIN}@$0-9])"
    f"((?:['\u2019][{_LATIN}]{{1,2}})?[^\\w@$]*)"
)
_LEET_RUN_TOO_LONG = re.compile(f"[{_LEET_CHARS}]{{3,}}")
# Two different digits side by side are a number ("LS15HB", "G30S", "Max10mins"); a doubled letter gives
# a doubled digit ("sh00t", "k33d3").
_TWO_DIGITS = re.compile(r"(\d)(?!\1)\d")
_HEX = re.compile(r"0x[0-9a-fA-F]+|(?=.*\d.*\d)[0-9a-f]{7,}")  # "0x7f", a short commit hash "7cfca1a"
# An @ inside a long word is an address or a glued "at" ("recd@thirtyeight"), not leet ("b@nned", "cr@p").
_MAX_LEET_AT_WORD = 10
_NON_SPACE = re.compile(r"\S+")


def _unleet_chunk(chunk: str) -> str:
    match = _LEET_CHUNK.fullmatch(chunk)
    if match is None:
        return chunk
    before, core, after = match.groups()
    if "#" in before or USER_PLACEHOLDER in chunk:
        return chunk  # hashtags hold numbers as numbers ("#no3jabar"); "word@user" is a glued handle
    letters = [ch for ch in core if ch.isalpha()]
    if (
        len(letters) < 3  # "h1B", "G4S", "W3C", "q5l": codes, not words
        or not _LEET_HINT.search(core)  # "covid19", "4ever", "top5", "2nd": a digit at an end is a number
        or _LEET_RUN_TOO_LONG.search(core)  # "BV1EJ411": an id
        or _TWO_DIGITS.search(core)
        or _HEX.fullmatch(core)
        or ("@" in core and len(core) > _MAX_LEET_AT_WORD)
        or any(ch.isdigit() and ch not in _LEET_CHARS for ch in core)  # "b2b", "x86", "anak2"
    ):
        return chunk
    rest = letters[1:]
    if any(ch.isupper() for ch in rest) and any(ch.islower() for ch in rest):
        return chunk  # "mate30P", "iPhone11Pro": product names are mixed case; leet words are not
    plain = core.translate(_LEET_TABLE)
    return before + (plain.upper() if all(ch.isupper() for ch in letters) else plain) + after


def undo_leetspeak(text: str) -> str:
    """Leet characters inside a Latin word back to letters: ``k1ll`` -> ``kill``, ``h@te`` -> ``hate``,
    ``p@r@s1tes`` -> ``parasites``, ``K1LL`` -> ``KILL``.

    Only whitespace-separated words of at least three Latin letters with a leet character (0 1 3 4 5 7 @ $)
    between two letters, or a $ at the end (``cla$$``), are touched; their other leet characters follow.
    Numbers, prices, times, dates and phone numbers stay, and so do words whose only digits are at an end,
    where a digit is a number far more often than a letter (``covid19``, ``top5``, ``4ever``, but also
    ``tho53``), words with two different digits side by side (postcodes such as ``LS15HB``, ``Max10mins``,
    but also ``d34d``), e-mail addresses, an @ in a word over ten characters, hashtags, short codes
    (``G4S``, ``W3C``), mixed-case product names (``mate30P``), commit hashes and words with other digits
    (``gr8``, ``b2b``). Codes with one digit between capitals (``KP3B``, ``WC1N``) cannot be told from
    ``K1LL`` and change. ``!`` is not undone (``sh!t`` stays): it is mostly a missing space after an
    exclamation mark. Hazard: Arabizi (Arabic in Latin letters) writes ain as 3 and hah as 7 (``ma3a``,
    ``sa7bi``); such words are changed. The corpus holds no Arabizi; if traffic does, exclude it here.
    """
    if not _LEET_HINT.search(text):
        return text
    return _NON_SPACE.sub(lambda m: _unleet_chunk(m.group()), text)


# Letters of the scripts whose words are spelled letter by letter: Latin, Greek, Cyrillic, Arabic.
# Devanagari is left out on purpose: Hindi has many one-syllable words ("तो वो है"), so runs of single
# syllables are ordinary text; Chinese and Japanese have no spaces to take out, Korean has one-syllable words.
_SPACED_LETTER = f"[{_LATIN}\u0370-\u03ff\u0400-\u04ff{_ARABIC_LETTER}]"
_MARKS = "\u0300-\u036f\u064b-\u065f\u0670"
# Three or more single letters separated by the same single separator (space, dot or hyphen), with no
# letter, digit, mark or apostrophe on either side ("I'm a r..." and "That's y u" are not runs), except a
# French elision before the first ("l'a m a b i l i t é").
_SPACED_START = (
    f"(?:(?<![\\w{_MARKS}'\u2019])|(?<=(?<!\\w)[A-HJ-Za-hj-z]['\u2019])|(?<=(?<!\\w)[Qq]u['\u2019]))"
)
_SPACED = re.compile(
    f"{_SPACED_START}{_SPACED_LETTER}(?P<sep>[ .\\-]){_SPACED_LETTER}(?:(?P=sep){_SPACED_LETTER})+"
    f"(?![\\w{_MARKS}'\u2019])"
)
# Letters that are words on their own in the served languages or their chat spelling ("il y a à", "e é o",
# "r u a fool", "o q é"): a run of three of these is words, not a spelled word, unless it stands next to a
# run that is collapsed anyway ("k i l l  y o u"). A fourth letter makes it a word ("y o u r", "e i n e").
_ONE_LETTER_WORDS = frozenset("aàáâeéèêiíoóôuúyrncq")
_MAX_ONE_LETTER_WORDS = 3


def _spaced_runs(text: str) -> list[tuple[int, int, bool]]:
    runs = []
    for m in _SPACED.finditer(text):
        start, letters = m.start(), m.group()[::2]
        if m.group("sep") == "." and (not letters.islower() or text.startswith(".", m.end())):
            continue  # an abbreviation: "W.H.O", "B.J.P.", "f.n.G.v.B", "r.s.s."
        if len(letters) >= 4 and letters[0] in _ONE_LETTER_WORDS and letters[1:].isupper():
            start, letters = start + 2, letters[1:]  # "a P U S S Y": the article stays a word
        words = len(letters) <= _MAX_ONE_LETTER_WORDS and set(letters.lower()) <= _ONE_LETTER_WORDS
        runs.append((start, m.end(), not words))
    return runs


def collapse_spaced_letters(text: str) -> str:
    """Letters spelled out one by one back into a word: ``k i l l`` -> ``kill``, ``M u s l i m s`` ->
    ``Muslims``, ``k.i.l.l`` and ``k-i-l-l`` -> ``kill``; Arabic letters spaced out likewise.

    A run is at least three single letters (Latin, Greek, Cyrillic or Arabic) with the same separator
    between each, and nothing glued to it but a French elision (``l'a m a b i l i t é`` -> ``l'amabilité``;
    ``I'm a r...`` stays). A lower-case one-letter word before spelled capitals stays a word
    (``a P U S S Y`` -> ``a PUSSY``). Left alone: dotted abbreviations (``U.S.A.``, ``W.H.O``, ``r.s.s.``:
    only a dotted run in lower case and not ending in a dot is collapsed, ``k.i.l.l``); three letters that
    are words by themselves (``il y a à``, ``r u a``, ``o q é``), unless beside a collapsed run
    (``k i l l  y o u`` -> ``kill you``; two spaces keep the words apart); Hindi, Chinese, Japanese, Korean.
    """
    runs = _spaced_runs(text)
    if not runs:
        return text
    collapse = [c for _, _, c in runs]
    changed = True
    while changed:  # a run of one-letter words next to a collapsed run is a spelled word too
        changed = False
        for i, (start, end, _) in enumerate(runs):
            if collapse[i]:
                continue
            left = i > 0 and collapse[i - 1] and not text[runs[i - 1][1]:start].strip()
            right = i + 1 < len(runs) and collapse[i + 1] and not text[end:runs[i + 1][0]].strip()
            if left or right:
                collapse[i] = changed = True
    parts, last = [], 0
    for (start, end, _), c in zip(runs, collapse, strict=True):
        if c:
            parts.append(text[last:start])
            parts.append(text[start:end:2])
            last = end
    parts.append(text[last:])
    return "".join(parts)


# A letter of the scripts where a letter repeated four times is never spelling: Latin, Greek, Cyrillic,
# Arabic, Devanagari (without its digits and dandas). Not CJK or Hangul, where a repeated syllable is a
# word or laughter (哈哈哈哈, ㅋㅋㅋㅋ).
_REPEATABLE = f"[{_LATIN}\u0370-\u03ff\u0400-\u04ff{_ARABIC_LETTER}\u0900-\u0963\u0971-\u097f]"
_REPEAT = re.compile(f"({_REPEATABLE})\\1{{3,}}")


def _is_letter_or_mark(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LM"  # Devanagari vowel signs and Arabic harakat are marks


def _cap_repeat(match: re.Match[str]) -> str:
    text, start, end = match.string, match.start(), match.end()
    in_word = (start > 0 and _is_letter_or_mark(text[start - 1])) or (end < len(text) and _is_letter_or_mark(text[end]))
    return match.group(1) * 3 if in_word else match.group()


def cap_repeats(text: str) -> str:
    """A letter repeated four or more times inside a word cut to three: ``kiiiiiill`` -> ``kiiill``,
    ``porraaaaa`` -> ``porraaa``.

    The cap is three, not two, because three is ordinary spelling: German compounds (``Schifffahrt``,
    ``Missstände``, ``Schlammmasse``), Roman numerals (``III``, ``VIII``), ``XXX``. Every elongated form
    of a word (four letters or more) still meets the same one. A word that is one letter repeated
    (``kkkkkk`` and Arabic ``hhhhhh`` are laughter, ``zzzz``) is not an elongated word and stays; digits
    are never touched (``1000000``).
    """
    return _REPEAT.sub(_cap_repeat, text)


#: The deobfuscation steps (step 5), in the order they run. Confusables are folded before leetspeak is
#: undone (``k1ll`` with a Cyrillic i needs a Latin word), and both before spaced letters are collapsed
#: and repeats capped.
DEOBFUSCATION_STEPS: tuple[Callable[[str], str], ...] = (
    strip_extra_invisibles,
    strip_tatweel,
    fold_confusables,
    undo_leetspeak,
    collapse_spaced_letters,
    cap_repeats,
)


@dataclass(frozen=True, slots=True)
class NormalizedText:
    text: str
    url_count: int
    mention_count: int


def _one_pass(text: str, deobfuscate: bool) -> tuple[str, int, int]:
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    text, url_count = _URL.subn(URL_PLACEHOLDER, text)
    text, mention_count = _HANDLE.subn(USER_PLACEHOLDER, text)
    if deobfuscate:
        for step in DEOBFUSCATION_STEPS:
            text = step(text)
    text = _WHITESPACE.sub(" ", text).strip()
    return text, url_count, mention_count


def normalize(raw: str, *, deobfuscate: bool = True) -> NormalizedText:
    """Normalise ``raw`` and count the URLs and @handles it replaced.

    Idempotent: normalising normalised text changes nothing. One pass is not always enough for that
    (``&amp;amp;`` needs two unescapes, an unescaped entity may need NFKC, folding whitespace can bring two
    runs of spaced letters together), so passes repeat until the text is stable; real text is stable after
    at most two.
    """
    text, url_count, mention_count = _one_pass(raw, deobfuscate)
    for _ in range(6):
        again = _one_pass(text, deobfuscate)[0]
        if again == text:
            break
        text = again
    return NormalizedText(text=text, url_count=url_count, mention_count=mention_count)


def normalize_text(raw: str, *, deobfuscate: bool = True) -> str:
    """The normalised text alone (see the module docstring for the steps)."""
    return normalize(raw, deobfuscate=deobfuscate).text


_RETWEET = re.compile(r"^(?:rt\s+)?(?:@user\s*:?\s*)+", re.IGNORECASE)


def dedup_key(normalized: str) -> str:
    """A key under which near-identical texts collide.

    Case, punctuation, emoji, placeholders and a leading retweet marker ("RT @user:") are ignored, so a
    retweet and its original, or two copies differing only in a link or trailing punctuation, share a key.
    """
    text = _RETWEET.sub("", normalized)
    text = text.replace(URL_PLACEHOLDER, " ").replace(USER_PLACEHOLDER, " ")
    # Keep letters, marks (Devanagari vowel signs are marks) and digits; drop the rest.
    return "".join(ch for ch in text.casefold() if unicodedata.category(ch)[0] in "LMN")
