"""Corpus v2 sources (negatives): hard negatives, counter-speech, neutral rewrites and benign sentences.

These sources exist so that a language, a topic or an identity word does not come to mean harm: neutral
statements about minority groups next to implicit hate (ToxiGen, KoSBi), questions on divisive topics
(SQuARe), expert replies to hate next to the hate they answer (CONAN), toxic comments next to their neutral
rewrites (ParaDetox in en, ru and nine languages) and everyday sentences in 25 languages (Universal
Dependencies). Their benign side is the point, so it is labelled none/low wherever the source says so; their
toxic side is a violation only as far as the source says.

Parallel copies (a toxic text and its rewrites, a hate speech and its counter-narratives, the translations
of one sentence) share a ``group_id``, so that no copy of a test row is trained on.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from model.datafiles import LabelError, RowError, read_text
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from model.text import dedup_key, normalize_text
from training.data.labels import TOXICITY_SCOPE, Labels, no_violation, partial, violation
from training.data.readers import Row, iter_rows
from training.data.source_types import (
    SOURCES,
    LicenceKind,
    Mapped,
    RowMapper,
    Source,
    SourceFile,
    source,
)
from training.data.source_types import unknown_value as _unknown


def _text_key(text: str) -> str:
    """The key under which the builder's dedupe takes two texts for one."""
    return dedup_key(normalize_text(text))


def json_array_reader(path: Path, file: SourceFile) -> Iterator[Row]:
    """A ``SourceFile.reader`` for a file holding one JSON array of objects: one ``Row`` per object, whose
    line is the object's 1-based index in the array. String values are kept as they are, ``null`` becomes
    "" and any other value (a number, a list) its JSON text. Every object needs the keys ``file.required``."""
    try:
        items = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise RowError(path, f"invalid JSON: {exc.msg} at column {exc.colno}", exc.lineno) from exc
    if not isinstance(items, list):
        raise RowError(path, f"expected a JSON array of objects, found {type(items).__name__}", 1)
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise RowError(path, f"item {index}: expected a JSON object, found {type(item).__name__}", index)
        missing = [key for key in file.required if key not in item]
        if missing:
            raise RowError(path, f"item {index} lacks key(s) {', '.join(missing)}", index)
        yield Row(path, index, {key: _json_text(value) for key, value in item.items()})


def _json_text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


# --- Detox pairs: a toxic text and its neutral rewrites (shared by the three ParaDetox sources) ------------

#: The toxic side of a detox pair: comments a classifier and crowd workers found toxic, mostly swearing and
#: rudeness, some insults at a person, rarely an identity attack; no source says which. So: low (the usual
#: case: profanity, untargeted offence), no area known, at a weight for the insults among them.
DETOX_TOXIC = partial(T.LOW, (), confidence=0.6)
#: A rewrite crowd workers validated as non-toxic and meaning-preserving.
DETOX_NEUTRAL = no_violation(TOXICITY_SCOPE)


def map_detox(role: str) -> Labels:
    """toxic -> low, no area known, confidence 0.6 (swearing and insults are not told apart, the target
    is not given); neutral (a validated rewrite) -> none/low."""
    if role == "toxic":
        return DETOX_TOXIC
    if role == "neutral":
        return DETOX_NEUTRAL
    raise _unknown("detox role", role)


def detox_rows(toxic: str, rewrites: Iterable[str], clean: Callable[[str], str] = str) -> list[Mapped]:
    """A toxic text and its rewrites, each first passed through ``clean``. Empty rewrite cells are absent
    rewrites; a rewrite that is the toxic text again (the same dedupe key: a worker copied it) is skipped,
    not labelled benign.

    The group is named after the toxic text, not the row: the detox sources share toxic texts (342 of
    MultiParaDetox's 400 Russian pairs rewrite RUSSE's test inputs, a few English ones ParaDetox's), and a
    toxic text and every rewrite of it, from whichever source, must stay in one split."""
    toxic = clean(toxic)
    toxic_key = _text_key(toxic)
    group = "detox:" + hashlib.sha256((toxic_key or toxic).encode()).hexdigest()[:16]
    out = [Mapped(toxic, map_detox("toxic"), group_id=group, suffix=":toxic")]
    for number, rewrite in enumerate(rewrites, start=1):
        if not rewrite.strip():
            continue
        rewrite = clean(rewrite)
        reason = "rewrite_unchanged" if _text_key(rewrite) == toxic_key else None
        out.append(Mapped(rewrite, map_detox("neutral"), group_id=group, suffix=f":neutral{number}",
                          skip_reason=reason))
    return out


_SPACE_BEFORE_PUNCT = re.compile(r" +([,.!?;:%)\]])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[]) +")
_SPLIT_CLITIC = re.compile(r"(\w) '(t|s|re|ve|ll|m|d)\b", re.IGNORECASE)


def detokenize_english(text: str) -> str:
    """Undo the tokenisation of the English toxic inputs ("isn 't it , you 're right ( really ) !" ->
    "isn't it, you're right (really)!"): their rewrites are written normally, and the spacing alone would
    tell a model which side of the pair it reads. Lower-casing cannot be undone."""
    text = _SPLIT_CLITIC.sub(r"\1'\2", text)
    return _SPACE_AFTER_OPEN.sub(r"\1", _SPACE_BEFORE_PUNCT.sub(r"\1", text))


# --- CONAN family: hate speech and expert counter-narratives (en, fr, it) ----------------------------------

#: A DIALOCONAN hate-speech turn after the first often reads as hate only with the dialogue before it
#: ("Where are they all coming from then?!").
CONAN_LATER_TURN_CONFIDENCE = 0.7


def map_conan(kind: str, turn: int = 0) -> Labels:
    """HS (hate speech against a protected group: Muslims, migrants, Jews, women, LGBT+, people of colour,
    disabled people) -> hate_speech/medium, at confidence 0.7 for a dialogue turn after the first; CN
    (counter-narrative, counter-speech that quotes or names the group) -> none/low. Calls for violence in
    a few HS items are not labelled, so violence_incitement stays unknown."""
    if kind == "HS":
        confidence = 1.0 if turn == 0 else CONAN_LATER_TURN_CONFIDENCE
        return violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE, confidence)
    if kind == "CN":
        return no_violation(TOXICITY_SCOPE)
    raise _unknown("type", kind)


@dataclass(frozen=True, slots=True)
class ConanText:
    text: str
    kind: str  # "HS" or "CN"
    suffix: str
    turn: int = 0


@dataclass(frozen=True, slots=True)
class ConanItem:
    """The texts of one row, and the item they belong to (a hate speech with its paraphrases, translations
    and counter-narratives; a pair; a dialogue)."""

    item: str
    language: str
    texts: tuple[ConanText, ...]


# cn_id: language, HS type (T1 = Islamophobia), sub-topic, HS id, CN id, augmentation (P1/P2 paraphrase of
# the HS, T1 translation into English).
_CONAN_ID = re.compile(r"(?P<lang>EN|FR|IT)T\d+ST\d+(?P<hs>HS\d+)CN\d+(?P<aug>P1|P2|T1)?")


def _pair(item: str, language: str, hate: str, counter: str) -> ConanItem:
    return ConanItem(item, language, (ConanText(hate, "HS", ":hs"), ConanText(counter, "CN", ":cn")))


def _conan_pair(row: Row) -> ConanItem:
    match = _CONAN_ID.fullmatch(row["cn_id"])
    if match is None:
        raise _unknown("cn_id", row["cn_id"])
    # A T1 row is the English translation of a French or Italian pair: same item, other language.
    language = "en" if match["aug"] == "T1" else match["lang"].lower()
    return _pair(f"CONAN:{match['lang']}{match['hs']}", language, row["hateSpeech"], row["counterSpeech"])


def _dialogue_turn(row: Row) -> ConanItem:
    try:
        turn = int(row["turn_id"])
    except ValueError:
        raise LabelError(f"turn_id: expected a number, found {row['turn_id']!r}") from None
    return ConanItem(f"DIALOCONAN:{row['dialogue_id']}", "en", (ConanText(row["text"], row["type"], "", turn),))


_CONAN_ITEMS: dict[str, Callable[[Row], ConanItem]] = {
    "CONAN.csv": _conan_pair,
    "Multitarget-CONAN.csv": lambda row: _pair(f"Multitarget:{row['INDEX']}", "en", row["HATE_SPEECH"],
                                               row["COUNTER_NARRATIVE"]),
    "DIALOCONAN.csv": _dialogue_turn,
    "multitarget_KN_grounded_CN.csv": lambda row: _pair(f"KN:{row.line}", "en", row["hate_speech"],
                                                        row["counter_narrative"]),
}


def conan_item(file_name: str, row: Row) -> ConanItem:
    """The item and texts of a row of one of the four files."""
    try:
        read = _CONAN_ITEMS[file_name]
    except KeyError:
        raise _unknown("CONAN file", file_name) from None
    return read(row)


_CONAN_FILES = (
    SourceFile("CONAN.csv", "en", "conan", required=("cn_id", "hateSpeech", "counterSpeech"),
               languages=("en", "fr", "it")),
    SourceFile("Multitarget-CONAN.csv", "en", "multitarget", required=("INDEX", "HATE_SPEECH", "COUNTER_NARRATIVE")),
    SourceFile("DIALOCONAN.csv", "en", "dialoconan", required=("text", "dialogue_id", "turn_id", "type")),
    SourceFile("multitarget_KN_grounded_CN.csv", "en", "kn_grounded", required=("hate_speech", "counter_narrative")),
)


class _Groups:
    """Union-find over item names; a group is named by its smallest member, so names do not depend on
    the order items are joined in."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def root(self, item: str) -> str:
        parent = self._parent.setdefault(item, item)
        while parent != item:
            grandparent = self._parent[parent]
            self._parent[item] = grandparent
            item, parent = parent, grandparent
        return item

    def join(self, a: str, b: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)


def _conan_mapper(folder: Path) -> RowMapper:
    # The four files reuse each other's hate speech: DIALOCONAN opens dialogues with Multitarget-CONAN
    # items, the knowledge-grounded pairs answer Multitarget-CONAN and CONAN items. Items (a CONAN hate
    # speech with its paraphrases, translations and replies; a pair; a dialogue) that share a hate-speech
    # text are one group across files, so the replies to a test item's hate speech are not trained on.
    groups = _Groups()
    first_item: dict[str, str] = {}
    for file in _CONAN_FILES:
        for row in iter_rows(folder / file.name, required=file.required):
            try:
                found = conan_item(file.name, row)
            except LabelError as exc:
                raise row.error(str(exc)) from None
            groups.root(found.item)
            for part in found.texts:
                if part.kind == "HS":
                    groups.join(found.item, first_item.setdefault(_text_key(part.text), found.item))

    def rows(row: Row, file: SourceFile) -> list[Mapped]:
        found = conan_item(file.name, row)
        group = f"conan_counter_narratives:{groups.root(found.item)}"
        return [Mapped(part.text, map_conan(part.kind, part.turn), group_id=group, suffix=part.suffix,
                       language=found.language) for part in found.texts]

    return rows


SOURCES["conan_counter_narratives"] = Source(
    "conan_counter_narratives",
    title="CONAN family: expert counter-narratives to online hate (CONAN, Multitarget-CONAN, DIALOCONAN, "
    "knowledge-grounded CN)",
    # Research use only and no redistribution: a restriction on use, the meaning of non_commercial (a licence
    # is stated, so not "unstated"); excluding non_commercial drops it.
    licence="research only, no redistribution", licence_kind=LicenceKind.NON_COMMERCIAL,
    files=_CONAN_FILES,
    mapping="Hate speech (CONAN hateSpeech, Multitarget HATE_SPEECH, knowledge-grounded hate_speech, DIALOCONAN "
    "HS turns) -> hate_speech/medium (a DIALOCONAN HS turn after the first: confidence 0.7); counter-narratives "
    "(CN) -> none/low. One group per CONAN hate speech (its paraphrases, English translations and replies), "
    "Multitarget pair and dialogue; items sharing a hate-speech text are joined across files. CONAN T1 rows "
    "are English; the knowledge sentences are not used.",
    make_mapper=_conan_mapper,
)


# --- KoSBi, Korean social bias (ko) ------------------------------------------------------------------------

#: The demographic categories the hate_speech area covers (race, ethnicity, origin, religion, gender,
#: sexual orientation, disability). Pregnancy and childbirth are taken as gender; domestic region of origin
#: as origin (regional prejudice is a known form of hate in Korea).
KOSBI_PROTECTED = frozenset({"인종/민족/출신 국가", "종교", "성별", "임신/출산", "성적지향", "장애/병력",
                             "출신 지역 (국내)"})
#: Categories the taxonomy does not protect: age, marital status, family type, appearance, socio-economic
#: status, political or other belief, education, criminal record.
KOSBI_UNPROTECTED = frozenset({"나이/세대", "혼인 여부", "가족 형태", "외모/용모/신체적 조건", "사회적/경제적 신분",
                               "정치적/신념적 성향", "학력/대학/전공", "전과"})
KOSBI_SUB_LABELS = frozenset({"stereotype_explicit", "stereotype_implicit", "prejudice_explicit",
                              "prejudice_implicit", "discrimination_explicit", "discrimination_implicit",
                              "undefined", "other"})
_KOSBI_EXPLICIT = frozenset({"prejudice_explicit", "discrimination_explicit"})
_KOSBI_CONTEXT_LABELS = frozenset({"safe", "unsafe", "undecided"})


def map_kosbi(category: str, sentence_label: str, sub_labels: tuple[str, ...]) -> Labels:
    """safe -> none/low (sentences that name a group). unsafe about a protected group -> hate_speech/medium,
    confidence 0.8 with explicit prejudice or discrimination, else 0.5 (stereotypes, implicit, undefined and
    other are mostly mild: "Thanks to Incheon Airport it is a popular city for foreigners"). unsafe about an
    unprotected group (age, marital status, education, ...) -> low, not hate (the taxonomy's hate needs a
    protected attribute) and not harassment, none unknown, confidence 0.6."""
    if category not in KOSBI_PROTECTED | KOSBI_UNPROTECTED:
        raise _unknown("demographic_category", category)
    unknown = set(sub_labels) - KOSBI_SUB_LABELS
    if unknown:
        raise _unknown("sentence_sub_label", sorted(unknown)[0])
    if sentence_label == "safe":
        if sub_labels:
            raise LabelError(f"a safe sentence has sub-labels {list(sub_labels)}")
        return no_violation(TOXICITY_SCOPE)
    if sentence_label != "unsafe":
        raise _unknown("sentence_label", sentence_label)
    if not sub_labels:
        raise LabelError("an unsafe sentence has no sub-label")
    if category in KOSBI_UNPROTECTED:
        return partial(T.LOW, TOXICITY_SCOPE, confidence=0.6)
    confidence = 0.8 if _KOSBI_EXPLICIT & set(sub_labels) else 0.5
    return violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE, confidence)


def kosbi_text(context: str, context_label: str, sentence: str) -> str:
    """The sentence after its context (its label assumes the context), but alone when the context is
    unsafe or undecided, so that the text holds nothing less safe than the sentence's label says."""
    if context_label not in _KOSBI_CONTEXT_LABELS:
        raise _unknown("context_label", context_label)
    return f"{context} {sentence}" if context_label == "safe" else sentence


def _json_list(row: Row, column: str) -> tuple[str, ...]:
    """A list-valued JSON field as ``json_array_reader`` gives it ("" for null)."""
    if not row[column]:
        return ()
    value = json.loads(row[column])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise LabelError(f"column {column}: expected a list of strings, found {row[column]!r}")
    return tuple(value)


_KOSBI_KEYS = ("demographic_category", "context", "context_label", "sentence", "sentence_label",
               "sentence_sub_label")


@source(
    "kosbi_ko", title="KoSBi: Korean Social Bias dataset (NAVER)", licence="MIT", kind=LicenceKind.PERMISSIVE,
    # The source's valid and test splits; its train split is not in the snapshot. SOURCE.md allows both for
    # training (our evaluation is elsewhere), so neither is kept as test (the builder may hold the whole
    # source out as out-of-distribution data anyway).
    files=tuple(SourceFile(name, "ko", split, reader=json_array_reader, required=_KOSBI_KEYS)
                for name, split in (("kosbi_valid.json", "valid"), ("kosbi_test.json", "test"))),
    mapping="safe -> none/low; unsafe about a protected group (race/nationality, religion, gender, pregnancy, "
    "sexual orientation, disability, region of origin) -> hate_speech/medium, confidence 0.8 with explicit "
    "prejudice or discrimination, else 0.5; unsafe about another group (age, marital status, family, "
    "appearance, class, politics, education, criminal record) -> low, not hate or harassment, none unknown, "
    "confidence 0.6. Text: context + sentence, the sentence alone after an unsafe or undecided context.",
)
def _kosbi_rows(row: Row, file: SourceFile) -> list[Mapped]:
    labels = map_kosbi(row["demographic_category"], row["sentence_label"], _json_list(row, "sentence_sub_label"))
    return [Mapped(kosbi_text(row["context"], row["context_label"], row["sentence"]), labels)]


# --- MultiParaDetox (am, ar, de, en, es, hi, ru, uk, zh) ------------------------------------------

_MULTI_PARADETOX_LANGUAGES = ("am", "ar", "de", "en", "es", "hi", "ru", "uk", "zh")


@source(
    "multilingual_paradetox", title="MultiParaDetox (TextDetox 2024): toxic -> neutral pairs in 9 languages",
    # OpenRAIL++ allows commercial use but its use-based restrictions must be passed on to every derivative,
    # as share-alike licences pass on their terms: so share_alike rather than permissive.
    licence="OpenRAIL++", kind=LicenceKind.SHARE_ALIKE,
    files=tuple(SourceFile(f"{lang}.tsv", lang, "dev", delimiter="\t", required=("toxic_sentence", "neutral_sentence"))
                for lang in _MULTI_PARADETOX_LANGUAGES),
    mapping="toxic_sentence -> low, no area known, confidence 0.6 (insults and obscenity, target unknown); "
    "neutral_sentence -> none/low; a toxic text and its rewrite share a group (the languages are not "
    "translations of each other; a toxic text another detox source rewrites too joins its group), and a "
    "rewrite identical to the toxic text is skipped. English tokenisation is undone.",
)
def _multi_paradetox_rows(row: Row, file: SourceFile) -> list[Mapped]:
    clean = detokenize_english if file.language == "en" else str
    return detox_rows(row["toxic_sentence"], (row["neutral_sentence"],), clean=clean)


# --- ParaDetox (en) ----------------------------------------------------------------------------------------

_PARADETOX_TICKS = frozenset({"toxic_content", "not_toxic", "unclear", "other_tick"})
#: A "not toxic" tick is one worker's view of a sentence a classifier flagged as toxic.
PARADETOX_NOT_TOXIC_CONFIDENCE = 0.6


def map_paradetox_cannot_rewrite(reasons: str) -> Labels | None:
    """The Toloka ticks of a sentence workers would not rewrite: toxic_content (no rewrite keeps the meaning
    without toxicity) -> a toxic text (low, no area known, confidence 0.6); not_toxic -> none/low at
    confidence 0.6; no verdict (only unclear or other_tick) or both verdicts -> None, left out."""
    try:
        ticks = json.loads(reasons)
    except json.JSONDecodeError:
        raise _unknown("reasons", reasons) from None
    if not isinstance(ticks, dict) or not ticks or set(ticks) - _PARADETOX_TICKS or \
            any(value is not True for value in ticks.values()):
        raise _unknown("reasons", reasons)
    verdicts = set(ticks) & {"toxic_content", "not_toxic"}
    if verdicts == {"toxic_content"}:
        return DETOX_TOXIC
    if verdicts == {"not_toxic"}:
        return no_violation(TOXICITY_SCOPE, PARADETOX_NOT_TOXIC_CONFIDENCE)
    return None


def unwrap_toloka(text: str) -> str:
    """Undo Toloka's export of the cannot-rewrite texts: wrapped in one more pair of double quotes, with
    inner quotes escaped as \\"."""
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    return text.replace('\\"', '"')


_PARADETOX_REWRITES = ("neutral1", "neutral2", "neutral3")
_PARADETOX_FILES = (
    SourceFile("paradetox.tsv", "en", "pairs", delimiter="\t", required=("toxic", *_PARADETOX_REWRITES)),
    SourceFile("paradetox_cannot_rewrite.tsv", "en", "cannot_rewrite", delimiter="\t",
               required=("INPUT:toxic_comment", "OUTPUT:reasons")),
)


def _paradetox_mapper(folder: Path) -> RowMapper:
    # About 5,300 cannot-rewrite sentences were rewritten by other workers (SOURCE.md): they are rewritable,
    # so paradetox.tsv's row (toxic, with its rewrites) stands and the cannot-rewrite copy is skipped, whose
    # "not toxic" tick the rewrite contradicts.
    pairs = _PARADETOX_FILES[0]
    rewritten = {_text_key(detokenize_english(row["toxic"]))
                 for row in iter_rows(folder / pairs.name, delimiter=pairs.delimiter, required=pairs.required)}

    def rows(row: Row, file: SourceFile) -> list[Mapped]:
        if file.name == pairs.name:
            return detox_rows(row["toxic"], (row[c] for c in _PARADETOX_REWRITES), clean=detokenize_english)
        text = detokenize_english(unwrap_toloka(row["INPUT:toxic_comment"]))
        labels = map_paradetox_cannot_rewrite(row["OUTPUT:reasons"])
        reason = "rewritten_in_pairs" if _text_key(text) in rewritten else None
        if labels is None:
            labels, reason = DETOX_TOXIC, reason or "no_clear_verdict"
        return [Mapped(text, labels, skip_reason=reason)]

    return rows


SOURCES["paradetox_en"] = Source(
    "paradetox_en", title="ParaDetox: parallel English detoxification corpus", licence="CC0-1.0",
    licence_kind=LicenceKind.PERMISSIVE, files=_PARADETOX_FILES,
    mapping="toxic -> low, no area known, confidence 0.6 (mostly swearing and rudeness, some insults, target "
    "unknown); each neutral rewrite -> none/low; a toxic text and its rewrites share a group (across the detox "
    "sources), and a rewrite identical to the toxic text is skipped. Cannot-rewrite file: toxic_content -> "
    "as toxic; not_toxic -> none/low (confidence 0.6); unclear, other or contradicting ticks, and sentences "
    "that paradetox.tsv rewrites -> skipped. The toxic inputs' tokenisation is undone; Toloka's extra quotes "
    "are removed.",
    make_mapper=_paradetox_mapper,
)


# --- RUSSE-2022 Detox (ru) ---------------------------------------------------------------------------------

_RUSSE_REWRITES = ("neutral_comment1", "neutral_comment2", "neutral_comment3")


@source(
    "russe_detox_2022_ru", title="RUSSE-2022 Detox (RuParaDetox): Russian toxic sentences and neutral rewrites",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=(
        SourceFile("train.tsv", "ru", "train", delimiter="\t", required=("toxic_comment", *_RUSSE_REWRITES)),
        # SOURCE.md's in-distribution test: kept as test.
        SourceFile("dev.tsv", "ru", "dev", is_test=True, delimiter="\t", required=("toxic_comment", *_RUSSE_REWRITES)),
        # The official test inputs (toxic only) are the toxic side of MultiParaDetox's Russian pairs (342 of
        # its 400), whose rewrites would sit in training opposite a test row: so they join the pool, in one
        # group with those rewrites.
        SourceFile("test.tsv", "ru", "test", delimiter="\t", required=("toxic_comment",)),
    ),
    mapping="toxic_comment -> low, no area known, confidence 0.6 (mostly obscenity and insults, target "
    "unknown); each neutral_comment -> none/low; a toxic text and its rewrites share a group (across the detox "
    "sources), and a rewrite identical to the toxic text is skipped. dev kept as test; test (toxic only, "
    "rewritten in MultiParaDetox ru) joins the pool.",
)
def _russe_rows(row: Row, file: SourceFile) -> list[Mapped]:
    rewrites = (row.values.get(column, "") for column in _RUSSE_REWRITES)
    return detox_rows(row["toxic_comment"], rewrites)


# --- SQuARe, Korean sensitive questions (ko) ---------------------------------------------------------------

SQUARE_CATEGORIES = frozenset({"contentious", "ethical", "predictive", "etc"})
#: Generated questions annotated for how sensitive their topic is, not for harm.
SQUARE_CONFIDENCE = 0.9


def map_square(sensitive: str, category: str) -> Labels:
    """Every question -> none/low in every area, confidence 0.9: a sensitive one (contentious, ethical,
    predictive, etc) asks about a divisive topic (politics, sex crimes, suicide, terrorism, war) to discuss
    it, which no policy prohibits; a non-sensitive one (no category) asks about something else."""
    if (sensitive == "1" and category in SQUARE_CATEGORIES) or (sensitive == "0" and not category):
        return no_violation(A, SQUARE_CONFIDENCE)
    raise _unknown("sensitive?/category", f"{sensitive}/{category or 'null'}")


@source(
    "square_ko", title="SQuARe: Korean sensitive questions (NAVER)", licence="MIT", kind=LicenceKind.PERMISSIVE,
    files=tuple(SourceFile(name, "ko", split, reader=json_array_reader, required=("question", "sensitive?", "category"))
                for name, split in (("question_test.json", "test"), ("question_test_ood.json", "test_ood"))),
    mapping="Every question, sensitive (contentious, ethical, predictive, etc) or not -> none/low in every area, "
    "confidence 0.9: discussion of a sensitive topic is not a violation. The source's test splits join the "
    "pool (its train split is not in the snapshot).",
)
def _square_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["question"], map_square(row["sensitive?"], row["category"]))]


# --- ToxiGen seed sentences (en) ---------------------------------------------------------------------------

#: The label is the seed file's, and SOURCE.md rates the implicit, slur-free statements low to medium.
TOXIGEN_HATE_CONFIDENCE = 0.8


def map_toxigen(label: str) -> Labels:
    """hate (an implicit, slur-free hateful statement about a minority group) -> hate_speech/medium at
    confidence 0.8; neutral (a benign statement about the group) -> none/low, a hard negative."""
    if label == "hate":
        return violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE, TOXIGEN_HATE_CONFIDENCE)
    if label == "neutral":
        return no_violation(TOXICITY_SCOPE)
    raise _unknown("label", label)


def clean_toxigen_text(text: str) -> str:
    """Drop the debris of the upstream files: a literal ``\\n`` and trailing backslashes."""
    return text.replace("\\n", " ").rstrip("\\ ")


def toxigen_line_reader(path: Path, file: SourceFile) -> Iterator[Row]:
    """A ``SourceFile.reader`` for ``demonstrations/<group type>/<label>_<group>[_sentences].txt``: one
    sentence per line, given the TSV's columns, with the label and target group from the file name."""
    label, _, group = path.stem.partition("_")
    values = {"label": label, "target_group": group.removesuffix("_sentences")}
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if line.strip():
            yield Row(path, number, {**values, "sentence": line})


#: The demonstration files holding sentences the TSV (derived from the prompt files) lacks, 20 in all; their
#: other lines are the TSV's, which the dedupe drops. Every line of the other 25 files is in the TSV
#: (tests/training/test_sources_negatives.py checks it).
TOXIGEN_DEMONSTRATIONS = (
    "race/hate_jewish_sentences.txt", "race/neutral_jewish_sentences.txt",
    "race/hate_native_american_sentences.txt", "race/neutral_native_american_sentences.txt",
    "religion/hate_muslim_sentences.txt",
)


@source(
    "toxigen_seed_sentences", title="ToxiGen seed sentences: neutral and implicitly hateful statements about "
    "minority groups", licence="CDLA-Permissive-2.0", kind=LicenceKind.PERMISSIVE,
    files=(
        SourceFile("prompts_unique_sentences.tsv", "en", "prompts", delimiter="\t", quoted=False,
                   required=("label", "target_group", "sentence")),
        *(SourceFile(f"demonstrations/{name}", "en", "demonstrations", reader=toxigen_line_reader)
          for name in TOXIGEN_DEMONSTRATIONS),
    ),
    mapping="hate -> hate_speech/medium, confidence 0.8 (implicit, slur-free; the label is the file's); "
    "neutral -> none/low (hard negatives naming the group). The prompt sentences (TSV), plus the five "
    "demonstration files with sentences the TSV lacks; the label and group come from the file name.",
)
def _toxigen_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(clean_toxigen_text(row["sentence"]), map_toxigen(row["label"]))]


# --- Universal Dependencies benign sentences (57 languages) ------------------------------------------------

#: Every language of ``ud_sentences.tsv``: so that no language the encoder knows is unfamiliar to the model
#: (an unfamiliar language looked harmful: 29-58% of benign Hungarian, Finnish, Czech and Serbo-Croatian web
#: text was flagged before these were added).
UD_LANGUAGES = ("af", "am", "ar", "bg", "bn", "ca", "cs", "cy", "da", "de", "el", "en", "es", "et", "eu", "fa",
                "fi", "fr", "ga", "gl", "he", "hi", "hr", "hu", "hy", "id", "is", "it", "ja", "ka", "kk", "ko",
                "lt", "lv", "mr", "nb", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sr", "sv", "sw", "ta", "te",
                "th", "tl", "tr", "ug", "uk", "ur", "uz", "vi", "zh")
#: Treebanks under CC BY-NC-SA (treebanks.tsv): Urdu, Hungarian, Bulgarian, Basque, Estonian and part of Tamil.
#: They form a source of their own, ``ud_benign_sentences_nc`` (non-commercial), reading the same file, so that
#: ``--exclude-licence non_commercial`` leaves exactly them out.
UD_NON_COMMERCIAL_TREEBANKS = frozenset({"UD_Urdu-UDTB", "UD_Tamil-TTB", "UD_Hungarian-Szeged",
                                         "UD_Bulgarian-BTB", "UD_Basque-BDT", "UD_Estonian-EWT"})
#: The languages of those treebanks; all but Tamil have no other treebank here.
UD_NC_LANGUAGES = ("bg", "et", "eu", "hu", "ta", "ur")
#: Assumed benign, not annotated for safety (news reports crimes and wars in a neutral register).
UD_CONFIDENCE = 0.9


def map_ud(language: str) -> Labels:
    """Every sentence -> none/low in every area, confidence 0.9: news, encyclopaedia, reviews, fiction,
    parliament and social-media text that reports rather than commits harm."""
    if language not in UD_LANGUAGES:
        raise _unknown("lang", language)
    return no_violation(A, UD_CONFIDENCE)


def ud_rows(row: Row, *, non_commercial: bool) -> list[Mapped]:
    """A sentence of the commercial (``non_commercial=False``) or the non-commercial treebanks; the other
    kind is skipped, as read by the other source."""
    treebank = row["treebank"]
    if (treebank in UD_NON_COMMERCIAL_TREEBANKS) != non_commercial:
        reason = "commercial_treebank" if non_commercial else "non_commercial_treebank"
        return [Mapped(row["text"], no_violation(A), skip_reason=reason)]
    group = f"ud_benign_sentences:PUD:{row['sent_id']}" if treebank.endswith("-PUD") else None
    return [Mapped(row["text"], map_ud(row["lang"]), group_id=group, language=row["lang"])]


def _ud_file(languages: tuple[str, ...]) -> SourceFile:
    return SourceFile("ud_sentences.tsv", "en", "all", delimiter="\t", quoted=False,
                      required=("lang", "treebank", "sent_id", "text"), languages=languages)


@source(
    "ud_benign_sentences", title="Universal Dependencies benign sentences (57 languages)",
    # Mixed: CC BY-SA 4.0 for most treebanks, 3.0 for PUD, CC BY 3.0 for the Swahili news, CC BY 4.0 for
    # Catalan; registered under the dominant, strictest kept licence.
    licence="CC-BY-SA-4.0/3.0 (per treebank)", kind=LicenceKind.SHARE_ALIKE,
    files=(_ud_file(tuple(lang for lang in UD_LANGUAGES if lang == "ta" or lang not in UD_NC_LANGUAGES)),),
    mapping="Every sentence -> none/low in every area, confidence 0.9 (benign everyday text, not safety-"
    "annotated), in 57 languages. The CC BY-NC-SA treebanks (Urdu, Hungarian, Bulgarian, Basque, Estonian, "
    "Tamil-TTB) are left to ud_benign_sentences_nc. The PUD treebanks translate the same 1,000 sentences: each "
    "sentence's translations share a group.",
)
def _ud_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return ud_rows(row, non_commercial=False)


@source(
    "ud_benign_sentences_nc", folder="ud_benign_sentences",
    title="Universal Dependencies benign sentences, non-commercial treebanks (ur, hu, bg, eu, et, ta)",
    licence="CC-BY-NC-SA-4.0/3.0 (per treebank)", kind=LicenceKind.NON_COMMERCIAL,
    files=(_ud_file(UD_NC_LANGUAGES),),
    mapping="The CC BY-NC-SA treebanks of ud_sentences.tsv (UD_Urdu-UDTB, UD_Hungarian-Szeged, UD_Bulgarian-BTB, "
    "UD_Basque-BDT, UD_Estonian-EWT, UD_Tamil-TTB): every sentence -> none/low, confidence 0.9.",
)
def _ud_nc_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return ud_rows(row, non_commercial=True)
