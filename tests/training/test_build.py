"""The corpus builder on mini copies of four sources (tests/factories.py) and generic-format files."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from model.datafiles import CorpusError, MissingSourceError, RowError
from model.text import dedup_key
from tests.factories import MINI_SOURCES, generic_record, write_jsonl
from training.data.build import BuildConfig, BuildResult, ExtraFile, build_corpus


def build(datasets: Path, out: Path, **options: object) -> BuildResult:
    return build_corpus(BuildConfig(datasets_dir=datasets, out_dir=out, sources=MINI_SOURCES, **options))  # type: ignore[arg-type]


def rows(result: BuildResult) -> list[dict[str, object]]:
    return pq.read_table(result.corpus_path).to_pylist()


def test_builds_parquet_and_manifest_with_counts(mini_datasets: Path, tmp_path: Path) -> None:
    result = build(mini_datasets, tmp_path / "out")
    table = rows(result)
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest == result.manifest
    assert manifest["rows"] == len(table) > 0
    assert sum(manifest["splits"].values()) == len(table)
    assert set(manifest["languages"]) == {"de", "en", "pt"}
    assert manifest["fingerprint"].startswith("sha256:")
    assert manifest["sources"]["germeval2018"]["licence"] == "CC-BY-4.0"
    assert set(manifest["sources"]["germeval2018"]["files_sha256"]) == {
        "germeval2018.training.txt", "germeval2018.test.txt"}
    by_id = {r["row_id"]: r for r in table}
    insult = by_id["germeval2018:germeval2018.training.txt:3"]
    assert (insult["policy_areas"], insult["risk_tier"], insult["text"]) == (
        ["harassment"], "medium", "@user Was ist das denn für ne dumme Kuh?")
    assert "spam_fraud" in insult["unknown_areas"]


def test_no_text_is_in_two_splits_and_test_rows_win(mini_datasets: Path, tmp_path: Path) -> None:
    table = rows(build(mini_datasets, tmp_path / "out"))
    keys = [dedup_key(str(r["text"])) for r in table]
    assert len(keys) == len(set(keys))
    sunny = [r for r in table if "Sonne über Berlin" in str(r["text"])]
    assert [(r["split"], r["source_split"]) for r in sunny] == [("test", "test")]


def test_duplicates_are_counted_per_source(mini_datasets: Path, tmp_path: Path) -> None:
    manifest = build(mini_datasets, tmp_path / "out").manifest
    assert manifest["sources"]["sms_spam_collection"]["duplicates_dropped"] == 1
    assert manifest["sources"]["germeval2018"]["duplicates_dropped"] == 1
    assert manifest["duplicates_dropped"] == 2


def test_the_sources_own_test_split_stays_test(mini_datasets: Path, tmp_path: Path) -> None:
    table = rows(build(mini_datasets, tmp_path / "out"))
    for row in table:
        if row["source"] == "germeval2018":
            assert (row["split"] == "test") == (row["source_split"] == "test")


def test_a_users_posts_stay_in_one_split_and_skips_are_counted(mini_datasets: Path, tmp_path: Path) -> None:
    result = build(mini_datasets, tmp_path / "out")
    posts = [r for r in rows(result) if r["source"] == "reddit_cssrs_suicide"]
    splits_by_user: dict[object, set[object]] = {}
    for post in posts:
        splits_by_user.setdefault(post["group_id"], set()).add(post["split"])
    assert len(posts) == 3
    assert all(len(splits) == 1 for splits in splits_by_user.values())
    assert result.manifest["sources"]["reddit_cssrs_suicide"]["skipped"] == {"post_too_short": 1}


def test_same_inputs_and_seed_give_the_same_fingerprint_and_bytes(mini_datasets: Path, tmp_path: Path) -> None:
    first = build(mini_datasets, tmp_path / "a")
    second = build(mini_datasets, tmp_path / "b")
    assert first.manifest["fingerprint"] == second.manifest["fingerprint"]
    assert rows(first) == rows(second)
    other_seed = build(mini_datasets, tmp_path / "c", seed=14)
    assert {r["row_id"] for r in rows(other_seed)} == {r["row_id"] for r in rows(first)}


def test_changing_one_label_changes_the_fingerprint(mini_datasets: Path, tmp_path: Path) -> None:
    before = build(mini_datasets, tmp_path / "a").manifest["fingerprint"]
    path = mini_datasets / "sms_spam_collection" / "SMSSpamCollection"
    path.write_text(path.read_text().replace("ham\tSee you", "spam\tSee you"))
    assert build(mini_datasets, tmp_path / "b").manifest["fingerprint"] != before


def test_over_represented_classes_are_capped(mini_datasets: Path, tmp_path: Path) -> None:
    result = build(mini_datasets, tmp_path / "out", cap_per_class=1)
    assert result.manifest["capped"] > 0
    pooled = [r for r in rows(result) if r["split"] != "test"]
    classes = [(r["source"], r["language"], r["risk_tier"], tuple(r["policy_areas"])) for r in pooled]  # type: ignore[arg-type]
    assert len(classes) == len(set(classes))


def test_sources_can_be_excluded_by_licence_kind(mini_datasets: Path, tmp_path: Path) -> None:
    result = build(mini_datasets, tmp_path / "out", exclude_licences=("share-alike",))
    assert result.manifest["config"]["excluded_sources"] == ["told_br"]
    assert "told_br" not in {r["source"] for r in rows(result)}


def test_an_unknown_licence_or_source_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown licence"):
        BuildConfig(datasets_dir=tmp_path, out_dir=tmp_path, exclude_licences=("proprietary-ish",))
    with pytest.raises(ValueError, match="unknown source"):
        BuildConfig(datasets_dir=tmp_path, out_dir=tmp_path, sources=("twitter",))


def test_a_missing_source_file_is_an_error_naming_it(mini_datasets: Path, tmp_path: Path) -> None:
    (mini_datasets / "germeval2018" / "germeval2018.test.txt").unlink()
    with pytest.raises(MissingSourceError, match=r"germeval2018\.test\.txt: file not found"):
        build(mini_datasets, tmp_path / "out")


def test_allow_missing_warns_and_builds_the_rest(mini_datasets: Path, tmp_path: Path) -> None:
    (mini_datasets / "germeval2018" / "germeval2018.test.txt").unlink()
    result = build(mini_datasets, tmp_path / "out", allow_missing=True)
    assert result.manifest["sources"]["germeval2018"]["skipped"] == {"missing_file": 1}
    assert any("germeval2018.test.txt" in w for w in result.manifest["warnings"])
    assert "germeval2018" not in {r["source"] for r in rows(result)}


def test_a_malformed_row_is_an_error_naming_file_and_line(mini_datasets: Path, tmp_path: Path) -> None:
    path = mini_datasets / "sms_spam_collection" / "SMSSpamCollection"
    path.write_text(path.read_text() + "maybe\tis this spam?\n")
    with pytest.raises(RowError, match=r"SMSSpamCollection:7: unknown label 'maybe'"):
        build(mini_datasets, tmp_path / "out")


def test_allow_missing_skips_malformed_rows_and_counts_them(mini_datasets: Path, tmp_path: Path) -> None:
    path = mini_datasets / "sms_spam_collection" / "SMSSpamCollection"
    path.write_text(path.read_text() + "maybe\tis this spam?\nno-tab-here\n")
    result = build(mini_datasets, tmp_path / "out", allow_missing=True)
    assert result.manifest["sources"]["sms_spam_collection"]["skipped"] == {"malformed_row": 2}
    assert result.manifest["skipped"]["total"] == 3  # and the short Reddit post
    assert len(result.manifest["warnings"]) == 2


def test_a_wrong_encoding_is_an_error_naming_file_and_line(mini_datasets: Path, tmp_path: Path) -> None:
    path = mini_datasets / "told_br" / "ToLD-BR.csv"
    path.write_bytes(path.read_bytes() + b"\"ol\xe1 mundo\",0,0,0,0,0,0\n")
    with pytest.raises(RowError, match=r"ToLD-BR\.csv:6: not valid utf-8"):
        build(mini_datasets, tmp_path / "out")


def test_generic_files_are_one_more_source(mini_datasets: Path, tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "decisions.jsonl", [
        generic_record(reviewer="r-17", model_version="3"),
        generic_record("ein ganz normaler Satz über das Wetter", language="de", policy_areas=["none"],
                       risk_tier="low", split="test"),
    ])
    csv_path = tmp_path / "team.csv"
    csv_path.write_text("text,language,policy_areas,risk_tier,unknown_areas\n"
                        "buy followers cheap at my site,en,spam_fraud,low,hate_speech|harassment\n")
    result = build(mini_datasets, tmp_path / "out", extra=(ExtraFile(jsonl), ExtraFile(csv_path, "CC0-1.0")))
    table = {r["row_id"]: r for r in rows(result)}
    threat = table["custom:decisions:decisions.jsonl:1"]
    assert threat["policy_areas"] == ["violence_incitement"] and threat["unknown_areas"] == []
    assert json.loads(str(threat["metadata"])) == {"model_version": "3", "reviewer": "r-17"}
    assert table["custom:decisions:decisions.jsonl:2"]["split"] == "test"
    spam = table["custom:team:team.csv:2"]
    assert (spam["licence"], spam["unknown_areas"]) == ("CC0-1.0", ["hate_speech", "harassment"])
    assert result.manifest["sources"]["custom:team"]["licence"] == "CC0-1.0"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"text": "x", "language": "en", "risk_tier": "low"},
         "decisions.jsonl:2: missing required field.*policy_areas"),
        (generic_record(risk_tier="urgent"), "decisions.jsonl:2: risk_tier"),
        (generic_record(policy_areas=["violence"]), "decisions.jsonl:2: policy_areas"),
        (generic_record(language="English"), "decisions.jsonl:2: language"),
        (generic_record(label_confidence="sure"), "decisions.jsonl:2: label_confidence"),
        (generic_record(text="\u200b "), "decisions.jsonl:2: text"),
    ],
)
def test_a_bad_generic_row_names_file_line_and_field(tmp_path: Path, mini_datasets: Path,
                                                      record: dict[str, object], message: str) -> None:
    path = write_jsonl(tmp_path / "decisions.jsonl", [generic_record(), record])
    with pytest.raises(CorpusError, match=message):
        build(mini_datasets, tmp_path / "out", extra=(ExtraFile(path),))


def test_a_held_out_source_goes_whole_to_the_ood_split(mini_datasets: Path, tmp_path: Path) -> None:
    result = build(mini_datasets, tmp_path / "out", ood_sources=("told_br",))
    table = rows(result)
    told = [r for r in table if r["source"] == "told_br"]
    assert told and {r["split"] for r in told} == {"ood"}
    assert {r["split"] for r in table if r["source"] != "told_br"} <= {"train", "validation", "calibration", "test"}
    assert result.manifest["config"]["ood_sources"] == ["told_br"]
    assert result.manifest["splits"]["ood"] == len(told)


def test_no_source_is_held_out_when_asked(mini_datasets: Path, tmp_path: Path) -> None:
    assert "ood" not in {r["split"] for r in rows(build(mini_datasets, tmp_path / "out", ood_sources=()))}


def test_an_unknown_held_out_source_is_refused(mini_datasets: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown source"):
        build(mini_datasets, tmp_path / "out", ood_sources=("no_such_source",))
