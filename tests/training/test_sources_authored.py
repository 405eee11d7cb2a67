"""The team-authored contrast set (``training/data/authored``): its mapping, its size and shape as the model-quality
issue asks, its split by pair and held-out languages, and that it copies no evaluation row."""

import json
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from model.datafiles import LabelError, RowError
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from model.text import dedup_key, normalize_text
from training.data import sources_authored as s
from training.data.build import OOD_SOURCES, BuildConfig, build_corpus
from training.data.readers import Row
from training.data.sources import SOURCES, LicenceKind


def rows_of(path: Path) -> list[Row]:
    source = "authored_heldout" if path.stem in s.HELD_OUT_LANGUAGES else "authored"
    file = next(f for f in SOURCES[source].files if f.name == path.name)
    return list(s.jsonl_reader(path, file))


ALL = {path.stem: rows_of(path) for path in sorted(s.AUTHORED_DIR.glob("*.jsonl"))}


def test_labels_are_the_taxonomys_own_with_every_area_decided() -> None:
    threat = s.map_authored("high", ["violence_incitement"], "threat_direct")
    assert (threat.policy_areas, threat.tier, threat.unknown_areas) == ((A.VIOLENCE_INCITEMENT,), T.HIGH, ())
    contrast = s.map_authored("low", ["none"], "games_sports")
    assert (contrast.policy_areas, contrast.tier, contrast.unknown_areas) == ((A.NONE,), T.LOW, ())


@pytest.mark.parametrize(("tier", "areas", "behaviour"), [
    ("medium", ["violence_incitement"], "threat_direct"),  # the behaviour's tier is high
    ("low", ["hate_speech"], "counter_speech"),  # a contrast has no area
    ("high", ["none"], "grooming"),  # a harmful row names its areas
    ("high", ["violence"], "threat_direct"),  # no such area
    ("high", ["violence_incitement"], "threatening"),  # no such behaviour
])
def test_inconsistent_labels_are_refused(tier: str, areas: list[str], behaviour: str) -> None:
    with pytest.raises(LabelError):
        s.map_authored(tier, areas, behaviour)


def test_romanised_hindi_and_urdu_get_their_own_codes() -> None:
    assert (s.corpus_language("hi", "Latn"), s.corpus_language("hi", "Deva")) == ("hi-Latn", "hi")
    assert (s.corpus_language("ur", "Latn"), s.corpus_language("ur", "Arab")) == ("ur-Latn", "ur")
    assert s.corpus_language("id", "Latn") == "id"


def test_a_malformed_line_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "xx.jsonl"
    path.write_text('{"id": "xx-0001"}\n\n{not json\n', encoding="utf-8")
    file = SOURCES["authored"].files[0]
    with pytest.raises(RowError, match=r"missing key\(s\)") as missing:
        list(s.jsonl_reader(path, file))
    assert missing.value.line == 1
    path.write_text("\n" + json.dumps({k: "x" for k in s.REQUIRED}) + "\n[1]\n", encoding="utf-8")
    with pytest.raises(RowError, match="expected a JSON object") as not_object:
        list(s.jsonl_reader(path, file))
    assert not_object.value.line == 3


def test_the_set_is_registered_as_the_teams_own_with_four_languages_held_out() -> None:
    assert SOURCES["authored"].licence_kind is LicenceKind.INTERNAL
    assert {f.language for f in SOURCES["authored_heldout"].files} == set(s.HELD_OUT_LANGUAGES)
    assert {f.language for f in SOURCES["authored"].files} == set(s.LANGUAGES) - set(s.HELD_OUT_LANGUAGES)
    assert "authored_heldout" in OOD_SOURCES and "authored" not in OOD_SOURCES


def test_the_set_covers_every_market_language_with_enough_rows_of_each_kind() -> None:
    assert set(ALL) == set(s.LANGUAGES)
    assert sum(len(rows) for rows in ALL.values()) >= 10_000
    for language, rows in ALL.items():
        tiers = Counter(r["tier"] for r in rows)
        assert len(rows) >= 350, language
        assert tiers["high"] >= 100 and tiers["low"] >= 150, (language, tiers)
        assert {r["behaviour"] for r in rows} == set(s.BEHAVIOURS), language


def test_every_row_is_valid_and_every_pair_holds_a_harmful_row_and_its_contrast() -> None:
    for language, rows in ALL.items():
        source = "authored_heldout" if language in s.HELD_OUT_LANGUAGES else "authored"
        file = next(f for f in SOURCES[source].files if f.language == language)
        pairs: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            s.authored_row(row, file)  # raises on any bad label, register, language or source
            assert row["pair_id"].startswith(f"{language}-p"), (language, row.line)
            pairs[row["pair_id"]].add(row["tier"])
        assert len({r["id"] for r in rows}) == len(rows), language
        assert all("low" in tiers and tiers != {"low"} for tiers in pairs.values()), language


def test_a_build_keeps_each_pair_in_one_split_and_the_held_out_languages_out_of_training(tmp_path: Path) -> None:
    result = build_corpus(BuildConfig(datasets_dir=tmp_path, out_dir=tmp_path / "corpus",
                                      sources=("authored", "authored_heldout")))
    table = pq.read_table(result.corpus_path).to_pylist()
    splits: dict[str, set[str]] = defaultdict(set)
    for row in table:
        splits[row["group_id"]].add(row["split"])
        if row["source"] == "authored_heldout":
            assert row["split"] == "ood" and row["language"] in s.HELD_OUT_LANGUAGES
    assert all(len(found) == 1 for found in splits.values())
    assert {r["language"] for r in table if r["split"] == "train"} >= {"hi-Latn", "ur-Latn", "ja", "ar"}


@pytest.mark.datasets
def test_no_authored_text_is_a_row_of_an_evaluation_set(real_datasets: Path, tmp_path: Path) -> None:
    held_out = tuple(name for name in OOD_SOURCES if not name.startswith("authored"))
    result = build_corpus(BuildConfig(datasets_dir=real_datasets, out_dir=tmp_path, sources=held_out))
    evaluation = {dedup_key(row["text"]) for row in pq.read_table(result.corpus_path, columns=["text"]).to_pylist()}
    authored = {dedup_key(normalize_text(r["text"])): (lang, r.line) for lang, rows in ALL.items() for r in rows}
    assert [where for key, where in authored.items() if key in evaluation] == []
