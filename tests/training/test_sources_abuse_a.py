"""The abuse_a sources' mappings, in each source's own label values (see each SOURCE.md)."""

from collections import Counter
from pathlib import Path

import pytest

from model.datafiles import LabelError, RowError
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from tests.factories import build_real_source
from training.data import sources_abuse_a as s
from training.data.labels import Labels
from training.data.readers import Row
from training.data.sources import SOURCES, LicenceKind, Mapped, SourceFile


def check(labels: Labels, areas: tuple[A, ...], tier: T, confidence: float = 1.0) -> None:
    assert (labels.policy_areas, labels.tier) == (areas, tier)
    assert labels.confidence == pytest.approx(confidence)


def test_every_source_of_the_group_is_registered() -> None:
    found = {name: (SOURCES[name].licence_kind, SOURCES[name].languages) for name in REAL}
    assert found == {
        "japanese_toxic_inspection_ai": (LicenceKind.PERMISSIVE, ("ja",)),
        "l_hsab_levantine_ar": (LicenceKind.UNSTATED, ("ar",)),
        "t_hsab_tunisian_ar": (LicenceKind.UNSTATED, ("ar",)),
        # The Danish part is CC BY 4.0, the rest unstated: one folder is one source, so the strictest kind.
        "offenseval2020_ar_da_el_tr": (LicenceKind.UNSTATED, ("ar", "da", "el", "tr")),
        "roman_urdu_ruhsold": (LicenceKind.PERMISSIVE, ("ur-Latn",)),
        "vihsd_vi": (LicenceKind.UNSTATED, ("vi",)),
    }
    assert "CC-BY-4.0" in SOURCES["offenseval2020_ar_da_el_tr"].licence


# --- Japanese toxicity subset ------------------------------------------------------------------------------


def _ja(levels: tuple[int, int, int, int], categories: dict[str, int] | None = None) -> Labels:
    """Level votes in JA_LEVELS order; category votes by the category's name without its column prefix."""
    votes = categories or {}
    return s.map_japanese(dict(zip(s.JA_LEVELS, levels, strict=True)),
                          {name: votes.get(name.removeprefix("category_"), 0) for name in s.JA_CATEGORIES})


@pytest.mark.parametrize(
    ("levels", "categories", "areas", "tier", "confidence"),
    [
        ((5, 0, 0, 0), {}, (A.NONE,), T.LOW, 1.0),
        ((1, 1, 0, 0), {"迷惑行為": 1}, (A.NONE,), T.LOW, 0.5),  # a tie goes to the less toxic level
        ((1, 3, 0, 0), {"差別": 3}, (), T.LOW, 0.75),  # Hard to Say: no area asserted
        ((0, 0, 2, 0), {"迷惑行為": 4}, (A.HARASSMENT,), T.LOW, 1.0),  # "お前も荒らしみたいなもんだよ。"
        ((0, 0, 2, 0), {"差別": 2, "迷惑行為": 2}, (A.HATE_SPEECH, A.HARASSMENT), T.LOW, 1.0),
        ((0, 0, 1, 1), {"卑語": 2, "猥褻": 2}, (A.ADULT_SEXUAL,), T.LOW, 0.5),
        ((0, 0, 0, 2), {"差別": 2, "迷惑行為": 1, "出会い・プライバシー侵害": 1},
         (A.HATE_SPEECH, A.HARASSMENT, A.PRIVACY), T.MEDIUM, 1.0),
        ((1, 0, 1, 2), {"卑語": 3, "差別": 4, "迷惑行為": 4, "猥褻": 4},
         (A.HATE_SPEECH, A.HARASSMENT, A.ADULT_SEXUAL), T.MEDIUM, 0.5),
        ((0, 0, 2, 0), {"偏向表現": 2, "違法行為": 1}, (), T.LOW, 1.0),  # toxic, but no area named
    ],
)
def test_japanese(levels: tuple[int, int, int, int], categories: dict[str, int], areas: tuple[A, ...], tier: T,
                  confidence: float) -> None:
    check(_ja(levels, categories), areas, tier, confidence)


def test_japanese_scope_covers_the_schemas_areas() -> None:
    benign = _ja((2, 0, 0, 0))
    assert {A.HATE_SPEECH, A.HARASSMENT, A.ADULT_SEXUAL, A.PRIVACY, A.NONE}.isdisjoint(benign.unknown_areas)
    assert A.SPAM_FRAUD in benign.unknown_areas and A.VIOLENCE_INCITEMENT in benign.unknown_areas
    vulgar_only = _ja((0, 0, 2, 0), {"卑語": 2})
    assert A.HARASSMENT not in vulgar_only.unknown_areas and A.NONE in vulgar_only.unknown_areas
    assert set(_ja((0, 2, 0, 0)).unknown_areas) == set(A)


def test_japanese_refuses_bad_votes() -> None:
    with pytest.raises(LabelError, match="counts"):
        _ja((0, 0, 0, 0))
    with pytest.raises(LabelError, match="counts"):
        _ja((2, -1, 0, 0))
    with pytest.raises(LabelError, match="unknown category"):
        s.map_japanese(dict(zip(s.JA_LEVELS, (2, 0, 0, 0), strict=True)), {"category_暴力": 1})


# --- L-HSAB and T-HSAB -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "areas", "tier", "confidence"),
    [
        ("hate", (A.HATE_SPEECH,), T.MEDIUM, 1.0),
        ("abusive", (A.HARASSMENT,), T.MEDIUM, s.INSULT_OR_SWEARING_CONFIDENCE),
        ("normal", (A.NONE,), T.LOW, 1.0),
    ],
)
def test_hsab(label: str, areas: tuple[A, ...], tier: T, confidence: float) -> None:
    check(s.map_hsab(label), areas, tier, confidence)


def test_hsab_abusive_is_not_hate_and_unknown_labels_are_refused() -> None:
    assert A.HATE_SPEECH not in s.map_hsab("abusive").unknown_areas
    with pytest.raises(LabelError, match="unknown class"):
        s.map_hsab("Hate")


# --- OffensEval 2020 ---------------------------------------------------------------------------------------


def test_offenseval() -> None:
    offensive = s.map_offenseval("OFF")
    check(offensive, (A.HARASSMENT,), T.MEDIUM, s.INSULT_OR_SWEARING_CONFIDENCE)
    # OFF holds group attacks too, and no sub-label tells them apart: hate stays unknown.
    assert A.HATE_SPEECH in offensive.unknown_areas and A.NONE not in offensive.unknown_areas
    check(s.map_offenseval("NOT"), (A.NONE,), T.LOW)
    with pytest.raises(LabelError, match="unknown subtask_a"):
        s.map_offenseval("TIN")


def test_offenseval_text_undoes_the_release_encoding() -> None:
    assert s.clean_offenseval_text("@USER شكرا<LF>#وسم<LF>URL") == "@USER شكرا\n#وسم\n[url]"
    assert s.clean_offenseval_text("se [her](URL#History) URLs") == "se [her]([url]#History) URLs"


def _read(path: Path, gold: str | None = None) -> list[Row]:
    reader = s.offenseval_reader(gold)
    return list(reader(path, SourceFile(path.name, "da", "test" if gold else "train", reader=reader)))


def test_offenseval_reader_repairs_a_space_separated_record(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("id\ttweet\tsubtask_a\n1\tHej med dig\tNOT\n4000    [deleted]   NOT\n", encoding="utf-8")
    rows = _read(path)
    assert [(r.line, r.values) for r in rows] == [
        (2, {"id": "1", "tweet": "Hej med dig", "subtask_a": "NOT"}),
        (3, {"id": "4000", "tweet": "[deleted]", "subtask_a": "NOT"}),
    ]
    file = SourceFile("train.tsv", "da", "train")
    assert s._offenseval_rows(rows[1], file) == [Mapped("[deleted]", s.map_offenseval("NOT"),
                                                        skip_reason="deleted_comment")]
    path.write_text("id\ttweet\tsubtask_a\n1\tHej\n", encoding="utf-8")
    with pytest.raises(RowError, match="expected 3 tab-separated fields"):
        _read(path)


def test_offenseval_reader_joins_test_tweets_to_gold_labels(tmp_path: Path) -> None:
    test = tmp_path / "test.tsv"
    # The Danish header names a stray third column; the Turkish gold file has CRLF line ends.
    test.write_text('id\ttweet   subtask_a\n7\tDet er "fint"\n9\tLol\n', encoding="utf-8")
    (tmp_path / "gold.csv").write_bytes(b"9,OFF\r\n7,NOT\r\n")
    rows = _read(test, "gold.csv")
    assert [(r.line, r.values) for r in rows] == [
        (2, {"id": "7", "tweet": 'Det er "fint"', "subtask_a": "NOT"}),
        (3, {"id": "9", "tweet": "Lol", "subtask_a": "OFF"}),
    ]
    (tmp_path / "gold.csv").write_text("9,OFF\n", encoding="utf-8")
    with pytest.raises(RowError, match="tweet 7 has no label in gold"):
        _read(test, "gold.csv")
    (tmp_path / "gold.csv").write_text("9,OFF\n7,NOT\n8,NOT\n", encoding="utf-8")
    with pytest.raises(RowError, match=r"1 gold label\(s\) have no tweet"):
        _read(test, "gold.csv")
    with pytest.raises(RowError, match="gold labels: file not found"):
        _read(test, "missing.csv")


# --- RUHSOLD -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "areas", "tier", "confidence"),
    [
        ("2", (A.HATE_SPEECH,), T.MEDIUM, 1.0),  # religious hate
        ("3", (A.HATE_SPEECH,), T.MEDIUM, 1.0),  # sexism
        ("0", (A.HARASSMENT,), T.MEDIUM, 0.8),  # abusive/offensive, targeted
        ("4", (A.NONE,), T.LOW, 1.0),  # profane, untargeted
        ("1", (A.NONE,), T.LOW, 1.0),  # normal
    ],
)
def test_ruhsold(label: str, areas: tuple[A, ...], tier: T, confidence: float) -> None:
    check(s.map_ruhsold(label), areas, tier, confidence)


def test_ruhsold_coarse_labels_and_unknown_values() -> None:
    check(s.map_ruhsold_coarse("0"), (), T.MEDIUM, 0.85)  # any of task 2's 0, 2, 3, 4: no area known
    assert set(s.map_ruhsold_coarse("0").unknown_areas) == set(A)
    check(s.map_ruhsold_coarse("1"), (A.NONE,), T.LOW)
    assert A.HATE_SPEECH in s.map_ruhsold("0").unknown_areas
    with pytest.raises(LabelError, match="unknown task 2 label"):
        s.map_ruhsold("5")
    with pytest.raises(LabelError, match="unknown task 1 label"):
        s.map_ruhsold_coarse("2")


def test_ruhsold_uses_task_1_only_for_texts_task_2_lacks(tmp_path: Path) -> None:
    (tmp_path / "task_2_train.tsv").write_text(" tw kaafir\t2\nitni syani kb sy ho gai tum\t1\n", encoding="utf-8")
    (tmp_path / "task_2_test.tsv").write_text("bhenchod itna mushkil\t4\n", encoding="utf-8")
    rows = SOURCES["roman_urdu_ruhsold"].make_mapper(tmp_path)
    task_1 = next(f for f in SOURCES["roman_urdu_ruhsold"].files if f.name == "task_1_train.tsv")
    task_2 = next(f for f in SOURCES["roman_urdu_ruhsold"].files if f.name == "task_2_test.tsv")
    assert task_2.is_test and not task_1.is_test

    def one(text: str, label: str, file: SourceFile) -> Mapped:
        [mapped] = rows(Row(tmp_path / file.name, 1, {"text": text, "label": label}), file)
        return mapped

    assert one("bhenchod itna mushkil", "4", task_2).labels == s.map_ruhsold("4")
    assert one("tw kaafir", "0", task_1).skip_reason == "labelled_in_task_2"  # same text, outer space aside
    assert one("bhenchod itna mushkil", "0", task_1).skip_reason == "labelled_in_task_2"
    only_in_task_1 = one("fasla rakhein", "0", task_1)
    assert only_in_task_1.skip_reason is None and only_in_task_1.labels == s.map_ruhsold_coarse("0")
    with pytest.raises(LabelError, match="contradicts"):
        one("itni syani kb sy ho gai tum", "0", task_1)


# --- ViHSD -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label_id", "areas", "tier", "confidence"),
    [
        ("0", (A.NONE,), T.LOW, 1.0),  # CLEAN
        ("1", (), T.LOW, 1.0),  # OFFENSIVE: untargeted profanity
        ("2", (A.HARASSMENT,), T.MEDIUM, 0.7),  # HATE: mostly insults at a person
    ],
)
def test_vihsd(label_id: str, areas: tuple[A, ...], tier: T, confidence: float) -> None:
    check(s.map_vihsd(label_id), areas, tier, confidence)


def test_vihsd_leaves_the_target_unknown_where_the_class_does_not_tell() -> None:
    offensive, hate = s.map_vihsd("1"), s.map_vihsd("2")
    assert A.HARASSMENT in offensive.unknown_areas and A.HATE_SPEECH not in offensive.unknown_areas
    assert A.HATE_SPEECH in hate.unknown_areas
    with pytest.raises(LabelError, match="unknown label_id"):
        s.map_vihsd("HATE")


# --- The real files ----------------------------------------------------------------------------------------

#: Rows read (SOURCE.md), the skips expected, and the tiers expected among the rows kept.
REAL: dict[str, tuple[int, dict[str, int], set[str]]] = {
    "japanese_toxic_inspection_ai": (437, {}, {"low", "medium"}),
    "l_hsab_levantine_ar": (5_846, {}, {"low", "medium"}),
    "t_hsab_tunisian_ar": (6_024, {}, {"low", "medium"}),
    # The Danish training file's last row is a deleted comment.
    "offenseval2020_ar_da_el_tr": (57_317, {"deleted_comment": 1}, {"low", "medium"}),
    # Task 1 (10,013) and task 2 (9,212) rows; task 1 adds only the 796 texts task 2 lacks.
    "roman_urdu_ruhsold": (19_225, {"labelled_in_task_2": 10_013 - 796}, {"low", "medium"}),
    "vihsd_vi": (33_400, {"empty_text": 2}, {"low", "medium"}),
}


@pytest.mark.datasets
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files(name: str, real_datasets: Path, tmp_path: Path) -> None:
    _, table = build_real_source(real_datasets, tmp_path, name, *REAL[name])
    assert all(row["group_id"] is None for row in table)  # no parallel copies in these sources
    if name == "offenseval2020_ar_da_el_tr":
        test_rows = Counter(row["language"] for row in table if row["source_split"] == "test")
        assert set(test_rows) == {"ar", "da", "tr"}  # Greek has no trusted test labels
        assert all(row["split"] == "test" for row in table if row["source_split"] == "test")
        assert not any("<LF>" in row["text"] for row in table)
    if name == "roman_urdu_ruhsold":
        coarse = [row for row in table if row["source_split"].startswith("task_1")]
        assert 0 < len(coarse) <= 796 and all(row["split"] != "test" for row in coarse)
