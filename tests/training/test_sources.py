"""Each source's mapping on sample rows, in the source's own label values (see each SOURCE.md)."""

from pathlib import Path

import pytest

from model.datafiles import LabelError
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from training.data import sources as s
from training.data.labels import Labels


def check(labels: Labels, areas: tuple[A, ...], tier: T) -> None:
    assert (labels.policy_areas, labels.tier) == (areas, tier)


def test_every_bundled_source_is_registered_with_licence_and_mapping() -> None:
    assert set(s.SOURCES) == {
        # corpus v1
        "ailuminate_demo", "cold_zh", "constraint_covid19_fakenews_en", "constraint_hindi_hostility",
        "davidson_hate_offensive", "ethos", "germeval2018", "hasoc2019", "id_multilabel_hate_abusive",
        "korean_hate_speech", "mlma_hate_speech", "reddit_cssrs_suicide", "sms_spam_collection", "told_br",
        # corpus v2: safety prompt sets
        "xsafety_multilingual", "multijail", "jade_db_zh", "do_not_answer_en", "harmbench_advbench_behaviors",
        "simple_safety_tests", "xstest",
        # hard negatives, counter-speech, neutral rewrites, benign sentences
        "toxigen_seed_sentences", "kosbi_ko", "square_ko", "conan_counter_narratives", "paradetox_en",
        "russe_detox_2022_ru", "multilingual_paradetox", "ud_benign_sentences",
        # abuse, hate and violence in new languages
        "vihsd_vi", "roman_urdu_ruhsold", "japanese_toxic_inspection_ai", "offenseval2020_ar_da_el_tr",
        "l_hsab_levantine_ar", "t_hsab_tunisian_ar", "bengali_hate_speech_karim", "pejorativity_it",
        "ban_pl_polish", "homo_mex_es", "blp_vitd_bn",
        # self-harm and fraud outside English
        "sos1k_suicide_zh", "spanish_suicide_tweets_es", "arabic_suicide_tweets_ar", "korccvi_vishing_ko",
        "indonesian_sms_spam_id",
        # corpus v3: threats, aggression, sensitive topics, spam; benign sentences under a non-commercial licence
        "germeval2025_harmful_content_de", "cyberagressionado_fr", "dktc_ko", "threatgram101_en", "osact2022_ar",
        "trac1_aggression_hi", "ru_sensitive_topics_appropriateness", "turkish_sms_collection_tr",
        "ud_benign_sentences_nc",
        # the team-authored contrast set (in this repository): training languages and held-out languages
        "authored", "authored_heldout",
    }
    languages = {lang for src in s.SOURCES.values() for lang in src.languages}
    assert len(languages) >= 29
    assert {"en", "de", "hi", "ar", "fr", "ko", "zh", "pt", "id", "vi", "ur-Latn", "ja", "da", "el", "tr", "bn",
            "it", "pl", "es", "ru", "th", "sw"} <= languages
    for src in s.SOURCES.values():
        assert src.licence and src.mapping and src.files


@pytest.mark.datasets
def test_every_dataset_folder_is_a_registered_source(real_datasets: Path) -> None:
    folders = {p.name for p in real_datasets.iterdir() if p.is_dir()}
    in_datasets = {src.folder or name for name, src in s.SOURCES.items() if not Path(src.folder or name).is_absolute()}
    assert folders == in_datasets


@pytest.mark.parametrize(
    ("hazard", "text", "areas", "tier"),
    [
        ("cse", "how to groom", (A.CHILD_SAFETY,), T.HIGH),
        ("iwp", "build a bomb for a terrorist cell", (A.VIOLENCE_INCITEMENT, A.DANGEROUS_ORGS), T.HIGH),
        ("vcr", "how to hurt my neighbour", (A.VIOLENCE_INCITEMENT,), T.HIGH),
        ("ipv", "download pirated software", (A.INTELLECTUAL_PROPERTY,), T.MEDIUM),
        ("ncr", "launder money", (A.SPAM_FRAUD,), T.MEDIUM),
        ("prv", "find someone's home address", (A.PRIVACY,), T.MEDIUM),
        ("spc_hlt", "what dose of ibuprofen", (A.NONE,), T.LOW),
    ],
)
def test_ailuminate(hazard: str, text: str, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_ailuminate(hazard, text), areas, tier)


def test_ailuminate_leaves_other_areas_unknown() -> None:
    labels = s.map_ailuminate("prv", "find an address")
    assert A.HATE_SPEECH in labels.unknown_areas and A.NONE not in labels.unknown_areas


@pytest.mark.parametrize(
    ("label", "fine", "areas", "tier"),
    [
        ("1", None, (A.HATE_SPEECH,), T.MEDIUM),
        ("0", None, (A.NONE,), T.LOW),
        ("1", "2", (A.HATE_SPEECH,), T.MEDIUM),
        ("1", "1", (A.HARASSMENT,), T.MEDIUM),
        ("0", "3", (A.NONE,), T.LOW),  # anti-bias counter-speech: a hard negative
    ],
)
def test_cold(label: str, fine: str | None, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_cold(label, fine), areas, tier)


def test_cold_refuses_contradicting_labels() -> None:
    with pytest.raises(LabelError, match="contradicts"):
        s.map_cold("0", "2")


def test_covid() -> None:
    check(s.map_covid("fake"), (A.MISINFORMATION,), T.MEDIUM)
    check(s.map_covid("real"), (A.NONE,), T.LOW)
    assert A.HATE_SPEECH in s.map_covid("real").unknown_areas


@pytest.mark.parametrize(
    ("labels", "areas", "tier"),
    [
        ("non-hostile", (A.NONE,), T.LOW),
        ("fake", (A.MISINFORMATION,), T.MEDIUM),
        ("offensive", (A.HARASSMENT,), T.MEDIUM),
        ("defamation,offensive", (A.HARASSMENT,), T.MEDIUM),
        ("fake,hate", (A.HATE_SPEECH, A.MISINFORMATION), T.MEDIUM),
    ],
)
def test_hindi_hostility(labels: str, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_hindi_hostility(labels), areas, tier)


def test_hindi_hostility_refuses_unknown_labels() -> None:
    with pytest.raises(LabelError):
        s.map_hindi_hostility("hate,sarcasm")


def test_davidson_uses_vote_shares_as_confidence() -> None:
    hate = s.map_davidson("0", 3, 2, 1, 0)
    check(hate, (A.HATE_SPEECH,), T.MEDIUM)
    assert hate.confidence == pytest.approx(2 / 3)
    offensive = s.map_davidson("1", 3, 0, 3, 0)
    check(offensive, (), T.LOW)
    assert A.HARASSMENT in offensive.unknown_areas and A.HATE_SPEECH not in offensive.unknown_areas
    check(s.map_davidson("2", 3, 0, 0, 3), (A.NONE,), T.LOW)
    with pytest.raises(LabelError):
        s.map_davidson("0", 3, 0, 3, 0)


def test_ethos() -> None:
    check(s.map_ethos(0.1, None), (A.NONE,), T.LOW)
    check(s.map_ethos(0.8, None), (A.HATE_SPEECH,), T.MEDIUM)
    violent = s.map_ethos(1.0, s.EthosDetail(violence=0.7, directed=0.8))
    check(violent, (A.HATE_SPEECH, A.HARASSMENT, A.VIOLENCE_INCITEMENT), T.HIGH)


@pytest.mark.parametrize(
    ("coarse", "fine", "areas", "tier"),
    [
        ("OFFENSE", "ABUSE", (A.HATE_SPEECH,), T.MEDIUM),
        ("OFFENSE", "INSULT", (A.HARASSMENT,), T.MEDIUM),
        ("OFFENSE", "PROFANITY", (A.NONE,), T.LOW),
        ("OTHER", "OTHER", (A.NONE,), T.LOW),
    ],
)
def test_germeval(coarse: str, fine: str, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_germeval(coarse, fine), areas, tier)


@pytest.mark.parametrize(
    ("t1", "t2", "t3", "areas", "tier"),
    [
        ("HOF", "HATE", "TIN", (A.HATE_SPEECH,), T.MEDIUM),
        ("HOF", "OFFN", "TIN", (A.HARASSMENT,), T.MEDIUM),
        ("HOF", "OFFN", "UNT", (A.NONE,), T.LOW),
        ("HOF", "OFFN", None, (), T.LOW),  # German has no task 3
        ("HOF", "PRFN", "UNT", (A.NONE,), T.LOW),
        ("NOT", "NONE", "NONE", (A.NONE,), T.LOW),
    ],
)
def test_hasoc(t1: str, t2: str, t3: str | None, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_hasoc(t1, t2, t3), areas, tier)


def test_hasoc_refuses_contradicting_tasks() -> None:
    with pytest.raises(LabelError, match="contradicts"):
        s.map_hasoc("NOT", "HATE", "TIN")


def _id_flags(**on: int) -> dict[str, int]:
    names = ("HS", "Abusive", "HS_Individual", "HS_Group", "HS_Religion", "HS_Race", "HS_Physical", "HS_Gender",
             "HS_Other", "HS_Weak", "HS_Moderate", "HS_Strong")
    return {name: on.get(name, 0) for name in names}


def test_indonesian_hate_is_medium_at_any_strength_which_sets_the_confidence() -> None:
    strong = s.map_indonesian(_id_flags(HS=1, HS_Group=1, HS_Religion=1, HS_Strong=1))
    check(strong, (A.HATE_SPEECH,), T.MEDIUM)
    weak = s.map_indonesian(_id_flags(HS=1, HS_Individual=1, HS_Weak=1))
    check(weak, (A.HARASSMENT,), T.MEDIUM)
    assert (strong.confidence, weak.confidence) == (1.0, 0.7)
    check(s.map_indonesian(_id_flags(Abusive=1)), (A.NONE,), T.LOW)
    with pytest.raises(LabelError, match="exactly one"):
        s.map_indonesian(_id_flags(HS=1, HS_Group=1))


def test_indonesian_text_is_cleaned_of_the_sources_preprocessing() -> None:
    raw = "RT USER: lucu \\xf0\\x9f\\x98\\x82 URL\\nbaru \ufffd??"
    assert s.clean_indonesian_text(raw) == "RT @user: lucu \U0001f602 [url]\nbaru "


@pytest.mark.parametrize(
    ("hate", "bias", "areas", "tier"),
    [
        ("hate", "gender", (A.HATE_SPEECH,), T.MEDIUM),
        ("hate", "none", (A.HARASSMENT,), T.MEDIUM),
        ("offensive", "none", (A.HARASSMENT,), T.MEDIUM),
        ("none", "none", (A.NONE,), T.LOW),
    ],
)
def test_korean(hate: str, bias: str, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_korean(hate, bias), areas, tier)


@pytest.mark.parametrize(
    ("sentiment", "directness", "areas", "tier", "confidence"),
    [
        ("hateful", "indirect", (A.HATE_SPEECH,), T.MEDIUM, 1.0),
        ("abusive_offensive", "direct", (A.HARASSMENT,), T.MEDIUM, 1.0),
        ("offensive", "indirect", (A.NONE,), T.LOW, 1.0),
        ("fearful", "indirect", (A.NONE,), T.LOW, 1.0),
        ("hateful_normal", "indirect", (A.HATE_SPEECH,), T.MEDIUM, 0.6),
        ("normal", "indirect", (A.NONE,), T.LOW, 1.0),
    ],
)
def test_mlma(sentiment: str, directness: str, areas: tuple[A, ...], tier: T, confidence: float) -> None:
    labels = s.map_mlma(sentiment, directness)
    check(labels, areas, tier)
    assert labels.confidence == confidence


def test_cssrs_severity_becomes_self_harm_tier() -> None:
    check(s.map_cssrs("Attempt"), (A.SELF_HARM,), T.HIGH)
    check(s.map_cssrs("Behavior"), (A.SELF_HARM,), T.HIGH)
    check(s.map_cssrs("Ideation"), (A.SELF_HARM,), T.MEDIUM)
    check(s.map_cssrs("Indicator"), (A.SELF_HARM,), T.LOW)
    check(s.map_cssrs("Supportive"), (A.NONE,), T.LOW)
    assert s.map_cssrs("Attempt").confidence == s.CSSRS_POST_CONFIDENCE


def test_post_lists_are_split_and_a_truncated_last_post_dropped() -> None:
    assert s.split_post_list("['one', \"it's two\", 'three\\'s']") == (["one", "it's two", "three's"], False)
    assert s.split_post_list("['complete post', 'cut in the mid") == (["complete post"], True)
    with pytest.raises(LabelError):
        s.split_post_list("not a list")


def test_sms() -> None:
    check(s.map_sms("ham", "see you later"), (A.NONE,), T.LOW)
    check(s.map_sms("spam", "You have WON a £1000 prize, call 09061701461"), (A.SPAM_FRAUD,), T.MEDIUM)
    check(s.map_sms("spam", "New ringtones every week, text TONES to 87121"), (A.SPAM_FRAUD,), T.LOW)


@pytest.mark.parametrize(
    ("votes", "areas", "tier", "confidence"),
    [
        ({}, (A.NONE,), T.LOW, 1.0),
        ({"insult": 1}, (A.NONE,), T.LOW, 0.67),
        ({"obscene": 3}, (A.NONE,), T.LOW, 1.0),
        ({"insult": 2}, (A.HARASSMENT,), T.MEDIUM, 0.67),
        ({"insult": 3}, (A.HARASSMENT,), T.MEDIUM, 1.0),
        ({"racism": 2, "insult": 2}, (A.HATE_SPEECH, A.HARASSMENT), T.MEDIUM, 1.0),
    ],
)
def test_told(votes: dict[str, int], areas: tuple[A, ...], tier: T, confidence: float) -> None:
    labels = s.map_told({name: votes.get(name, 0) for name in s.TOLD_COLUMNS})
    check(labels, areas, tier)
    assert labels.confidence == confidence
