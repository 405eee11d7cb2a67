"""The abuse_b sources' mappings on their real label values (see each SOURCE.md), and each source built from
the real datasets folder."""

import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from model.datafiles import LabelError, RowError
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from training.data import sources_abuse_b as s
from training.data.build import BuildConfig, build_corpus
from training.data.labels import Labels
from training.data.sources import SOURCES, SourceFile


def check(labels: Labels, areas: tuple[A, ...], tier: T, confidence: float = 1.0) -> None:
    assert (labels.policy_areas, labels.tier, labels.confidence) == (areas, tier, confidence)


def test_the_groups_sources_are_registered_with_licence_and_mapping() -> None:
    names = {"bengali_hate_speech_karim", "pejorativity_it", "ban_pl_polish", "homo_mex_es", "blp_vitd_bn",
             "sos1k_suicide_zh"}
    assert names <= set(SOURCES)
    for name in names:
        assert SOURCES[name].licence and SOURCES[name].mapping
    assert SOURCES["homo_mex_es"].licence_kind == "non_commercial"
    assert "HATE-WAR-PL" in SOURCES["ban_pl_polish"].mapping


# --- Bengali hate speech --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "target", "areas", "tier", "confidence"),
    [
        ("Religious", None, (A.HATE_SPEECH,), T.MEDIUM, 1.0),
        ("Gender abusive", None, (A.HATE_SPEECH,), T.MEDIUM, 1.0),
        ("Geopolitical", None, (A.HATE_SPEECH,), T.MEDIUM, 1.0),
        ("Personal", None, (A.HARASSMENT,), T.MEDIUM, 1.0),
        ("Political", None, (A.HARASSMENT,), T.MEDIUM, s.BENGALI_POLITICAL_CONFIDENCE),
        ("Personal", "0", (A.HARASSMENT,), T.MEDIUM, 1.0),
        ("Political", "1", (A.HARASSMENT,), T.MEDIUM, s.BENGALI_POLITICAL_CONFIDENCE),
        ("Religious", "2", (A.HATE_SPEECH,), T.MEDIUM, 1.0),
        ("Geopolitical", "3", (A.HATE_SPEECH,), T.MEDIUM, 1.0),
    ],
)
def test_bengali_hate(label: str, target: str | None, areas: tuple[A, ...], tier: T, confidence: float) -> None:
    check(s.map_bengali_hate(label, target), areas, tier, confidence)


def test_bengali_v2_personal_leaves_hate_unknown_as_it_holds_the_former_gender_abusive_rows() -> None:
    assert A.HATE_SPEECH not in s.map_bengali_hate("Personal").unknown_areas
    assert A.HATE_SPEECH in s.map_bengali_hate("Personal", "0").unknown_areas
    # Political affiliation is not a protected attribute: not hate.
    assert A.HATE_SPEECH not in s.map_bengali_hate("Political", "1").unknown_areas


@pytest.mark.parametrize(("label", "target", "match"), [
    ("Sarcasm", None, "unknown"), ("Gender abusive", "4", "unknown"), ("Personal", "2", "contradicts"),
])
def test_bengali_hate_refuses_unknown_or_contradicting_labels(label: str, target: str | None, match: str) -> None:
    with pytest.raises(LabelError, match=match):
        s.map_bengali_hate(label, target)


# --- PejorativITy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pejorative", "misogyny", "areas", "tier"),
    [
        ("1", "1", (A.HATE_SPEECH,), T.MEDIUM),
        ("0", "1", (A.HATE_SPEECH,), T.MEDIUM),
        ("1", "0", (), T.LOW),  # an epithet, not misogynous: not hate, harassment unknown
        ("0", "0", (A.NONE,), T.LOW),  # the word used literally: a hard negative
    ],
)
def test_pejorativity(pejorative: str, misogyny: str, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_pejorativity(pejorative, misogyny), areas, tier)


def test_pejorativity_scopes() -> None:
    epithet = s.map_pejorativity("1", "0")
    assert A.HARASSMENT in epithet.unknown_areas and A.HATE_SPEECH not in epithet.unknown_areas
    assert A.HARASSMENT in s.map_pejorativity("1", "1").unknown_areas
    assert A.HARASSMENT not in s.map_pejorativity("0", "0").unknown_areas
    with pytest.raises(LabelError):
        s.map_pejorativity("1", "yes")


# --- BAN-PL ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "reason", "areas", "tier", "confidence"),
    [
        ("0", "1", (A.NONE,), T.LOW, s.BAN_PL_NEUTRAL_CONFIDENCE),
        ("1", "2", (), T.MEDIUM, s.BAN_PL_HARMFUL_CONFIDENCE),
        ("1", "3", (), T.MEDIUM, s.BAN_PL_HARMFUL_CONFIDENCE),
        ("1", "4", (A.HARASSMENT,), T.MEDIUM, s.BAN_PL_HARMFUL_CONFIDENCE),
    ],
)
def test_ban_pl(cls: str, reason: str, areas: tuple[A, ...], tier: T, confidence: float) -> None:
    check(s.map_ban_pl(cls, reason), areas, tier, confidence)


def test_ban_pl_labels_are_weak_and_a_ban_without_an_attack_reason_has_no_area() -> None:
    assert s.BAN_PL_HARMFUL_CONFIDENCE < 1 and s.BAN_PL_NEUTRAL_CONFIDENCE < 1
    assert set(s.map_ban_pl("1", "3").unknown_areas) == set(A)
    attack = s.map_ban_pl("1", "4")
    assert A.HATE_SPEECH in attack.unknown_areas and A.NONE not in attack.unknown_areas
    neutral = s.map_ban_pl("0", "1")
    assert A.VIOLENCE_INCITEMENT not in neutral.unknown_areas and A.SPAM_FRAUD in neutral.unknown_areas


@pytest.mark.parametrize(("cls", "reason", "match"), [("1", "5", "unknown"), ("0", "2", "contradicts"),
                                                       ("1", "1", "contradicts"), ("2", "2", "unknown")])
def test_ban_pl_refuses_unknown_or_contradicting_labels(cls: str, reason: str, match: str) -> None:
    with pytest.raises(LabelError, match=match):
        s.map_ban_pl(cls, reason)


def test_ban_pl_anonymisation_tags_become_our_placeholders() -> None:
    text = "{USERNAME}: zobacz {URL} i zapytaj [surname] {USERANAME}"
    assert s.clean_ban_pl_text(text) == "@user: zobacz [url] i zapytaj [surname] @user"


def _zip(tmp_path: Path, member: str, content: str) -> Path:
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, content)
    return path


def test_zip_reader_yields_rows_with_the_line_they_start_on(tmp_path: Path) -> None:
    path = _zip(tmp_path, "inner.csv", '\ufeff,Text,Class\n0,"two\nlines",1\n\n1,plain,0\n')
    file = SourceFile("data.zip", "pl", "all", required=("Text",))
    rows = list(s.zip_csv_reader("inner.csv", b"pw")(path, file))
    assert [(r.line, r["Text"], r["Class"]) for r in rows] == [(2, "two\nlines", "1"), (5, "plain", "0")]
    assert rows[0].path == path / "inner.csv"


@pytest.mark.parametrize(
    ("member", "content", "match"),
    [
        ("other.csv", "Text\nx\n", r"data\.zip: cannot read inner\.csv"),
        ("inner.csv", "Text,Class\nx\n", r"inner\.csv:2: expected 2 columns"),
        ("inner.csv", "Name,Class\nx,1\n", r"inner\.csv:1: header lacks column\(s\) Text"),
        ("inner.csv", 'Text,Class\n"open,1\n', r"inner\.csv:2: malformed record"),
    ],
)
def test_zip_reader_errors_name_file_and_line(tmp_path: Path, member: str, content: str, match: str) -> None:
    path = _zip(tmp_path, member, content)
    file = SourceFile("data.zip", "pl", "all", required=("Text",))
    with pytest.raises(RowError, match=match):
        list(s.zip_csv_reader("inner.csv", b"pw")(path, file))


@pytest.mark.datasets
def test_zip_reader_refuses_a_wrong_password(real_datasets: Path) -> None:
    file = SourceFile("BAN-PL_2.zip", "pl", "all")
    with pytest.raises(RowError, match=r"cannot read BAN-PL\.csv"):
        next(s.zip_csv_reader("BAN-PL.csv", b"wrong")(real_datasets / "ban_pl_polish" / file.name, file))


# --- HOMO-MEX -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "areas", "tier"), [
    ("P", (A.HATE_SPEECH,), T.MEDIUM), ("NP", (A.NONE,), T.LOW), ("NR", (A.NONE,), T.LOW),
])
def test_homo_mex(label: str, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_homo_mex(label), areas, tier)


def test_homo_mex_benign_mentions_say_nothing_about_harassment() -> None:
    # NP holds slurs used as banter between friends: only LGBT+phobia was annotated.
    assert A.HARASSMENT in s.map_homo_mex("NP").unknown_areas
    with pytest.raises(LabelError):
        s.map_homo_mex("N")


def _types(*on: str) -> dict[str, str]:
    return {name: "1" if name in on else "0" for name in ("L", "G", "B", "T", "O", "NR")}


@pytest.mark.parametrize("on", [("G",), ("L",), ("B",), ("T",), ("O",), ("G", "O"), ("L", "B", "T", "O")])
def test_homo_mex_phobia_types_are_phobic(on: tuple[str, ...]) -> None:
    check(s.map_homo_mex_types(_types(*on)), (A.HATE_SPEECH,), T.MEDIUM)


def test_homo_mex_phobia_types_refuse_empty_or_contradicting_rows() -> None:
    check(s.map_homo_mex_types(_types("NR")), (A.NONE,), T.LOW)
    for flags in (_types(), _types("G", "NR"), {**_types("G"), "T": "2"}):
        with pytest.raises(LabelError):
            s.map_homo_mex_types(flags)


# --- BLP-2023 violence inciting text ----------------------------------------------------------------------


@pytest.mark.parametrize(("label", "areas", "tier"), [
    ("2", (A.VIOLENCE_INCITEMENT,), T.HIGH), ("1", (), T.MEDIUM), ("0", (A.NONE,), T.LOW),
])
def test_blp_vitd(label: str, areas: tuple[A, ...], tier: T) -> None:
    check(s.map_blp_vitd(label), areas, tier)


def test_blp_vitd_scopes() -> None:
    # Passive violence joins derogation and justification of violence: the tier is known, no area is.
    assert set(s.map_blp_vitd("1").unknown_areas) == set(A)
    assert A.HATE_SPEECH in s.map_blp_vitd("2").unknown_areas
    # Non-violence covers discussion of violent events: a hard negative for violence, hate and harassment.
    assert not {A.VIOLENCE_INCITEMENT, A.HATE_SPEECH, A.HARASSMENT} & set(s.map_blp_vitd("0").unknown_areas)
    with pytest.raises(LabelError):
        s.map_blp_vitd("3")


# --- SOS-1K suicide risk --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "areas", "tier"),
    [(0, (A.NONE,), T.LOW)]
    + [(level, (A.SELF_HARM,), T.LOW) for level in (1, 2, 3)]
    + [(level, (A.SELF_HARM,), T.MEDIUM) for level in (4, 5)]
    + [(level, (A.SELF_HARM,), T.HIGH) for level in (6, 7, 8, 9, 10)],
)
def test_sos1k_levels_become_self_harm_tiers(level: int, areas: tuple[A, ...], tier: T) -> None:
    labels = s.map_sos1k(level)
    check(labels, areas, tier)
    assert A.HATE_SPEECH in labels.unknown_areas


@pytest.mark.parametrize("level", [-1, 11])
def test_sos1k_refuses_levels_off_the_scale(level: int) -> None:
    with pytest.raises(LabelError):
        s.map_sos1k(level)


# --- built from the real datasets folder -----------------------------------------------------------------

# rows read (SOURCE.md), languages, tiers, and the source splits that stay test.
_REAL: dict[str, tuple[int, set[str], set[str], set[str]]] = {
    "bengali_hate_speech_karim": (3_418 + 5_698, {"bn"}, {"medium"}, set()),
    "pejorativity_it": (1_200, {"it"}, {"low", "medium"}, set()),
    "ban_pl_polish": (24_000, {"pl"}, {"low", "medium"}, set()),
    "homo_mex_es": (8_800 + 1_071, {"es"}, {"low", "medium"}, set()),
    "blp_vitd_bn": (2_700 + 1_330 + 2_016, {"bn"}, {"low", "medium", "high"}, {"test"}),
    "sos1k_suicide_zh": (999 + 250, {"zh"}, {"low", "medium", "high"}, {"test"}),
}


@pytest.mark.datasets
@pytest.mark.parametrize("name", sorted(_REAL))
def test_source_builds_from_the_real_folder(name: str, real_datasets: Path, tmp_path: Path) -> None:
    rows_read, languages, tiers, test_splits = _REAL[name]
    # No source held out (build.OOD_SOURCES is the builder's policy): this checks the reading and mapping.
    result = build_corpus(BuildConfig(datasets_dir=real_datasets, out_dir=tmp_path, sources=(name,),
                                      ood_sources=()))
    info = result.manifest["sources"][name]
    assert info["rows_read"] == rows_read
    assert result.manifest["warnings"] == []
    assert set(info["skipped"]) <= {"text_too_long"}  # 4 BAN-PL posts over the schema's length
    table: list[dict[str, Any]] = pq.read_table(result.corpus_path).to_pylist()
    assert {row["language"] for row in table} == languages
    assert {row["risk_tier"] for row in table} == tiers
    # No parallel copies in these sources: no groups.
    assert all(row["group_id"] is None for row in table)
    official = Counter(row["split"] for row in table if row["source_split"] in test_splits)
    assert set(official) <= {"test"}
    assert (sum(official.values()) > 0) == bool(test_splits)
