"""Adversarial perturbations: the generators, the flip-rate arithmetic, the command on the tiny model, and
the guarantee that holds for any model: disguised threats normalise back to the plain text."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluation.analyse import PERTURBATION_KINDS, PERTURBED_FUNCTIONALITIES
from evaluation.functional.suite import Case, load_cases
from evaluation.perturbation import (
    DEFAULT_FUNCTIONALITIES,
    PERTURBATIONS,
    Variant,
    case_rng,
    elongation,
    flip_rates,
    format_table,
    fullwidth,
    homoglyph,
    leetspeak,
    make_variants,
    mixed_script,
    nearly_equal,
    perturb,
    spaced,
    undone_table,
    word_spans,
    zero_width,
)
from model.text import normalize_text
from triage.cli import app

KINDS = tuple(PERTURBATIONS)


def rng(seed: int = 0) -> random.Random:
    return random.Random(seed)


def scripts(text: str) -> set[str]:
    return {unicodedata.name(ch).split()[0] for ch in text if ch.isalpha()}


# --- The generators do what they say. --------------------------------------------------------------------

def test_zero_width_puts_an_invisible_character_between_letters() -> None:
    out = zero_width("kill", rng())
    assert out is not None and len(out) == 7
    assert "".join(ch for ch in out if unicodedata.category(ch) != "Cf") == "kill"
    assert zero_width("a", rng()) is None


def test_zero_width_keeps_devanagari_vowel_signs_on_their_letter() -> None:
    out = zero_width("मार", rng())
    assert out is not None and out[:2] == "मा"  # the vowel sign stays attached


def test_homoglyph_swaps_one_letter_for_a_cyrillic_lookalike() -> None:
    out = homoglyph("parasites", rng())
    assert out is not None and len(out) == len("parasites")
    changed = [(a, b) for a, b in zip("parasites", out, strict=True) if a != b]
    assert len(changed) == 1 and scripts(changed[0][1]) == {"CYRILLIC"}
    assert homoglyph("حشرات", rng()) is None


def test_mixed_script_swaps_every_swappable_letter_for_cyrillic_or_greek() -> None:
    out = mixed_script("parasites", rng(1))
    assert out is not None
    assert {"CYRILLIC", "GREEK"} & scripts(out) and "LATIN" in scripts(out)  # r and t have no Cyrillic twin here
    assert sum(a != b for a, b in zip("parasites", out, strict=True)) >= 5


def test_leetspeak_writes_digits_and_symbols_inside_the_word() -> None:
    for seed in range(20):
        out = leetspeak("parasites", rng(seed))
        assert out is not None and len(out) == len("parasites")
        assert re.search(r"[a-z][0-9@$][a-z]", out), out  # one between two letters
        assert not re.search(r"[0-9@$]{2}", out), out  # never two side by side
        assert sum(ch.isalpha() for ch in out) >= 3 and not out.startswith("@")
    assert leetspeak("kill", rng()) == "k1ll"
    assert leetspeak("Muslims", rng()) is not None and leetspeak("Muslims", rng())[0] == "M"  # type: ignore[index]
    assert leetspeak("MMMM", rng()) is None


def test_spaced_spells_out_letters_with_their_marks() -> None:
    assert spaced("kill", rng()) == "k i l l"
    assert spaced("घुसपैठिए", rng()) == "घु स पै ठि ए"
    assert spaced("ab", rng()) is None


def test_fullwidth_uses_full_width_forms_and_arabic_presentation_forms() -> None:
    assert fullwidth("kill", rng()) == "\uff4b\uff49\uff4c\uff4c"
    assert fullwidth("défoncer", rng()) == "\uff44é\uff46\uff4f\uff4e\uff43\uff45\uff52"
    arabic = fullwidth("حشرات", rng())
    assert arabic is not None and all("\ufe70" <= ch <= "\ufeff" for ch in arabic)
    assert unicodedata.normalize("NFKC", arabic) == "حشرات"
    assert fullwidth("मार", rng()) is None


def test_elongation_repeats_a_letter_or_stretches_arabic_with_tatweel() -> None:
    out = elongation("kill", rng())
    assert out is not None and re.search(r"(.)\1{3}", out) and re.sub(r"(.)\1+", r"\1", out) == "kil"
    arabic = elongation("حشرات", rng())
    assert arabic is not None and "\u0640\u0640\u0640" in arabic and arabic.replace("\u0640", "") == "حشرات"


def test_word_spans_keep_marks_in_their_word() -> None:
    text = "मैं तुम्हें मार दूंगा, I'll k1ll"
    assert [text[s:e] for s, e in word_spans(text)] == ["मैं", "तुम्हें", "मार", "दूंगा", "I", "ll", "k", "ll"]


def test_perturb_disguises_up_to_n_long_words_and_is_seeded() -> None:
    text = "I will stab you at the meeting tomorrow."
    out = perturb(text, "spaced", case_rng(0, "x", "spaced", 0), words=2)
    assert out is not None and out != text and out.replace(" ", "") == text.replace(" ", "")
    assert out == perturb(text, "spaced", case_rng(0, "x", "spaced", 0), words=2)
    assert sum(w in out for w in ("s t a b", "m e e t i n g", "t o m o r r o w", "w i l l")) == 2
    assert perturb("إذا رأيتك", "leetspeak", rng()) is None


def test_make_variants_gives_distinct_variants_per_case_and_kind() -> None:
    cases = [c for c in load_cases() if c.id in {"threat-en-01", "threat-ar-01"}]
    variants = make_variants(cases, KINDS, variants=3, words=2, seed=0)
    assert variants == make_variants(cases, KINDS, variants=3, words=2, seed=0)
    keys = [(v.case.id, v.kind, v.text) for v in variants]
    assert len(keys) == len(set(keys))
    assert not [v for v in variants if v.case.id == "threat-ar-01" and v.kind in {"homoglyph", "leetspeak"}]
    assert {v.kind for v in variants if v.case.id == "threat-en-01"} == set(KINDS)


# --- Flip rates: the arithmetic, with a keyword "model" that the disguises fool. --------------------------

def keyword_model(texts: Sequence[str]) -> list[str]:
    return ["high" if re.search(r"\b(stab|kill)\b", t) else "low" for t in texts]


def test_flip_rates_count_tier_changes_and_downgrades() -> None:
    case = Case.model_validate({"id": "threat-en-99", "functionality": "threat", "language": "en", "script": "latn",
                                "text": "I will stab you.", "expected_tier": "high",
                                "expected_area": "violence_incitement"})
    variants = [Variant(case, "homoglyph", "I will st\u0430b you."),
                Variant(case, "zero_width", "I will s\u200btab you.")]
    raw = flip_rates(variants, keyword_model, lambda t: normalize_text(t, deobfuscate=False))
    assert raw.original_tiers == {"threat-en-99": "high"}
    assert raw.flips.by_kind["homoglyph"].rate == 1.0 and raw.flips.by_kind["zero_width"].rate == 0.0
    assert raw.downgrades == 1 and raw.flips.overall.total == 2
    with_normaliser = flip_rates(variants, keyword_model, normalize_text)
    assert with_normaliser.flips.overall.hits == 0
    table = format_table(raw.flips, "title", ["homoglyph", "zero_width", "spaced"])
    assert re.search(r"^homoglyph\s+100%\s+100%\s+1$", table, re.M)
    assert re.search(r"^spaced\s+-\s+-\s+0$", table, re.M)


def test_undone_table_compares_normalised_texts_exactly_or_nearly() -> None:
    case = load_cases()[0]
    variants = [Variant(case, "spaced", case.text.replace("find", "f i n d")),
                Variant(case, "elongation", case.text.replace("find", "fiiiiind"))]
    assert undone_table(variants).overall.hits == 1
    assert undone_table(variants, nearly=True).overall.hits == 2
    assert nearly_equal("Iwill", "I will") and nearly_equal("kiiill", "kill")
    assert not nearly_equal("kil", "kit") and not nearly_equal("w i l l", "will")


# --- The guarantee for any model: disguised threats normalise back to the plain text. --------------------

EXACT = ("zero_width", "homoglyph", "mixed_script", "leetspeak", "fullwidth")
_SPELLED_OUT = re.compile(r"(?<!\w)\w(?: \w){2,}(?!\w)")
_ELONGATED = re.compile(r"(\w)\1{3,}")


@pytest.fixture(scope="module")
def threats() -> list[Case]:
    wanted = {"threat", "threat_polite"}
    return [c for c in load_cases() if c.functionality in wanted and c.language in {"en", "fr", "de"}]


@pytest.mark.parametrize("kind", KINDS)
def test_disguised_threats_normalise_back_to_the_plain_text(threats: list[Case], kind: str) -> None:
    """What the model sees of a disguised threat is (nearly) what it sees of the plain one, so the tier
    decision of any model is stable: exactly the same text for invisible characters, lookalikes, leet and
    full-width forms; the same text but for a space where a spelled-out word met a one-letter word ("I w i
    l l" -> "Iwill"), or for a capped elongation ("kiiiiill" -> "kiiill"), for the other two."""
    assert len(threats) == 24
    for case in threats:
        plain = normalize_text(case.text)
        for seed in range(5):
            variant = perturb(case.text, kind, case_rng(seed, case.id, kind, 0), words=2)
            assert variant is not None and variant != case.text
            seen = normalize_text(variant)
            if kind in EXACT:
                assert seen == plain, (case.id, variant)
            else:
                assert nearly_equal(seen, plain), (case.id, variant, seen)
                assert not _SPELLED_OUT.search(seen) and not _ELONGATED.search(seen), (case.id, variant, seen)


def test_without_the_deobfuscation_steps_most_disguises_survive(threats: list[Case]) -> None:
    variants = make_variants(threats, KINDS, variants=2, words=2, seed=0)
    raw = undone_table(variants, lambda t: normalize_text(t, deobfuscate=False))
    for kind in ("homoglyph", "mixed_script", "leetspeak", "spaced", "elongation"):
        assert raw.by_kind[kind].rate == 0.0, kind
    assert undone_table(variants).by_kind["homoglyph"].rate == 1.0


# --- The command, `triage analyse perturbation`, on the tiny model. ---------------------------------------

runner = CliRunner()


def test_command_prints_flip_rates_with_the_normaliser_and_the_raw_baseline(tiny_artifact: Path) -> None:
    result = runner.invoke(app, ["analyse", "perturbation", "--artifact", str(tiny_artifact), "--variants", "1",
                                 "--functionalities", "threat", "--threads", "1", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "24 cases (threat)" in out
    for title in ("With the normaliser (normalize_text)", "Raw baseline", "Undone:", "Nearly undone:"):
        assert title in out
    assert out.count("flips: ") == 2
    header = re.search(r"^kind\s+en\s+fr\s+de\s+es\s+hi\s+ar\s+all\s+n$", out, re.M)
    assert header is not None
    assert all(re.search(rf"^{kind}\s", out, re.M) for kind in KINDS)
    undone = out.split("Undone:")[1].split("Nearly undone:")[0]
    assert re.search(r"^homoglyph\s+100%\s+100%\s+100%\s+100%\s+100%\s+-\s+100%", undone, re.M)


@pytest.mark.parametrize(("args", "error"), [
    (["--kinds", "zero_width,rot13"], "error: --kinds: unknown rot13 (known: " + ", ".join(PERTURBATIONS) + ")"),
    (["--variants", "0"], "error: --variants and --words must be at least 1"),
    (["--functionalities", "sarcasm"], "error: --functionalities sarcasm: no such cases in "),
])
def test_command_refuses_bad_options_with_one_line_naming_the_option(
    tiny_artifact: Path, args: list[str], error: str
) -> None:
    result = runner.invoke(app, ["analyse", "perturbation", "--artifact", str(tiny_artifact), *args])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith(error) and result.stderr.count("\n") == 1, result.stderr


def test_command_refuses_a_missing_artifact(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyse", "perturbation", "--artifact", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: --artifact {tmp_path}: no artifact.json\n"


def test_the_command_line_defaults_are_the_modules() -> None:
    """``evaluation.analyse`` spells the defaults out so that ``triage --help`` need not import this module."""
    assert ",".join(PERTURBATIONS) == PERTURBATION_KINDS
    assert ",".join(DEFAULT_FUNCTIONALITIES) == PERTURBED_FUNCTIONALITIES
