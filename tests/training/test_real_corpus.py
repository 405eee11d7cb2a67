"""The corpus built from the real bundled datasets (about 25 s, built once per session)."""

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from model.text import dedup_key
from training.data.build import OOD_SOURCES, BuildConfig, BuildResult, build_corpus
from training.data.card import render_data_card
from training.data.sources import SOURCES

pytestmark = pytest.mark.datasets


@pytest.fixture(scope="module")
def corpus(real_corpus: BuildResult) -> BuildResult:
    return real_corpus


@pytest.fixture(scope="module")
def table(corpus: BuildResult) -> list[dict[str, Any]]:
    return pq.read_table(corpus.corpus_path).to_pylist()


#: Parts of rows a mapping leaves out on purpose (each named in its source's mapping text).
DELIBERATE_SKIPS = {
    "post_too_short", "posts_per_user_cap", "post_cut_at_cell_limit",  # Reddit C-SSRS
    "rewrite_unchanged", "no_clear_verdict", "rewritten_in_pairs",  # ParaDetox sets
    "labelled_in_task_2",  # RUHSOLD task 1 rows that task 2 labels in detail
    "non_commercial_treebank",  # the CC BY-NC-SA Universal Dependencies treebanks, read by ud_benign_sentences_nc
    "commercial_treebank",  # ... and the others, which ud_benign_sentences reads
    "labelled_with_first_file",  # GermEval 2025: a tweet in several label files is read once
    "uncertain_or_no_area",  # Russian sensitive topics: annotators split, or no area of ours
    "deleted_comment",  # OffensEval
}


def test_every_source_is_read_without_malformed_rows(corpus: BuildResult) -> None:
    sources = corpus.manifest["sources"]
    assert set(sources) == set(SOURCES)
    for name, info in sources.items():
        assert info["rows_kept"] > 0, name
        accidental = {k: v for k, v in info["skipped"].items() if k not in DELIBERATE_SKIPS}
        assert set(accidental) <= {"empty_text", "text_too_long"}, name
        assert sum(accidental.values()) <= max(5, info["rows_read"] // 1000), name
    assert corpus.manifest["warnings"] == []


def test_corpus_v2_covers_the_languages_and_areas(corpus: BuildResult, table: list[dict[str, Any]]) -> None:
    rows = Counter(row["language"] for row in table)
    violations = Counter(row["language"] for row in table if row["risk_tier"] != "low")
    assert sum(n >= 500 for n in rows.values()) >= 25
    assert sum(n >= 100 for n in violations.values()) >= 15
    positive = {area: info["positive"] for area, info in corpus.manifest["areas_in_train"].items()}
    for area in ("hate_speech", "harassment", "violence_incitement", "self_harm", "adult_sexual", "spam_fraud",
                 "misinformation", "privacy"):
        assert positive[area] >= 300, area


def test_held_out_sources_are_only_in_the_ood_split(table: list[dict[str, Any]]) -> None:
    held_out = set(OOD_SOURCES)
    assert {row["split"] for row in table if row["source"] in held_out} == {"ood"}
    assert {row["source"] for row in table if row["split"] == "ood"} == held_out


def test_no_group_is_in_two_splits(table: list[dict[str, Any]]) -> None:
    """Translations of one prompt, a toxic text and its rewrites, a user's posts: one split each."""
    splits: dict[str, set[str]] = defaultdict(set)
    for row in table:
        if row["group_id"] is not None:
            splits[row["group_id"]].add(row["split"])
    assert len(splits) > 10_000
    assert [g for g, s in splits.items() if len(s) > 1] == []


def test_row_counts_match_the_source_cards(corpus: BuildResult) -> None:
    read = {name: info["rows_read"] for name, info in corpus.manifest["sources"].items()}
    assert read["cold_zh"] == 25_726 + 6_431 + 5_323
    assert read["hasoc2019"] == 14_336 + 3_321
    assert read["constraint_hindi_hostility"] == 5_728 + 811 + 1_653
    assert read["davidson_hate_offensive"] == 24_783
    assert read["told_br"] == 21_000
    assert read["reddit_cssrs_suicide"] == 500


def test_every_required_language_is_in_every_split(corpus: BuildResult) -> None:
    languages = corpus.manifest["languages"]
    for language in ("en", "de", "hi", "ar", "fr", "ko", "zh", "pt", "id"):
        assert {"train", "validation", "calibration", "test"} <= set(languages[language]), language


def test_no_text_is_in_two_splits(table: list[dict[str, Any]]) -> None:
    keys = [dedup_key(row["text"]) or row["text"] for row in table]
    assert len(keys) == len(set(keys))


def test_official_test_splits_stay_test(table: list[dict[str, Any]]) -> None:
    official = {("cold_zh", "test"), ("germeval2018", "test"), ("hasoc2019", "test"), ("korean_hate_speech", "dev"),
                ("constraint_covid19_fakenews_en", "test"), ("constraint_hindi_hostility", "test")}
    for row in table:
        if (row["source"], row["source_split"]) in official:
            assert row["split"] == "test", row["row_id"]


def test_every_tier_and_the_main_areas_have_training_rows(corpus: BuildResult) -> None:
    assert all(counts.get("train", 0) > 1_000 for counts in corpus.manifest["tiers"].values())
    for area in ("hate_speech", "harassment", "self_harm", "misinformation", "spam_fraud", "none"):
        assert corpus.manifest["areas_in_train"][area]["positive"] > 300, area


def test_the_data_card_reports_thin_areas(corpus: BuildResult) -> None:
    card = render_data_card(corpus.manifest)
    thin = card.split("**Thin areas**")[1].splitlines()[0]
    for area in ("graphic_violence", "child_safety", "dangerous_orgs", "intellectual_property"):
        assert area in thin
    assert "adult_sexual" not in thin  # 733 positive training rows since corpus v3 (authored, ru, osact)


def test_excluding_non_commercial_and_unstated_licences(real_datasets: Path, tmp_path: Path) -> None:
    result = build_corpus(BuildConfig(datasets_dir=real_datasets, out_dir=tmp_path,
                                      sources=("id_multilabel_hate_abusive", "hasoc2019", "germeval2018"),
                                      exclude_licences=("non_commercial", "unstated")))
    assert set(result.manifest["sources"]) == {"germeval2018"}
    assert sorted(result.manifest["config"]["excluded_sources"]) == ["hasoc2019", "id_multilabel_hate_abusive"]
