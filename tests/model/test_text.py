# ruff: noqa: RUF001  (genuine Arabic, Cyrillic and Greek text looks like Latin to the confusables check)
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.text import (
    DEOBFUSCATION_STEPS,
    cap_repeats,
    collapse_spaced_letters,
    dedup_key,
    fold_confusables,
    normalize,
    normalize_text,
    strip_extra_invisibles,
    strip_tatweel,
    undo_leetspeak,
)


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


# --- Deobfuscation (step 5): each step, ordinary text left alone, idempotence, no crash. -------------------
# Lookalike letters are written as escapes: in source they could not be told from Latin ones.
CYR_A, CYR_E, CYR_I, CYR_O, CYR_U, CYR_ES = "\u0430", "\u0435", "\u0456", "\u043e", "\u0443", "\u0441"
GREEK_O, GREEK_NU = "\u03bf", "\u03bd"
TATWEEL = "\u0640"

# Ordinary text in each corpus language (and a few more), with what a careless deobfuscator breaks:
# numbers, prices, dates, times, phone numbers, e-mail addresses, abbreviations, one-letter words, German
# triple consonants, Roman numerals, laughter, one-syllable Hindi and Korean words, genuine Cyrillic/Greek.
ORDINARY = {
    "en": [
        "I am a man. Call +1 (555) 010-9999 on 12/03/2024 at 5pm; it costs $19.99 on the 2nd floor.",
        "COVID-19 and covid19 are the same, the U.S.A. and the W.H.O agree, e.g. in mp3 or A4 format.",
        "World War III ended; Henry VIII had six wives. r u a fool or what? lol x x",
        "Write to jane.doe@example.com, the G4S guard at W3C, or the iPhone11Pro team, 4ever and top5.",
        "Sooo good, hmmm, zzzz and brrr! Greek letters: alpha (\u03b1) and rho = 0.4, \u03bc = 5 \u03bcm.",
    ],
    "de": [
        "Die Schifffahrt im Fitnessstudio? Missstände bei der Brennnessel, z. B. um 15:30 Uhr für 12,50 €.",
        "Am 3. Mai 2024 kommt die Kontrolllampe, u. a. mit 100 000 Stück; das ist die Schlammmasse.",
    ],
    "fr": [
        "Il y a à manger pour 3 personnes, c'est-à-dire 20 € le 14 juillet ; y a-t-il du pain ?",
        "J'ai vu l'O.N.U. à 18h30, mdrrr, c'est ça : a-t-il 2 ou 3 ans ?",
    ],
    "es": ["Y a veces o a menudo, la O.N.U. dijo el 1 de mayo que 3 de cada 10 personas pagan 5,50 €."],
    "pt": ["Ele disse que e é o melhor, o q é isso? kkkkkk 10h30, R$ 25,00 no 3o andar."],
    "id": ["Anak2 pergi ke sekolah jam 07.00 WIB, harganya Rp 15.000, wkwkwk, G30S dan KPK."],
    "hi": [
        "मैं तुम्हें मार दूंगा",
        "तो वो है ना, क्या हुआ? 5 बजे आ जाना।",
        "Ye log kya kar rahe hain, 2 baje tak aa jana bhai.",
    ],
    "ar": [
        "سأقتلك",
        "الـ6 سنوات، بـ 25 ريال، هههههه و الله يا رجل.",
    ],
    "zh": ["我今天去北京,哈哈哈哈,价格是25元。emmm 好的"],
    "ko": ["너 나 다 죽었어 하하하하 진짜 웃기다 3시에 보자"],
    "ja": ["殺してやる。今日は暑いですねーーーー。"],
    "ru": ["Москва слезам не верит, а сор из избы не выносят."],
    "el": ["Καλημέρα κόσμε, ο Α και ο Β είναι εδώ."],
}


@pytest.mark.parametrize("language", sorted(ORDINARY))
def test_ordinary_text_is_untouched_in_every_language(language: str) -> None:
    for text in ORDINARY[language]:
        assert normalize_text(text) == text, language
        assert normalize_text(text, deobfuscate=False) == text


def test_without_deobfuscation_the_old_steps_run_alone() -> None:
    raw = f"k1ll  k i l l  k{CYR_I}ll  kiiiiill  \U000e0041x"
    assert normalize_text(raw, deobfuscate=False) == f"k1ll k i l l k{CYR_I}ll kiiiiill \U000e0041x"
    assert normalize_text(raw) == "kill kill kill kiiill x"


def test_invisible_and_bidi_characters_and_soft_hyphens_are_removed() -> None:
    # zero-width space, ZWNJ, ZWJ, word joiner, soft hyphen, BOM, bidi overrides and isolates
    assert normalize_text("k\u200bi\u00adl\u2060l y\u202eo\u2066u\u2069\ufeff") == "kill you"


def test_zwj_and_zwnj_are_removed_in_devanagari_too_leaving_the_same_letters() -> None:
    # Justified in model/text.py: in Devanagari they only choose a conjunct's glyph.
    assert normalize_text("क्\u200dष") == "क्ष"
    assert normalize_text("क्\u200cष") == "क्ष"


def test_strip_extra_invisibles_removes_tags_and_lone_surrogates_and_spaces_braille_blanks() -> None:
    assert strip_extra_invisibles("hi\U000e0068\U000e0069\U000e007f there") == "hi there"
    assert strip_extra_invisibles("k\u2800i\u2800l\u2800l") == "k i l l"
    assert strip_extra_invisibles("a\ud800b") == "ab"
    assert normalize_text("k\u2800i\u2800l\u2800l") == "kill"


def test_nfkc_folds_mathematical_circled_and_full_width_letters() -> None:
    bold = "".join(chr(0x1D41A + ord(c) - ord("a")) for c in "kill")  # MATHEMATICAL BOLD SMALL K, I, L, L
    circled = "".join(chr(0x24D0 + ord(c) - ord("a")) for c in "kill")
    full = "".join(chr(0xFF41 + ord(c) - ord("a")) for c in "kill")
    assert normalize_text(f"{bold} {circled} {full}") == "kill kill kill"


def test_strip_tatweel_inside_a_word_but_not_after_a_prefix() -> None:
    assert strip_tatweel(f"حش{TATWEEL * 6}رات") == "حشرات"
    assert strip_tatweel(f"شَ{TATWEEL}عرة") == "شَعرة"  # after a haraka
    for text in (f"ال{TATWEEL}6 سنوات", f"ب{TATWEEL} طعن", "no tatweel"):
        assert strip_tatweel(text) == text


def test_fold_confusables_in_mixed_script_words() -> None:
    assert fold_confusables(f"I will k{CYR_I}ll {CYR_U}{CYR_O}u") == "I will kill you"
    assert fold_confusables(f"S{CYR_ES}h{CYR_E}iß Windenergie") == "Scheiß Windenergie"
    assert fold_confusables(f"p{CYR_A}r{CYR_A}sit{GREEK_NU}s {GREEK_O}n") == "parasitvs on"


def test_fold_confusables_folds_a_whole_lookalike_word_only_in_latin_text() -> None:
    word = f"{CYR_U}{CYR_O}{CYR_U}"  # all three letters Cyrillic
    assert fold_confusables(f"I will find {word} tonight") == "I will find yoy tonight"
    assert fold_confusables(f"{word} {word}") == f"{word} {word}"  # not a Latin text


def test_fold_confusables_leaves_genuine_cyrillic_and_greek_alone() -> None:
    for text in ("Москва слезам не верит", "Καλημέρα κόσμε", "alpha \u03b1, rho \u03c1 = 0.4, 5 \u03bcm",
                 "Нахуй (na chuj)", f"Cyrillic {CYR_O}{CYR_O} and Жук in a Latin text"):
        assert fold_confusables(text) == text.replace(f"{CYR_O}{CYR_O}", "oo")
    # (in the last, the all-lookalike word is folded; Жук has letters with no Latin twin and stays)


def test_fold_confusables_folds_small_capitals() -> None:
    assert fold_confusables("\u1d0b\u026a\u029f\u029f \u028f\u1d0f\u1d1c") == "kill you"


@pytest.mark.parametrize(("raw", "plain"), [
    ("k1ll", "kill"), ("h@te", "hate"), ("p@r@s1tes.", "parasites."), ("1mm1gr4nts", "immigrants"),
    ("K1LL", "KILL"), ("P@r@s1ten,", "Parasiten,"), ("v3rm1n!", "vermin!"), ("4l1mañas", "alimañas"),
    ("cla$$", "class"), ("pu$$y", "pussy"), ("sh00t", "shoot"),
])
def test_undo_leetspeak(raw: str, plain: str) -> None:
    assert undo_leetspeak(raw) == plain
    assert undo_leetspeak(f"they said {raw} twice") == f"they said {plain} twice"


@pytest.mark.parametrize("text", [
    "$100", "US$ 5", "5pm", "10:30", "12/03/2024", "+49 170 1234567", "2nd", "covid19", "COVID-19", "4ever",
    "top5", "G4S", "W3C", "h1B", "mate30P", "iPhone11Pro", "gr8", "b2b", "x86", "anak2", "LS15HB", "Max10mins",
    "0x7f3a", "7cfca1a", "jane@example.com", "info@vipclub4u.", "#no3jabar", "word@user", "sh!t", "legal!um",
    "recd@thirtyeight", "tho53", "BV1EJ411i7Vz",
])
def test_undo_leetspeak_keeps_numbers_codes_and_addresses(text: str) -> None:
    assert undo_leetspeak(text) == text


@pytest.mark.parametrize(("raw", "plain"), [
    ("k i l l", "kill"), ("I will k i l l you", "I will kill you"), ("k i l l  y o u", "kill  you"),
    ("M u s l i m s are p a r a s i t e s.", "Muslims are parasites."), ("k.i.l.l them", "kill them"),
    ("k-i-l-l", "kill"), ("y o u r", "your"), ("youre a P U S S Y", "youre a PUSSY"),
    ("H A T E W O M E N", "HATEWOMEN"), ("ط ف ي ل ي ا ت", "طفيليات"),
    ("Λ Ο Λ", "ΛΟΛ"), ("l'a m a b i l i t é", "l'amabilité"),
])
def test_collapse_spaced_letters(raw: str, plain: str) -> None:
    assert collapse_spaced_letters(raw) == plain


@pytest.mark.parametrize("text", [
    "I am a man", "i'm a r", "il y a à manger", "Y a-t-il du pain", "y a o", "e é o", "r u a fool", "o q é",
    "I'm a r...", "I\u2019m a r", "That's y u", "U.S.A. and W.H.O", "B.J.P. and r.s.s. and f.n.G.v.B", "a, b and c",
    "i.e. e.g.", "A B", "तो वो है", "घु स पै ठि ए", "我 你 他", "나 너 다", "و ما هو",
])
def test_collapse_spaced_letters_leaves_words_and_abbreviations(text: str) -> None:
    assert collapse_spaced_letters(text) == text


def test_two_spaces_keep_spelled_words_apart_after_whitespace_folding() -> None:
    assert normalize_text("k i l l  y o u") == "kill you"
    assert normalize_text("K I L L   T H E M") == "KILL THEM"


@pytest.mark.parametrize(("raw", "capped"), [
    ("kiiiiiill", "kiiill"), ("porraaaaa", "porraaa"), ("Seuuuuuche", "Seuuuche"), ("حراااااام", "حرااام"),
    ("कीड़ेएएएए", "कीड़ेएएए"), ("घोंपपपप", "घोंपपप"),
])
def test_cap_repeats(raw: str, capped: str) -> None:
    assert cap_repeats(raw) == capped


@pytest.mark.parametrize("text", [
    "Schifffahrt", "Missstände", "III", "VIII", "XXX", "kkkkkkk", "هههههه", "zzzz", "1000000", "!!!!!",
    "哈哈哈哈", "하하하하", "ーーーー", "...",
])
def test_cap_repeats_keeps_spelling_laughter_digits_and_cjk(text: str) -> None:
    assert cap_repeats(text) == text


def test_the_functional_suites_spelling_variants_come_back_to_their_plain_forms() -> None:
    assert normalize_text("1mm1gr4nts are v3rm1n infesting us.") == "immigrants are vermin infesting us."
    assert normalize_text("M u s l i m s are p a r a s i t e s.") == "Muslims are parasites."
    assert normalize_text("Refugees are p@r@s1tes living off us.") == "Refugees are parasites living off us."
    assert normalize_text("اليهود ط ف ي ل ي ا ت يعيشون") == "اليهود طفيليات يعيشون"


_TRICKY = st.lists(
    st.sampled_from([*"ab kKiIoOlL1347@$. -_#\u200bقطي", TATWEEL, CYR_A, CYR_O, CYR_I, GREEK_O, "\u0391", "\u028f",
                     "\u2800", "\U000e0041", "é", "Ж", "छ", "ि", "&amp;", "\u00ad", "  ", "x\u0301"]),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)  # deadline off: CI machines are shared and slow at times
@given(st.one_of(_TRICKY, st.text(st.characters(exclude_categories=()), max_size=200)))
def test_normalisation_is_idempotent_on_adversarial_and_arbitrary_text(raw: str) -> None:
    for deobfuscate in (True, False):
        once = normalize_text(raw, deobfuscate=deobfuscate)
        assert normalize_text(once, deobfuscate=deobfuscate) == once


@settings(deadline=None)
@given(st.text(st.characters(exclude_categories=()), max_size=300))
def test_deobfuscation_steps_never_crash_or_lengthen_text(raw: str) -> None:
    for step in DEOBFUSCATION_STEPS:
        out = step(raw)
        assert isinstance(out, str)
        assert len(out) <= len(raw), step.__name__
