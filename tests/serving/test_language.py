"""Language identification as routing uses it."""

from __future__ import annotations

import pytest

from serving.language import LanguageDetector, prior_languages

DETECTOR = LanguageDetector()


@pytest.mark.parametrize(("text", "language"), [
    ("I can't believe they let this account keep posting the same scam link", "en"),
    ("Je ne comprends pas pourquoi ce compte publie encore ces messages haineux", "fr"),
    ("Ich verstehe nicht, warum dieses Konto immer noch solche Nachrichten postet", "de"),
    ("No entiendo por qué esta cuenta sigue publicando estos mensajes de odio", "es"),
    ("Eu não entendo por que esta conta continua publicando essas mensagens", "pt"),
    ("मुझे समझ नहीं आता कि यह खाता अभी भी ऐसे संदेश क्यों पोस्ट कर रहा है", "hi"),
    ("لا أفهم لماذا يستمر هذا الحساب في نشر هذه الرسائل", "ar"),
    ("このアカウントがなぜまだこのようなメッセージを投稿しているのか分かりません", "ja"),
    ("我不明白为什么这个账户还在发布这样的信息", "zh"),
])
def test_detects_the_languages_the_service_sees(text: str, language: str) -> None:
    detection = DETECTOR.detect(text)
    assert detection.language == language
    assert detection.confidence > 0.8


def test_the_same_text_always_gets_the_same_answer() -> None:
    text = "ok ok lol"
    assert len({DETECTOR.detect(text) for _ in range(20)}) == 1


@pytest.mark.parametrize("text", ["[url] [url]", "@user @user 123", "!!!", "ok"])
def test_placeholders_digits_and_too_few_letters_are_undetected(text: str) -> None:
    assert DETECTOR.detect(text).language is None


def test_placeholders_do_not_make_a_text_english() -> None:
    detection = DETECTOR.detect("@user [url] Je ne comprends pas pourquoi ce compte publie encore ça [url]")
    assert detection.language == "fr"


def test_a_prior_over_the_models_languages_settles_short_english() -> None:
    text = "How do I kill a Python process?"
    alone = DETECTOR.detect(text)
    with_prior = DETECTOR.detect(text, prior_languages(["en", "de", "fr", "ur-Latn"]))
    assert with_prior.language == "en"
    assert with_prior.confidence > max(alone.confidence, 0.6)


def test_a_language_the_detector_is_sure_of_stands_outside_the_prior() -> None:
    text = "Habari ya asubuhi, rafiki yangu. Leo tutaenda sokoni kununua matunda na mboga."
    assert DETECTOR.detect(text, prior_languages(["en", "de"])).language == DETECTOR.detect(text).language == "sw"


def test_prior_languages_are_the_detectors_codes() -> None:
    assert prior_languages(["ur-Latn", "pt-BR", "en"]) == {"ur", "pt", "en"}
