"""The negatives sources' mappings, in each source's own label values (see each SOURCE.md)."""

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from model.datafiles import LabelError, RowError
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from model.text import dedup_key, normalize_text
from tests.factories import build_real_source
from training.data import sources_negatives as s
from training.data.build import BuildConfig, build_corpus
from training.data.labels import TOXICITY_SCOPE, Labels
from training.data.readers import Row, iter_rows
from training.data.sources import SOURCES, LicenceKind, SourceFile


def check(labels: Labels, areas: tuple[A, ...], tier: T, confidence: float = 1.0) -> None:
    assert (labels.policy_areas, labels.tier) == (areas, tier)
    assert labels.confidence == pytest.approx(confidence)


def row(values: dict[str, str], line: int = 2) -> Row:
    return Row(Path("file"), line, values)


def test_every_source_of_the_group_is_registered() -> None:
    found = {name: (SOURCES[name].licence_kind, SOURCES[name].languages) for name in REAL}
    assert found == {
        "conan_counter_narratives": (LicenceKind.NON_COMMERCIAL, ("en", "fr", "it")),
        "kosbi_ko": (LicenceKind.PERMISSIVE, ("ko",)),
        "multilingual_paradetox": (LicenceKind.SHARE_ALIKE, ("am", "ar", "de", "en", "es", "hi", "ru", "uk", "zh")),
        "paradetox_en": (LicenceKind.PERMISSIVE, ("en",)),
        "russe_detox_2022_ru": (LicenceKind.UNSTATED, ("ru",)),
        "square_ko": (LicenceKind.PERMISSIVE, ("ko",)),
        "toxigen_seed_sentences": (LicenceKind.PERMISSIVE, ("en",)),
        "ud_benign_sentences": (LicenceKind.SHARE_ALIKE,
                                tuple(lang for lang in s.UD_LANGUAGES if lang not in {"bg", "et", "eu", "hu", "ur"})),
        "ud_benign_sentences_nc": (LicenceKind.NON_COMMERCIAL, ("bg", "et", "eu", "hu", "ta", "ur")),
    }
    assert len(s.UD_LANGUAGES) == 57 and {"ur", "hu", "fi", "cs", "sr", "tl"} <= set(s.UD_LANGUAGES)
    assert SOURCES["ud_benign_sentences_nc"].folder == "ud_benign_sentences"  # one file, two licences


# --- JSON arrays -----------------------------------------------------------------------------------------


def _json_file(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "items.json"
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return path


def test_json_array_reader_gives_each_object_its_index_as_line(tmp_path: Path) -> None:
    path = _json_file(tmp_path, [{"q": "가", "n": 1, "tags": ["a", "b"], "none": None}, {"q": "나", "n": 0}])
    rows = list(s.json_array_reader(path, SourceFile("items.json", "ko", "all", required=("q", "n"))))
    assert [(r.line, r.values) for r in rows] == [
        (1, {"q": "가", "n": "1", "tags": '["a", "b"]', "none": ""}),
        (2, {"q": "나", "n": "0"}),
    ]


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        ({"q": "x"}, "expected a JSON array", 1),
        ([{"q": "x"}, "text"], "item 2: expected a JSON object", 2),
        ([{"q": "x"}, {"n": 1}], "item 2 lacks key", 2),
    ],
)
def test_json_array_reader_names_file_and_item(tmp_path: Path, content: Any, message: str, line: int) -> None:
    with pytest.raises(RowError, match=message) as error:
        list(s.json_array_reader(_json_file(tmp_path, content), SourceFile("items.json", "ko", "all", required=("q",))))
    assert error.value.line == line and error.value.path.name == "items.json"


def test_json_array_reader_reports_invalid_json_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n{"q": "x"},\n{"q": }\n]', encoding="utf-8")
    with pytest.raises(RowError, match="invalid JSON") as error:
        list(s.json_array_reader(path, SourceFile("bad.json", "ko", "all")))
    assert error.value.line == 3


# --- Detox pairs ------------------------------------------------------------------------------------------


def test_detox_toxic_is_low_with_no_area_known_and_a_rewrite_is_benign() -> None:
    toxic = s.map_detox("toxic")
    check(toxic, (), T.LOW, 0.6)
    assert A.HATE_SPEECH in toxic.unknown_areas and A.HARASSMENT in toxic.unknown_areas
    check(s.map_detox("neutral"), (A.NONE,), T.LOW)
    assert s.map_detox("neutral").scope == TOXICITY_SCOPE
    with pytest.raises(LabelError):
        s.map_detox("rewrite")


def test_detox_rows_share_a_group_and_skip_an_unchanged_rewrite() -> None:
    rows = s.detox_rows("you are a f*cking idiot", ["You are mistaken.", "", "You are a f*cking idiot!"])
    assert [(m.suffix, m.skip_reason) for m in rows] == [
        (":toxic", None), (":neutral1", None), (":neutral3", "rewrite_unchanged")]
    check(rows[0].labels, (), T.LOW, 0.6)
    check(rows[1].labels, (A.NONE,), T.LOW)
    group, = {m.group_id for m in rows}
    assert group is not None and group.startswith("detox:")
    # Named after the toxic text: another source's rewrite of it joins the group, another text does not.
    assert s.detox_rows("You are a f*cking IDIOT.", ["You are wrong."])[1].group_id == group
    assert s.detox_rows("you are a f*cking moron", ["You are wrong."])[0].group_id != group


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("the garbage created by cnn is outrageous .", "the garbage created by cnn is outrageous."),
        ("jesus fucking christ it isn 't treason !", "jesus fucking christ it isn't treason!"),
        ("you 're so fuckin desperate ! ! ! edl", "you're so fuckin desperate!!! edl"),
        ("take illegals ( mexicans and others ) , i 'd say", "take illegals (mexicans and others), i'd say"),
        ("It's fine, I'm not tokenised.", "It's fine, I'm not tokenised."),
    ],
)
def test_detokenize_english(raw: str, clean: str) -> None:
    assert s.detokenize_english(raw) == clean


# --- CONAN ------------------------------------------------------------------------------------------------


def test_conan_hate_speech_is_hate_and_counter_speech_benign() -> None:
    check(s.map_conan("HS"), (A.HATE_SPEECH,), T.MEDIUM)
    check(s.map_conan("HS", turn=4), (A.HATE_SPEECH,), T.MEDIUM, s.CONAN_LATER_TURN_CONFIDENCE)
    counter = s.map_conan("CN", turn=3)
    check(counter, (A.NONE,), T.LOW)  # counter-speech: a hard negative
    assert A.VIOLENCE_INCITEMENT in s.map_conan("HS").unknown_areas
    with pytest.raises(LabelError):
        s.map_conan("KN")


@pytest.mark.parametrize(
    ("cn_id", "item", "language"),
    [
        ("ENT1ST0001HS0033CN000021", "CONAN:ENHS0033", "en"),
        ("ENT1ST0001HS0033CN000021P2", "CONAN:ENHS0033", "en"),  # a paraphrase of the hate speech
        ("FRT1ST0001HS0017CN000002", "CONAN:FRHS0017", "fr"),
        ("FRT1ST0001HS0017CN000002T1", "CONAN:FRHS0017", "en"),  # its English translation: the same item
        ("ITT1ST0003HS0101CN000450P1", "CONAN:ITHS0101", "it"),
    ],
)
def test_conan_ids_put_paraphrases_and_translations_in_the_hate_speechs_item(cn_id: str, item: str,
                                                                          language: str) -> None:
    found = s.conan_item("CONAN.csv", row({"cn_id": cn_id, "hateSpeech": "hs", "counterSpeech": "cn"}))
    assert (found.item, found.language) == (item, language)
    assert [(t.text, t.kind) for t in found.texts] == [("hs", "HS"), ("cn", "CN")]


def test_conan_refuses_an_unknown_id() -> None:
    with pytest.raises(LabelError, match="cn_id"):
        s.conan_item("CONAN.csv", row({"cn_id": "DET1ST0001HS0001CN000001", "hateSpeech": "", "counterSpeech": ""}))


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def test_conan_items_sharing_a_hate_speech_are_one_group_across_files(tmp_path: Path) -> None:
    hate = "Migrants are all criminals."
    _write_csv(tmp_path / "CONAN.csv", ["cn_id", "hateSpeech", "counterSpeech"], [
        ["FRT1ST0001HS0017CN000002", "On ne peut pas faire confiance aux musulmans.", "Ce genre de tweet..."],
        ["FRT1ST0001HS0017CN000002T1", "We cannot trust the Muslims.", "This kind of tweet..."],
    ])
    _write_csv(tmp_path / "Multitarget-CONAN.csv", ["INDEX", "HATE_SPEECH", "COUNTER_NARRATIVE", "TARGET"], [
        ["5", hate, "Most migrants never commit a crime.", "MIGRANTS"],
        ["9", "Women are too emotional.", "Emotions are human.", "WOMEN"],
    ])
    _write_csv(tmp_path / "DIALOCONAN.csv", ["text", "TARGET", "dialogue_id", "turn_id", "type", "source"], [
        [hate + "!", "MIGRANTS", "3", "0", "HS", "session_1"],  # the same text for the dedupe
        ["That is not true.", "MIGRANTS", "3", "1", "CN", "session_1"],
        ["Where are they all coming from then?!", "MIGRANTS", "3", "2", "HS", "session_1"],
    ])
    _write_csv(tmp_path / "multitarget_KN_grounded_CN.csv", ["hate_speech", "knowledge_sentence",
                                                             "counter_narrative", "target"], [])
    mapper = SOURCES["conan_counter_narratives"].make_mapper(tmp_path)
    groups: dict[str, set[str | None]] = defaultdict(set)
    for file in SOURCES["conan_counter_narratives"].files:
        for record in iter_rows(tmp_path / file.name, required=file.required):
            for mapped in mapper(record, file):
                groups[file.name].add(mapped.group_id)
                if mapped.text.startswith("Where"):
                    check(mapped.labels, (A.HATE_SPEECH,), T.MEDIUM, s.CONAN_LATER_TURN_CONFIDENCE)
    assert groups["CONAN.csv"] == {"conan_counter_narratives:CONAN:FRHS0017"}
    assert groups["DIALOCONAN.csv"] == {"conan_counter_narratives:DIALOCONAN:3"}  # the smallest item's name
    assert groups["Multitarget-CONAN.csv"] == {"conan_counter_narratives:DIALOCONAN:3",
                                               "conan_counter_narratives:Multitarget:9"}


# --- KoSBi ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", sorted(s.KOSBI_PROTECTED))
def test_kosbi_unsafe_about_a_protected_group_is_hate(category: str) -> None:
    check(s.map_kosbi(category, "unsafe", ("prejudice_explicit",)), (A.HATE_SPEECH,), T.MEDIUM, 0.8)


@pytest.mark.parametrize("category", sorted(s.KOSBI_UNPROTECTED))
def test_kosbi_unsafe_about_an_unprotected_group_is_low_and_not_hate(category: str) -> None:
    labels = s.map_kosbi(category, "unsafe", ("discrimination_explicit",))
    check(labels, (), T.LOW, 0.6)
    assert A.HATE_SPEECH not in labels.unknown_areas and A.NONE in labels.unknown_areas


@pytest.mark.parametrize(
    ("sub_labels", "confidence"),
    [
        (("stereotype_explicit",), 0.5),
        (("stereotype_implicit",), 0.5),
        (("prejudice_implicit",), 0.5),
        (("discrimination_implicit",), 0.5),
        (("undefined",), 0.5),
        (("other",), 0.5),
        (("prejudice_explicit",), 0.8),
        (("stereotype_explicit", "discrimination_explicit"), 0.8),
    ],
)
def test_kosbi_explicit_prejudice_is_surer_than_a_stereotype(sub_labels: tuple[str, ...], confidence: float) -> None:
    check(s.map_kosbi("종교", "unsafe", sub_labels), (A.HATE_SPEECH,), T.MEDIUM, confidence)


def test_kosbi_safe_sentences_are_benign_and_bad_labels_raise() -> None:
    check(s.map_kosbi("나이/세대", "safe", ()), (A.NONE,), T.LOW)
    check(s.map_kosbi("성적지향", "safe", ()), (A.NONE,), T.LOW)
    for args in [("국적", "safe", ()), ("종교", "unsure", ()), ("종교", "unsafe", ()), ("종교", "safe", ("other",)),
                 ("종교", "unsafe", ("slur",))]:
        with pytest.raises(LabelError):
            s.map_kosbi(*args)


def test_kosbi_text_keeps_only_a_safe_context() -> None:
    assert s.kosbi_text("그들은 주역이다.", "safe", "하지만 힘들다.") == "그들은 주역이다. 하지만 힘들다."
    assert s.kosbi_text("나쁜 말.", "unsafe", "하지만 힘들다.") == "하지만 힘들다."
    assert s.kosbi_text("글쎄.", "undecided", "하지만 힘들다.") == "하지만 힘들다."
    with pytest.raises(LabelError):
        s.kosbi_text("글쎄.", "maybe", "하지만 힘들다.")


# --- ParaDetox (en) ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reasons", "areas", "confidence"),
    [
        ('{"toxic_content":true}', (), 0.6),
        ('{"unclear":true,"toxic_content":true}', (), 0.6),
        ('{"toxic_content":true,"other_tick":true}', (), 0.6),
        ('{"not_toxic":true}', (A.NONE,), 0.6),
        ('{"not_toxic":true,"unclear":true}', (A.NONE,), 0.6),
    ],
)
def test_paradetox_cannot_rewrite_verdicts(reasons: str, areas: tuple[A, ...], confidence: float) -> None:
    labels = s.map_paradetox_cannot_rewrite(reasons)
    assert labels is not None
    check(labels, areas, T.LOW, confidence)


@pytest.mark.parametrize("reasons", ['{"unclear":true}', '{"other_tick":true}',
                                     '{"not_toxic":true,"toxic_content":true}',
                                     '{"unclear":true,"not_toxic":true,"toxic_content":true}'])
def test_paradetox_cannot_rewrite_without_one_verdict_is_left_out(reasons: str) -> None:
    assert s.map_paradetox_cannot_rewrite(reasons) is None


@pytest.mark.parametrize("reasons", ['{"offensive":true}', '{"not_toxic":false}', "{}", "[]", "toxic_content"])
def test_paradetox_cannot_rewrite_refuses_unknown_reasons(reasons: str) -> None:
    with pytest.raises(LabelError):
        s.map_paradetox_cannot_rewrite(reasons)


def test_toloka_quotes_are_undone() -> None:
    assert s.unwrap_toloka('"what the fuck does \\" generally considered to be \\" mean ?"') == \
        'what the fuck does " generally considered to be " mean ?'
    assert s.unwrap_toloka("7") == "7"


# --- SQuARe -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sensitive", "category"),
                         [("1", "contentious"), ("1", "ethical"), ("1", "predictive"), ("1", "etc"), ("0", "")])
def test_square_questions_are_benign_in_every_area(sensitive: str, category: str) -> None:
    labels = s.map_square(sensitive, category)
    check(labels, (A.NONE,), T.LOW, s.SQUARE_CONFIDENCE)
    assert labels.unknown_areas == ()  # discussing a sensitive topic violates no area


@pytest.mark.parametrize(("sensitive", "category"), [("1", ""), ("0", "ethical"), ("1", "harmful"), ("2", "etc")])
def test_square_refuses_unknown_values(sensitive: str, category: str) -> None:
    with pytest.raises(LabelError):
        s.map_square(sensitive, category)


# --- ToxiGen ----------------------------------------------------------------------------------------------


def test_toxigen() -> None:
    check(s.map_toxigen("hate"), (A.HATE_SPEECH,), T.MEDIUM, s.TOXIGEN_HATE_CONFIDENCE)
    check(s.map_toxigen("neutral"), (A.NONE,), T.LOW)  # a statement naming the group: a hard negative
    with pytest.raises(LabelError):
        s.map_toxigen("implicit")
    assert s.clean_toxigen_text("lesbian couples are still not real families\\n") == \
        "lesbian couples are still not real families"
    assert s.clean_toxigen_text("a food staple\\\\") == "a food staple"


def test_toxigen_line_reader_takes_label_and_group_from_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "neutral_native_american_sentences.txt"
    path.write_text("first sentence\n\nsecond sentence\n", encoding="utf-8")
    rows = list(s.toxigen_line_reader(path, SourceFile(path.name, "en", "demonstrations")))
    assert [(r.line, r.values) for r in rows] == [
        (1, {"label": "neutral", "target_group": "native_american", "sentence": "first sentence"}),
        (3, {"label": "neutral", "target_group": "native_american", "sentence": "second sentence"}),
    ]


# --- Universal Dependencies -------------------------------------------------------------------------------


def test_ud_sentences_are_benign_in_every_area() -> None:
    labels = s.map_ud("sw")
    check(labels, (A.NONE,), T.LOW, s.UD_CONFIDENCE)
    assert labels.unknown_areas == ()
    with pytest.raises(LabelError):
        s.map_ud("xx")


def test_ud_leaves_non_commercial_treebanks_to_their_own_source_and_groups_pud_translations() -> None:
    mapper = SOURCES["ud_benign_sentences"].make_mapper(Path("unused"))
    file = SOURCES["ud_benign_sentences"].files[0]
    nc_mapper = SOURCES["ud_benign_sentences_nc"].make_mapper(Path("unused"))
    urdu_row = row({"lang": "ur", "treebank": "UD_Urdu-UDTB", "sent_id": "s1", "text": "یہ"})
    assert [m.skip_reason for m in mapper(urdu_row, file)] == ["non_commercial_treebank"]
    urdu, = nc_mapper(urdu_row, file)
    assert (urdu.language, urdu.skip_reason, urdu.labels.tier) == ("ur", None, T.LOW)
    finnish_row = row({"lang": "fi", "treebank": "UD_Finnish-TDT", "sent_id": "f-1", "text": "Hyvää päivää."})
    assert [m.skip_reason for m in nc_mapper(finnish_row, file)] == ["commercial_treebank"]
    assert mapper(finnish_row, file)[0].language == "fi"
    thai, = mapper(row({"lang": "th", "treebank": "UD_Thai-PUD", "sent_id": "n01001011", "text": "ข่าว"}), file)
    assert (thai.language, thai.group_id) == ("th", "ud_benign_sentences:PUD:n01001011")
    dutch, = mapper(row({"lang": "nl", "treebank": "UD_Dutch-Alpino", "sent_id": "x-1", "text": "Goed."}), file)
    assert (dutch.language, dutch.group_id, dutch.skip_reason) == ("nl", None, None)


# --- The real files ---------------------------------------------------------------------------------------

#: Per source: rows read (SOURCE.md's counts; ToxiGen: the TSV's 722 and the 62 lines of the five
#: demonstration files read), the skip reasons, and the tiers kept.
REAL: dict[str, tuple[int, dict[str, int], set[str]]] = {
    "conan_counter_narratives": (36_811, {"empty_text": 2}, {"low", "medium"}),
    "kosbi_ko": (6_844, {}, {"low", "medium"}),
    "multilingual_paradetox": (3_600, {"rewrite_unchanged": 7}, {"low"}),
    "paradetox_en": (23_986, {"no_clear_verdict": 1_319, "rewrite_unchanged": 155, "rewritten_in_pairs": 5_437},
                     {"low"}),
    "russe_detox_2022_ru": (8_623, {"rewrite_unchanged": 48}, {"low"}),
    "square_ko": (7_200, {}, {"low"}),
    "toxigen_seed_sentences": (722 + 62, {}, {"low", "medium"}),
    "ud_benign_sentences": (77_031, {"non_commercial_treebank": 7_687}, {"low"}),
    "ud_benign_sentences_nc": (77_031, {"commercial_treebank": 77_031 - 7_687}, {"low"}),
}


@pytest.mark.datasets
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_files(name: str, real_datasets: Path, tmp_path: Path) -> None:
    _, table = build_real_source(real_datasets, tmp_path, name, *REAL[name])
    splits: dict[str, set[str]] = defaultdict(set)
    languages: dict[str, set[str]] = defaultdict(set)
    sizes: Counter[str] = Counter()
    for example in table:
        if example["group_id"] is not None:
            splits[example["group_id"]].add(example["split"])
            languages[example["group_id"]].add(example["language"])
            sizes[example["group_id"]] += 1
    assert all(len(found) == 1 for found in splits.values())  # no copy of a group in another split
    if name == "conan_counter_narratives":
        # A French or Italian pair and its English translation are one group.
        assert any(found == {"fr", "en"} for found in languages.values())
        assert any(found == {"it", "en"} for found in languages.values())
    if name == "ud_benign_sentences":
        assert max(len(found) for found in languages.values()) == 8  # the PUD translations of one sentence
    if name in {"paradetox_en", "russe_detox_2022_ru", "multilingual_paradetox"}:
        pairs = [r for r in table if r["row_id"].endswith(":toxic") or ":neutral" in r["row_id"]]
        assert pairs and all(r["group_id"] is not None for r in pairs)
        assert max(sizes.values()) >= 2  # a toxic text and its rewrites kept together


@pytest.mark.datasets
def test_detox_sources_keep_a_toxic_text_and_every_rewrite_of_it_in_one_split(real_datasets: Path,
                                                                            tmp_path: Path) -> None:
    # MultiParaDetox's Russian pairs rewrite RUSSE's test inputs.
    sources = ("russe_detox_2022_ru", "multilingual_paradetox")
    result = build_corpus(BuildConfig(datasets_dir=real_datasets, out_dir=tmp_path, sources=sources))
    members: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for example in pq.read_table(result.corpus_path).to_pylist():
        members[example["group_id"]].add((example["source"], example["split"]))
    shared = [found for found in members.values() if {source for source, _ in found} == set(sources)]
    assert shared  # the dedupe keeps one copy of a shared toxic text; its group still holds both sources
    assert all(len({split for _, split in found}) == 1 for found in members.values())


@pytest.mark.datasets
def test_ud_non_commercial_treebanks_are_those_of_the_licence_table(real_datasets: Path) -> None:
    path = real_datasets / "ud_benign_sentences" / "treebanks.tsv"
    table = iter_rows(path, delimiter="\t", required=("repo", "licence"))
    assert {r["repo"] for r in table if "-NC" in r["licence"]} == s.UD_NON_COMMERCIAL_TREEBANKS


@pytest.mark.datasets
def test_toxigen_demonstrations_left_out_add_nothing_to_the_tsv(real_datasets: Path) -> None:
    folder = real_datasets / "toxigen_seed_sentences"
    in_tsv = {dedup_key(normalize_text(s.clean_toxigen_text(r["sentence"])))
              for r in iter_rows(folder / "prompts_unique_sentences.tsv", delimiter="\t", quoted=False)}
    left_out = sorted({p.relative_to(folder / "demonstrations").as_posix()
                       for p in (folder / "demonstrations").glob("*/*.txt")} - set(s.TOXIGEN_DEMONSTRATIONS))
    assert len(left_out) == 25
    for name in left_out:
        path = folder / "demonstrations" / name
        lines = [r["sentence"] for r in s.toxigen_line_reader(path, SourceFile(name, "en", "demonstrations"))]
        assert {dedup_key(normalize_text(s.clean_toxigen_text(line))) for line in lines} <= in_tsv, name
