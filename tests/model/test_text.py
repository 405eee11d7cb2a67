from hypothesis import given
from hypothesis import strategies as st

from model.text import dedup_key, normalize, normalize_text


def test_nfkc_folds_full_width_and_compatibility_forms() -> None:
    assert normalize_text("\uff29\uff2c\uff2c \uff46\uff49\uff4e\uff44") == "ILL find"  # full-width
    assert normalize_text("ﬁne") == "fine"


def test_zero_width_and_control_characters_are_removed() -> None:
    assert normalize_text("k\u200bi\u200cl\u200dl\ufeff") == "kill"
    assert normalize_text("bad\x00\x07word") == "badword"


def test_whitespace_is_folded_and_case_kept() -> None:
    assert normalize_text("  I WILL\n\n find\t you  ") == "I WILL find you"


def test_urls_and_handles_become_placeholders_and_are_counted() -> None:
    result = normalize("@alice look at https://evil.example/x?y=1 and www.spam.example now @bob_2")
    assert result.text == "@user look at [url] and [url] now @user"
    assert (result.url_count, result.mention_count) == (2, 2)


def test_email_addresses_are_not_mistaken_for_handles() -> None:
    assert normalize_text("mail me at jane@example.com") == "mail me at jane@example.com"


def test_html_entities_are_unescaped_even_when_escaped_twice() -> None:
    assert normalize_text("Tom &amp; Jerry &amp;amp; friends &#128529;") == "Tom & Jerry & friends 😑"


def test_scripts_other_than_latin_pass_through() -> None:
    for text in ("मैं तुम्हें मार दूंगा", "سأقتلك", "殺してやる", "너를 죽일 거야"):
        assert normalize_text(text) == text


@given(st.text(max_size=200))
def test_normalisation_is_idempotent(raw: str) -> None:
    once = normalize_text(raw)
    assert normalize_text(once) == once


def test_dedup_key_ignores_case_punctuation_placeholders_and_retweet_marker() -> None:
    original = normalize_text("Heute scheint die Sonne über Berlin")
    for copy in ("heute scheint die Sonne über Berlin!!", "RT @someone: Heute scheint die Sonne über Berlin https://t.co/x"):
        assert dedup_key(normalize_text(copy)) == dedup_key(original)
    assert dedup_key(normalize_text("Heute regnet es in Berlin")) != dedup_key(original)


def test_dedup_key_keeps_devanagari_vowel_signs() -> None:
    # काम (work) and कम (less) differ only by a vowel sign, a combining mark.
    assert dedup_key("काम") != dedup_key("कम")
