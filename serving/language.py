"""Language identification for routing (language markets, the supported-language rule) and metric slices.

langdetect (a port of Google's language-detection, 55 languages) with a fixed seed, so the same text
always gets the same answer. The normaliser's placeholders (``[url]``, ``@user``) and digits are removed
first: they say nothing about the language and make short texts look English.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

_NOISE = re.compile(r"\[url\]|@user|[\d_#@]+")
#: Fewer letters than this and the detector's answer is noise: the language counts as undetected.
MIN_LETTERS = 3
#: langdetect's codes for Chinese carry a region; the model's languages do not.
_ALIASES = {"zh-cn": "zh", "zh-tw": "zh"}


@dataclass(frozen=True, slots=True)
class Detection:
    language: str | None
    confidence: float


class LanguageDetector:
    """Thread-safe after ``load()``; loading the profiles takes about a second, so do it at start-up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False

    def load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            from langdetect import DetectorFactory
            from langdetect.detector_factory import init_factory

            DetectorFactory.seed = 0
            init_factory()
            self._loaded = True

    def detect(self, text: str) -> Detection:
        from langdetect import detect_langs
        from langdetect.lang_detect_exception import LangDetectException

        self.load()
        cleaned = _NOISE.sub(" ", text)
        if sum(ch.isalpha() for ch in cleaned) < MIN_LETTERS:
            return Detection(None, 0.0)
        try:
            best = detect_langs(cleaned)[0]
        except LangDetectException:
            return Detection(None, 0.0)
        return Detection(_ALIASES.get(best.lang, best.lang), round(float(best.prob), 4))
