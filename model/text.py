"""Text normalisation, the same everywhere: corpus building, training, serving, evaluation.

A model only sees text that went through ``normalize_text``, so what it learned at training time is what
it is asked at serving time. The steps, in order:

1. HTML entities are unescaped (``&amp;`` -> ``&``): several sources and many intake systems escape text.
2. Unicode NFKC (full-width forms, ligatures and compatibility characters folded).
3. Zero-width and other invisible format characters removed (a common way to dodge keyword filters),
   and control characters removed.
4. URLs replaced by ``[url]`` and @handles by ``@user``: they identify people and sites, carry no meaning
   a classifier should learn from, and differ between sources (a source-identifying shortcut). Their
   counts are kept as features.
5. Whitespace folded to single spaces, ends stripped.

Case is kept: capitals carry tone ("I WILL find you").
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass

URL_PLACEHOLDER = "[url]"
USER_PLACEHOLDER = "@user"

# Invisible format characters used to split words without changing how they look.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]"
)
# C0 and C1 controls except the whitespace ones (tab, newline, carriage return), which step 5 folds.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"']+", re.IGNORECASE)
# An @handle: not preceded by a word character (so e-mail addresses stay whole).
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    text: str
    url_count: int
    mention_count: int


def _one_pass(text: str) -> tuple[str, int, int]:
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    text, url_count = _URL.subn(URL_PLACEHOLDER, text)
    text, mention_count = _HANDLE.subn(USER_PLACEHOLDER, text)
    text = _WHITESPACE.sub(" ", text).strip()
    return text, url_count, mention_count


def normalize(raw: str) -> NormalizedText:
    """Normalise ``raw`` and count the URLs and @handles it replaced.

    Idempotent: normalising normalised text changes nothing. One pass is not always enough for that
    (``&amp;amp;`` needs two unescapes, an unescaped entity may need NFKC), so passes repeat until the text
    is stable; real text is stable after at most two.
    """
    text, url_count, mention_count = _one_pass(raw)
    for _ in range(4):
        again = _one_pass(text)[0]
        if again == text:
            break
        text = again
    return NormalizedText(text=text, url_count=url_count, mention_count=mention_count)


def normalize_text(raw: str) -> str:
    """The normalised text alone (see the module docstring for the steps)."""
    return normalize(raw).text


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
