"""The threats sources' mappings (corpus v3), in each source's own label values (see each SOURCE.md)."""

from collections import defaultdict
from pathlib import Path

import pytest

from model.datafiles import LabelError
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from tests.factories import build_real_source
from training.data import sources_threats as s
from training.data.labels import Labels
from training.data.sources import SOURCES, LicenceKind


def check(labels: Labels, areas: tuple[A, ...], tier: T, confidence: float = 1.0) -> None:
    assert (labels.policy_areas, labels.tier) == (areas, tier)
    assert labels.confidence == pytest.approx(confidence)


def test_every_source_of_the_group_is_registered_with_its_licence() -> None:
    kinds = {name: SOURCES[name].licence_kind for name in (
        "germeval2025_harmful_content_de", "cyberagressionado_fr", "dktc_ko", "threatgram101_en", "osact2022_ar",
        "trac1_aggression_hi", "ru_sensitive_topics_appropriateness", "turkish_sms_collection_tr")}
    assert kinds == {
        "germeval2025_harmful_content_de": LicenceKind.COPYLEFT, "cyberagressionado_fr": LicenceKind.UNSTATED,
        "dktc_ko": LicenceKind.NON_COMMERCIAL, "threatgram101_en": LicenceKind.PERMISSIVE,
        "osact2022_ar": LicenceKind.UNSTATED, "trac1_aggression_hi": LicenceKind.NON_COMMERCIAL,
        "ru_sensitive_topics_appropriateness": LicenceKind.NON_COMMERCIAL,
        "turkish_sms_collection_tr": LicenceKind.UNSTATED,
    }


# --- GermEval 2025 --------------------------------------------------------------------------------------------


def test_germeval2025_calls_to_violence_and_own_intent_are_high() -> None:
    check(s.map_germeval2025("call2violence", "nothing", "TRUE", None), (A.VIOLENCE_INCITEMENT,), T.HIGH)
    check(s.map_germeval2025("prospensity", None, None, None), (A.VIOLENCE_INCITEMENT,), T.HIGH)


def test_germeval2025_support_is_medium_unless_it_calls_to_act() -> None:
    check(s.map_germeval2025("support", None, "FALSE", None), (A.VIOLENCE_INCITEMENT,), T.MEDIUM)
    check(s.map_germeval2025("glorification", None, "TRUE", None), (A.VIOLENCE_INCITEMENT,), T.HIGH)
    check(s.map_germeval2025("other", None, None, None), (A.VIOLENCE_INCITEMENT,), T.MEDIUM, 0.6)


def test_germeval2025_subversion_is_a_dangerous_organisation_and_defamation_harassment() -> None:
    check(s.map_germeval2025(None, "subversive", None, None), (A.DANGEROUS_ORGS,), T.HIGH)
    check(s.map_germeval2025("nothing", "agitation", None, "TRUE"), (A.HARASSMENT, A.DANGEROUS_ORGS), T.MEDIUM)


def test_germeval2025_benign_tweets_leave_hate_unknown() -> None:
    labels = s.map_germeval2025("nothing", "criticism", "TRUE", "FALSE")
    check(labels, (), T.LOW, 0.7)  # "none" is not asserted: xenophobia was not annotated
    assert A.HATE_SPEECH in labels.unknown_areas and A.VIOLENCE_INCITEMENT not in labels.unknown_areas
    assert s.map_germeval2025(None, None, "TRUE", None).unknown_areas == tuple(A)  # a call to act alone


def test_germeval2025_rejects_unknown_values() -> None:
    with pytest.raises(LabelError):
        s.map_germeval2025("threat", None, None, None)
    with pytest.raises(LabelError):
        s.map_germeval2025(None, None, "yes", None)


# --- CyberAgressionAdo ----------------------------------------------------------------------------------------


def test_cyberagression_threats_with_violence_are_high_others_harassment() -> None:
    check(s.map_cyberagression("threat", "no", "non reste je vais te demonte ta gueule"),
          (A.VIOLENCE_INCITEMENT,), T.HIGH, 0.7)
    check(s.map_cyberagression("threat", "no", "je vais le dire à toute la classe"), (A.HARASSMENT,), T.MEDIUM)
    check(s.map_cyberagression("denigration", "yes", "..."), (A.HATE_SPEECH, A.HARASSMENT), T.MEDIUM)
    check(s.map_cyberagression("none", "no", "On se calme arreter de l'attaquer"), (A.NONE,), T.LOW)
    with pytest.raises(LabelError):
        s.map_cyberagression("insult", "no", "")


# --- DKTC -----------------------------------------------------------------------------------------------------


def test_dktc_threats_are_high_and_extortion_only_with_violence() -> None:
    check(s.map_dktc("협박 대화", "너와 네 가족까지 모조리"), (A.VIOLENCE_INCITEMENT,), T.HIGH)
    check(s.map_dktc("갈취 대화", "돈 안 내놓으면 칼로 찔러버린다"), (A.VIOLENCE_INCITEMENT,), T.HIGH)
    check(s.map_dktc("갈취 대화", "지금 주머니에 있는 돈 다 내놔"), (A.HARASSMENT,), T.MEDIUM)
    check(s.map_dktc("직장 내 괴롭힘 대화", "이것도 못해?"), (A.HARASSMENT,), T.MEDIUM)
    with pytest.raises(LabelError):
        s.map_dktc("일반 대화", "안녕하세요")


# --- ThreatGram -----------------------------------------------------------------------------------------------


def test_threatgram_violent_threats_are_high_and_punitive_demands_are_not() -> None:
    check(s.map_threatgram("2"), (A.VIOLENCE_INCITEMENT,), T.HIGH)
    punitive = s.map_threatgram("1")
    check(punitive, (), T.LOW, 0.8)
    assert A.VIOLENCE_INCITEMENT not in punitive.unknown_areas and A.HARASSMENT in punitive.unknown_areas
    with pytest.raises(LabelError):
        s.map_threatgram("3")


def test_threatgram_groups_by_channel_and_month() -> None:
    group = s.threatgram_group("ResisttheMainstream.json", "1698117741")
    assert group == "threatgram101_en:ResisttheMainstream:2023-10"
    with pytest.raises(LabelError):
        s.threatgram_group("X.json", "yesterday")


# --- OSACT 2022 -----------------------------------------------------------------------------------------------


def test_osact_violence_is_high_and_protected_hate_medium() -> None:
    check(s.map_osact("OFF", "NOT_HS", "NOT_VLG", "VIO"), (A.VIOLENCE_INCITEMENT,), T.HIGH, 0.8)
    check(s.map_osact("OFF", "HS2", "NOT_VLG", "NOT_VIO"), (A.HATE_SPEECH,), T.MEDIUM)
    check(s.map_osact("OFF", "HS3", "NOT_VLG", "NOT_VIO"), (A.HARASSMENT,), T.MEDIUM, 0.7)
    check(s.map_osact("OFF", "NOT_HS", "VLG", "NOT_VIO"), (), T.LOW, 0.7)
    check(s.map_osact("NOT_OFF", "NOT_HS", "NOT_VLG", "NOT_VIO"), (A.NONE,), T.LOW)
    with pytest.raises(LabelError):
        s.map_osact("NOT_OFF", "HS1", "NOT_VLG", "NOT_VIO")


# --- TRAC-1 ---------------------------------------------------------------------------------------------------


def test_trac_overt_aggression_is_high_only_with_a_call_to_violence() -> None:
    check(s.map_trac("OAG", "in sabko goli maar do"), (A.VIOLENCE_INCITEMENT,), T.HIGH, 0.6)
    check(s.map_trac("OAG", "tu pagal hai kya"), (A.HARASSMENT,), T.MEDIUM, 0.7)
    check(s.map_trac("CAG", "haan haan bahut bade neta ho"), (), T.LOW, 0.5)
    check(s.map_trac("NAG", "raat ko 10 baje ke baad so jao"), (A.NONE,), T.LOW, 0.9)
    with pytest.raises(LabelError):
        s.map_trac("XAG", "")


def test_trac_tells_romanised_hindi_from_devanagari() -> None:
    assert s.trac_language("bhai kal milte hain") == "hi-Latn"
    assert s.trac_language("भाई कल मिलते हैं") == "hi"


# --- Russian sensitive topics ---------------------------------------------------------------------------------


def test_ru_sensitive_topics_are_violations_only_when_inappropriate() -> None:
    labels = s.map_ru_sensitive(0.9, {"suicide"})
    assert labels is not None
    check(labels, (A.SELF_HARM,), T.MEDIUM, s.RU_CONFIDENCE)
    neutral = s.map_ru_sensitive(0.0, {"weapons", "politics"})
    assert neutral is not None
    check(neutral, (A.NONE,), T.LOW, 0.8)
    assert s.map_ru_sensitive(0.3, {"suicide"}) is None  # annotators split
    assert s.map_ru_sensitive(1.0, {"politics"}) is None  # no area of ours
    with pytest.raises(LabelError):
        s.map_ru_sensitive(0.9, {"cooking"})


# --- Turkish SMS ----------------------------------------------------------------------------------------------


def test_turkish_sms_betting_and_prizes_are_fraud_promotions_plain_spam() -> None:
    check(s.map_turkish_sms("1", "Yeni uyelere %100 bahis bonusu, hemen tikla"), (A.SPAM_FRAUD,), T.MEDIUM)
    check(s.map_turkish_sms("1", "BiP ile mesajlarimi aninda gonderiyorum"), (A.SPAM_FRAUD,), T.LOW)
    check(s.map_turkish_sms("2", "125 lira"), (A.NONE,), T.LOW)
    with pytest.raises(LabelError):
        s.map_turkish_sms("3", "")


# --- The real files -------------------------------------------------------------------------------------------

#: Per source: rows read, the skip reasons, and the tiers kept.
REAL: dict[str, tuple[int, dict[str, int], set[str]]] = {
    "germeval2025_harmful_content_de": (51_376, {"labelled_with_first_file": 28_267}, {"low", "medium", "high"}),
    "cyberagressionado_fr": (2_921, {}, {"low", "medium", "high"}),
    "dktc_ko": (3_950, {}, {"medium", "high"}),
    "threatgram101_en": (15_076, {"empty_text": 13}, {"low", "high"}),
    "osact2022_ar": (10_157, {}, {"low", "medium", "high"}),
    "trac1_aggression_hi": (15_001, {"empty_text": 1}, {"low", "medium", "high"}),
    "ru_sensitive_topics_appropriateness": (16_414, {"uncertain_or_no_area": 2_678}, {"low", "medium"}),
    "turkish_sms_collection_tr": (4_751, {}, {"low", "medium"}),
}


@pytest.mark.datasets
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files(name: str, real_datasets: Path, tmp_path: Path) -> None:
    info, table = build_real_source(real_datasets, tmp_path, name, *REAL[name])
    assert info["label_conflicts"] <= info["duplicates_dropped"]
    splits: dict[str, set[str]] = defaultdict(set)
    for row in table:
        if row["group_id"] is not None:
            splits[row["group_id"]].add(row["split"])
    assert all(len(found) == 1 for found in splits.values())  # a chat, a tweet, a channel-month: one split
    if name == "germeval2025_harmful_content_de":  # one row per tweet, however many files label it
        assert len({row["group_id"] for row in table}) == len(table)
    if name == "cyberagressionado_fr":
        assert len(splits) == len(s.CYBERAGRESSION_CHATS)
