"""The selfharm_fraud sources' mappings, in each source's own label values (see each SOURCE.md)."""

from collections import Counter, defaultdict
from pathlib import Path

import pytest

from model.datafiles import LabelError
from model.schema import MAX_TEXT_CHARS
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from model.text import normalize_text
from tests.factories import build_real_source
from training.data import sources_selfharm_fraud as s
from training.data.labels import Labels
from training.data.readers import Row
from training.data.sources import SOURCES, LicenceKind


def check(labels: Labels, areas: tuple[A, ...], tier: T, confidence: float = 1.0) -> None:
    assert (labels.policy_areas, labels.tier) == (areas, tier)
    assert labels.confidence == pytest.approx(confidence)


def test_every_source_of_the_group_is_registered() -> None:
    kinds = {name: SOURCES[name].licence_kind for name in (
        "spanish_suicide_tweets_es", "arabic_suicide_tweets_ar", "korccvi_vishing_ko", "indonesian_sms_spam_id")}
    assert kinds == {"spanish_suicide_tweets_es": LicenceKind.UNSTATED,
                     "arabic_suicide_tweets_ar": LicenceKind.NON_COMMERCIAL,
                     "korccvi_vishing_ko": LicenceKind.UNSTATED, "indonesian_sms_spam_id": LicenceKind.UNSTATED}


# --- Spanish suicidal-intent tweets ------------------------------------------------------------------------


@pytest.mark.parametrize(("suicidio", "areas", "tier"), [("1", (A.SELF_HARM,), T.HIGH), ("0", (A.NONE,), T.LOW)])
def test_spanish_suicide(suicidio: str, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_spanish_suicide(suicidio), areas, tier)


def test_spanish_suicide_speaks_only_about_self_harm() -> None:
    benign = s.map_spanish_suicide("0")
    assert A.HATE_SPEECH in benign.unknown_areas and A.SPAM_FRAUD in benign.unknown_areas
    assert A.SELF_HARM not in benign.unknown_areas and A.NONE not in benign.unknown_areas
    with pytest.raises(LabelError, match="unknown suicidio"):
        s.map_spanish_suicide("2")


# --- Arabic suicide-related tweets -------------------------------------------------------------------------

NEWS = "انتحار تلميذ شنقا في عنابة"  # "a pupil hanged himself in Annaba"
FIRST_PERSON = "انا مسكين عما قريب سانتحر"  # "I am wretched, soon I will kill myself"


@pytest.mark.parametrize(
    ("votes", "text", "areas", "tier", "confidence"),
    [
        (("1", "1", "1", "1", "1"), NEWS, (A.SELF_HARM,), T.LOW, 1.0),  # news of a suicide: topic, not risk
        (("1", "0", "1", "0", "1"), NEWS, (A.SELF_HARM,), T.LOW, 0.6),
        (("1", "", "1", "0", "1"), NEWS, (A.SELF_HARM,), T.LOW, 0.75),  # an empty cell abstains
        (("1", "1", "1", "1", "1"), FIRST_PERSON, (A.SELF_HARM,), T.MEDIUM, 0.6),
        (("1", "0", "1", "1", "0"), FIRST_PERSON, (A.SELF_HARM,), T.MEDIUM, 0.36),
        (("1", "", "0", "0", "1"), NEWS, (A.NONE,), T.LOW, 0.5),  # a tie is not a majority
        (("0", "0", "0", "0", "1"), NEWS, (A.NONE,), T.LOW, 0.8),
        (("0", "0", "0", "0", "0"), "سأنتحر من الفرحه", (A.NONE,), T.LOW, 1.0),  # "I'll kill myself with joy"
    ],
)
def test_arabic_suicide(votes: tuple[str, ...], text: str, areas: tuple[A, ...], tier: T, confidence: float) -> None:
    labels = s.map_arabic_suicide(votes, text)
    check(labels, areas, tier, confidence)
    assert A.VIOLENCE_INCITEMENT in labels.unknown_areas and A.SELF_HARM not in labels.unknown_areas


@pytest.mark.parametrize(
    "text",
    ["واقفه على طوفة السطح سأنتحر", "أريد أن أنتحر", "ابي انتحر", "فكرت في الانتحار قبل كده", "هنتحر",
     "راح انتحر", "سأقتل نفسي"],
)
def test_arabic_first_person_cue(text: str) -> None:
    assert s.map_arabic_suicide(("1",) * 5, text).tier is T.MEDIUM


@pytest.mark.parametrize("text", ["وافد قتل صديقته ثم انتحر", "شاب قتل نفسه", "حاولت الانتحار غرقا", "يوميات الانتحار"])
def test_arabic_reports_about_others_stay_low(text: str) -> None:
    assert s.map_arabic_suicide(("1",) * 5, text).tier is T.LOW


@pytest.mark.parametrize("votes", [("1", "2", "0", "0", "0"), ("yes", "0", "0", "0", "0"), ("", "", "", "", "")])
def test_arabic_refuses_bad_votes(votes: tuple[str, ...]) -> None:
    with pytest.raises(LabelError):
        s.map_arabic_suicide(votes, NEWS)


# --- KorCCVi voice-phishing transcripts --------------------------------------------------------------------


def test_korccvi() -> None:
    labels = s.map_korccvi("1")
    check(labels, (A.SPAM_FRAUD,), T.MEDIUM)
    assert A.HATE_SPEECH in labels.unknown_areas and A.NONE not in labels.unknown_areas
    with pytest.raises(LabelError, match="unknown label"):
        s.map_korccvi("0")


def test_a_transcript_that_fits_stays_whole() -> None:
    text = "네 고객님 안녕하세요.\n현대 캐피탈 결제 부서입니다."
    assert s.split_windows(text, limit=100) == [text]


def test_a_long_transcript_is_cut_into_windows_of_whole_sentences() -> None:
    turns = [f"고객님 주민 번호 {n}번 확인 부탁 드리겠습니다. 입금 하시면 됩니다?" for n in range(40)]
    text = "\n".join(turns)
    windows = s.split_windows(text, limit=500)
    sizes = [len(normalize_text(w)) for w in windows]
    assert len(windows) == -(-len(normalize_text(text)) // 500)  # as few windows as fit
    assert max(sizes) <= 500 and max(sizes) - min(sizes) < 60  # about equal: no short tail
    assert normalize_text(" ".join(windows)) == normalize_text(text)  # nothing lost, nothing cut mid-sentence
    sentences = {part for turn in turns for part in turn.replace(". ", ".\n").split("\n")}
    assert all(set(w.split("\n")) <= sentences for w in windows)


def test_a_sentence_longer_than_the_limit_is_a_window_of_its_own() -> None:
    windows = s.split_windows("짧은 말.\n" + "가" * 30 + "\n끝.", limit=20)
    assert windows == ["짧은 말.", "가" * 30, "끝."]


def test_windows_of_one_call_share_a_group_and_have_suffixes() -> None:
    long = "\n".join(["대출 신청은 대리 신청이 안 됩니다."] * 600)
    file = SOURCES["korccvi_vishing_ko"].files[0]
    mapper = SOURCES["korccvi_vishing_ko"].make_mapper(Path("."))
    mapped = mapper(Row(Path("x.csv"), 2, {"": "7", "transcript": long, "label": "1"}), file)
    assert len(mapped) == 2 and {m.group_id for m in mapped} == {"korccvi_vishing_ko:7"}
    assert [m.suffix for m in mapped] == [":w0", ":w1"]
    short = mapper(Row(Path("x.csv"), 3, {"": "8", "transcript": "네 고객님", "label": "1"}), file)
    assert [(m.text, m.suffix, m.group_id) for m in short] == [("네 고객님", "", "korccvi_vishing_ko:8")]


# --- Indonesian SMS spam -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "areas", "tier"),
    [("0", (A.NONE,), T.LOW), ("1", (A.SPAM_FRAUD,), T.MEDIUM), ("2", (A.SPAM_FRAUD,), T.LOW)],
)
def test_indonesian_sms(label: str, areas: tuple[A, ...], tier: T) -> None:
    labels = s.map_indonesian_sms(label)
    check(labels, areas, tier)
    assert A.PRIVACY in labels.unknown_areas and A.SPAM_FRAUD not in labels.unknown_areas


def test_indonesian_sms_refuses_unknown_labels() -> None:
    with pytest.raises(LabelError, match="unknown label"):
        s.map_indonesian_sms("promo")


# --- The real files ----------------------------------------------------------------------------------------

#: Rows read (SOURCE.md), and the tiers expected among the rows kept.
REAL = {
    "spanish_suicide_tweets_es": (2_068, {"low", "high"}),
    "arabic_suicide_tweets_ar": (2_030, {"low", "medium"}),
    "korccvi_vishing_ko": (695, {"medium"}),
    "indonesian_sms_spam_id": (1_143, {"low", "medium"}),
}


@pytest.mark.datasets
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files(name: str, real_datasets: Path, tmp_path: Path) -> None:
    rows_read, tiers = REAL[name]
    info, table = build_real_source(real_datasets, tmp_path, name, rows_read, {}, tiers)
    assert all(len(row["text"]) <= MAX_TEXT_CHARS for row in table)
    splits: defaultdict[str, set[str]] = defaultdict(set)
    for row in table:
        if row["group_id"] is not None:
            splits[row["group_id"]].add(row["split"])
    assert all(len(found) == 1 for found in splits.values())
    if name == "korccvi_vishing_ko":
        # 679 transcripts fit whole (3 of them are duplicates, dropped); the 16 longer ones become 2 or 3
        # windows each.
        per_call = Counter(row["group_id"] for row in table)
        assert info["duplicates_dropped"] == 3 and len(per_call) == 695 - 3
        assert Counter(per_call.values()) == {1: 679 - 3, 2: 15, 3: 1}
