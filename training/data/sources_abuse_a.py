"""Corpus v2 sources (abuse_a): abusive language and hate in Japanese, Arabic (Levantine, Tunisian and the
OffensEval tweets), Danish, Greek, Turkish, Roman Urdu and Vietnamese.

Every source here labels offence, so its scope is hate_speech, harassment and ``none`` (Japanese also
adult_sexual and privacy); other areas stay unknown. Most of them do not say whom an insult targets, and
the product tells a person (harassment) from a group (hate) and a target from none (untargeted swearing is
low): where a class mixes these, the usual case is mapped and the weight says how sure that is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path

from model.datafiles import LabelError, MissingSourceError, RowError, read_text
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from training.data.labels import TOXICITY_SCOPE, Labels, no_violation, partial, violation
from training.data.readers import Row, iter_rows
from training.data.source_types import (
    SOURCES,
    FileReader,
    LicenceKind,
    Mapped,
    RowMapper,
    Source,
    SourceFile,
    source,
)
from training.data.source_types import int_value as _int
from training.data.source_types import unknown_value as _unknown

#: An "abusive" or "offensive" class that holds insults at people and untargeted swearing alike becomes
#: harassment/medium, the usual case, at this weight.
INSULT_OR_SWEARING_CONFIDENCE = 0.6


def _lookup(table: Mapping[str, Labels], what: str, value: str) -> Labels:
    """The labels of a source whose label column alone decides them."""
    try:
        return table[value]
    except KeyError:
        raise _unknown(what, value) from None


# --- Japanese toxicity subset, Inspection AI (ja) ---------------------------------------------------------

JA_LEVELS = ("Not Toxic", "Hard to Say", "Toxic", "Very Toxic")
#: The categories that name a policy area. The others name none: 卑語 (vulgar words), 偏向表現 (biased
#: expression) and 違法行為 (illegal acts: five items, terrorism jokes to stock tips, no single area).
_JA_AREAS = {
    "category_差別": A.HATE_SPEECH,  # discrimination
    "category_迷惑行為": A.HARASSMENT,  # harassment, nuisance
    "category_猥褻": A.ADULT_SEXUAL,  # obscenity
    "category_出会い・プライバシー侵害": A.PRIVACY,  # solicitation, invasion of privacy
}
JA_CATEGORIES = (*_JA_AREAS, "category_卑語", "category_違法行為", "category_偏向表現")
_JA_SCOPE = frozenset({*_JA_AREAS.values(), A.NONE})


def map_japanese(levels: Mapping[str, int], categories: Mapping[str, int]) -> Labels:
    """The level with most votes (a tie goes to the less toxic level) decides, its vote share is the
    confidence: Not Toxic -> none/low; Hard to Say -> low, no area known; Toxic -> low and Very Toxic ->
    medium, with every area whose category got a vote (差別 hate_speech, 迷惑行為 harassment, 猥褻
    adult_sexual, 出会い・プライバシー侵害 privacy). A toxic item whose votes name no area (only vulgar
    words, bias or illegal acts) -> low, none of the areas."""
    votes = [levels[name] for name in JA_LEVELS]
    if any(v < 0 for v in (*votes, *categories.values())) or sum(votes) == 0:
        raise LabelError(f"level votes {votes} and category votes {dict(categories)} must be counts, some level's > 0")
    unknown = set(categories) - set(JA_CATEGORIES)
    if unknown:
        raise _unknown("category", sorted(unknown)[0])
    level = max(range(len(votes)), key=lambda i: (votes[i], -i))
    confidence = votes[level] / sum(votes)
    if JA_LEVELS[level] == "Not Toxic":
        return no_violation(_JA_SCOPE, confidence)
    if JA_LEVELS[level] == "Hard to Say":
        return partial(T.LOW, (), confidence)
    areas = {area for name, area in _JA_AREAS.items() if categories.get(name, 0) > 0}
    if not areas:
        return partial(T.LOW, _JA_SCOPE, confidence)
    return violation(areas, T.MEDIUM if JA_LEVELS[level] == "Very Toxic" else T.LOW, _JA_SCOPE, confidence)


@source(
    "japanese_toxic_inspection_ai", title="Japanese Toxicity Dataset, public subset (Inspection AI, NLP2023)",
    licence="Apache-2.0", kind=LicenceKind.PERMISSIVE,
    files=(SourceFile("subset.csv", "ja", "all", required=("text", *JA_LEVELS, *JA_CATEGORIES)),),
    mapping="Majority toxicity level (ties toward the less toxic; confidence = its vote share): Not Toxic -> "
    "none/low; Hard to Say -> low, areas unknown; Toxic -> low, Very Toxic -> medium, with each area whose "
    "category got a vote: discrimination -> hate_speech, harassment/nuisance -> harassment, obscenity -> "
    "adult_sexual, solicitation/privacy -> privacy; a toxic item with only vulgar, bias or illegal-act votes "
    "-> low, none of those areas. Scope: hate_speech, harassment, adult_sexual, privacy, none.",
)
def _japanese_rows(row: Row, file: SourceFile) -> list[Mapped]:
    levels = {name: _int(row, name) for name in JA_LEVELS}
    categories = {name: _int(row, name) for name in JA_CATEGORIES}
    return [Mapped(row["text"], map_japanese(levels, categories))]


# --- L-HSAB (Levantine) and T-HSAB (Tunisian) Arabic hate speech and abusive language (ar) ---------------

_HSAB = {
    # Abuse demeaning a person or group for race, gender, religion, disability, skin colour or belief.
    "hate": violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE),
    # Offensive, aggressive, insulting or profane: mostly insults at politicians, their supporters and other
    # commenters, some untargeted swearing. Hate is its own class, so it is a known negative here.
    # Harassment of a person is medium (the tier semantics); the low confidence carries the swearing.
    "abusive": violation(A.HARASSMENT, T.MEDIUM, TOXICITY_SCOPE, INSULT_OR_SWEARING_CONFIDENCE),
    "normal": no_violation(TOXICITY_SCOPE),
}


def map_hsab(label: str) -> Labels:
    """L-HSAB and T-HSAB share one scheme: hate -> hate_speech/medium; abusive -> harassment/medium at
    confidence 0.6 (insults and untargeted swearing are not told apart), not hate; normal -> none/low."""
    return _lookup(_HSAB, "class", label)


def _hsab_rows(text: str, label: str) -> RowMapper:
    def rows(row: Row, file: SourceFile) -> list[Mapped]:
        return [Mapped(row[text], map_hsab(row[label]))]

    return rows


_HSAB_MAPPING = ("hate -> hate_speech/medium; abusive -> harassment/medium (confidence 0.6: insults at people and "
                 "untargeted swearing are one class), hate_speech negative; normal -> none/low.")

source(
    "l_hsab_levantine_ar", title="L-HSAB: Levantine Arabic Twitter hate speech and abusive language",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    # A few tweets are quoted across several lines: read quoted.
    files=(SourceFile("L-HSAB.tsv", "ar", "all", delimiter="\t", required=("Tweet", "Class")),),
    mapping=_HSAB_MAPPING + " Syrian and Lebanese political tweets; sectarian nicknames for groups are hate.",
)(_hsab_rows("Tweet", "Class"))

source(
    "t_hsab_tunisian_ar", title="T-HSAB: Tunisian Arabic hate speech and abusive language",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=(SourceFile("T-HSAB.tsv", "ar", "all", delimiter="\t", quoted=False, required=("text", "label")),),
    mapping=_HSAB_MAPPING + " Tunisian (Derja) Facebook and YouTube comments, converted from the upstream "
    "workbook.",
)(_hsab_rows("text", "label"))


# --- OffensEval 2020 sub-task A: Arabic, Danish, Greek, Turkish -------------------------------------------

_OFFENSEVAL = {
    # Offensive or profane: insults, slurs, threats and untargeted swearing alike. Sub-tasks B and C (is it
    # targeted, at whom), which would tell them apart, are not in these files, so hate_speech stays unknown.
    # Harassment of a person is medium (the tier semantics); the low confidence carries the swearing.
    "OFF": violation(A.HARASSMENT, T.MEDIUM, {A.HARASSMENT}, INSULT_OR_SWEARING_CONFIDENCE),
    "NOT": no_violation(TOXICITY_SCOPE),
}
OFFENSEVAL_COLUMNS = ("id", "tweet", "subtask_a")
_HEADER = re.compile(r"id\ttweet\b")  # the Danish test header goes on "tweet   subtask_a"
# A record with runs of spaces where its tabs should be (the last row of the Danish training file).
_SPACED_RECORD = re.compile(r"(\S+) {2,}(\S.*?) {2,}(\S+)")
_LINE_BREAK = "<LF>"  # how the Arabic files encode a line break
_URL_TOKEN = re.compile(r"\bURL\b")
#: Texts of comments deleted before collection (Reddit): nothing left to label.
_DELETED = {"[deleted]", "[removed]"}


def map_offenseval(label: str) -> Labels:
    """OFF -> harassment/medium at confidence 0.6, hate_speech unknown (insults, slurs and untargeted swearing
    are one class); NOT -> none/low."""
    return _lookup(_OFFENSEVAL, "subtask_a", label)


def clean_offenseval_text(text: str) -> str:
    """Undo the release's encoding: ``<LF>`` markers become line breaks and the ``URL`` token our placeholder
    (``@USER`` is already a handle, which normalisation turns into ``@user``)."""
    return _URL_TOKEN.sub("[url]", text.replace(_LINE_BREAK, "\n"))


def _read_gold(path: Path) -> dict[str, str]:
    """``id,label`` lines without a header (the Turkish file has CRLF line ends)."""
    try:
        text = read_text(path)
    except MissingSourceError as exc:
        raise RowError(exc.path, f"gold labels: {exc.message}") from exc
    gold: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        tweet_id, comma, label = (part.strip() for part in line.partition(","))
        if not comma:
            raise RowError(path, f"expected 'id,label', found {line[:80]!r}", number)
        if tweet_id in gold:
            raise RowError(path, f"a second label for id {tweet_id}", number)
        gold[tweet_id] = label
    return gold


def offenseval_reader(gold: str | None = None) -> FileReader:
    """Reads an OffensEval TSV: a header naming ``id`` and ``tweet`` first, then one record per line, tabs
    between fields and no quoting. A training file's third field is ``subtask_a``. A test file has only
    ``id`` and ``tweet`` (the Danish header names a stray third column) and takes its label from ``gold``,
    the ``id,label`` file beside it, joined by id: every tweet needs one gold label, and every gold label a
    tweet. A record with spaces in place of its tabs is split on the runs of spaces."""

    def read(path: Path, file: SourceFile) -> Iterator[Row]:
        labels = _read_gold(path.parent / gold) if gold is not None else None
        width = 3 if labels is None else 2
        lines = read_text(path).split("\n")
        if not _HEADER.match(lines[0]):
            raise RowError(path, f"expected a header starting 'id<TAB>tweet', found {lines[0][:80]!r}", 1)
        for number, line in enumerate(lines[1:], start=2):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            fields = line.split("\t")
            spaced = _SPACED_RECORD.fullmatch(line) if len(fields) == 1 and width == 3 else None
            if spaced is not None:
                fields = list(spaced.groups())
            if len(fields) != width:
                raise RowError(path, f"expected {width} tab-separated fields, found {len(fields)}", number)
            values = dict(zip(OFFENSEVAL_COLUMNS, fields, strict=False))
            if labels is not None:
                label = labels.pop(values["id"], None)
                if label is None:
                    raise RowError(path, f"tweet {values['id']} has no label in {gold}", number)
                values["subtask_a"] = label
            yield Row(path, number, values)
        if labels:
            raise RowError(path.parent / str(gold), f"{len(labels)} gold label(s) have no tweet in {path.name}, "
                           f"e.g. id {next(iter(labels))}")

    return read


def _offenseval_file(name: str, language: str, split: str, gold: str | None = None) -> SourceFile:
    return SourceFile(name, language, split, is_test=gold is not None, reader=offenseval_reader(gold))


@source(
    "offenseval2020_ar_da_el_tr", title="OffensEval 2020 (SemEval-2020 Task 12) sub-task A: ar, da, el, tr",
    # One folder is one source, so the Danish part (DKHate, CC BY 4.0) takes the licence of the rest:
    # excluding unstated licences drops it too, which errs on the safe side.
    licence="unstated (research use); Danish part (DKHate): CC-BY-4.0", kind=LicenceKind.UNSTATED,
    files=(
        _offenseval_file("ar/offenseval-ar-training-v1.tsv", "ar", "train"),
        _offenseval_file("ar/offenseval-ar-dev-v1.tsv", "ar", "dev"),
        _offenseval_file("ar/test.tsv", "ar", "test", gold="arabic-goldlabels.csv"),
        _offenseval_file("da/offenseval-da-training-v1.tsv", "da", "train"),
        _offenseval_file("da/test.tsv", "da", "test", gold="danish-goldlabels.csv"),
        _offenseval_file("el/offenseval-greek-training-v1.tsv", "el", "train"),
        _offenseval_file("tr/offenseval-tr-training-v1.tsv", "tr", "train"),
        _offenseval_file("tr/test.tsv", "tr", "test", gold="turkish-goldlabels.tsv"),
    ),
    mapping="OFF -> harassment/medium (confidence 0.6; insults, slurs and untargeted swearing are one class, so "
    "hate_speech is unknown); NOT -> none/low. Test tweets are joined to their gold labels by id and kept as "
    "test (Greek has no trusted test labels); <LF> becomes a line break, URL our placeholder; a deleted "
    "Danish comment is skipped.",
)
def _offenseval_rows(row: Row, file: SourceFile) -> list[Mapped]:
    labels = map_offenseval(row["subtask_a"])
    text = row["tweet"]
    if text.strip() in _DELETED:
        return [Mapped(text, labels, skip_reason="deleted_comment")]
    return [Mapped(clean_offenseval_text(text), labels)]


# --- RUHSOLD, Roman Urdu hate speech and offensive language (ur-Latn) -------------------------------------

_RUHSOLD_FINE = {
    "2": violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE),  # religious hate
    "3": violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE),  # sexism
    # Abuse at a target: mostly a person, sometimes a group attacked for something other than religion or
    # gender (Indians, leftists), which has no class of its own: harassment, hate_speech unknown.
    "0": violation(A.HARASSMENT, T.MEDIUM, {A.HARASSMENT, A.NONE}, confidence=0.8),
    "4": no_violation(TOXICITY_SCOPE),  # profane, untargeted
    "1": no_violation(TOXICITY_SCOPE),  # normal
}
_RUHSOLD_COARSE = {
    # The union of task 2's 0, 2, 3 and 4; 86% of task 2's training rows of these are 0, 2 or 3 (medium).
    "0": partial(T.MEDIUM, (), confidence=0.85),
    "1": no_violation(TOXICITY_SCOPE),
}
#: Task 2's label -> task 1's (0 = abusive/offensive, 1 = normal: the inverted coding is the source's).
RUHSOLD_COARSE_OF_FINE = {"0": "0", "1": "1", "2": "0", "3": "0", "4": "0"}
_RUHSOLD_COLUMNS = ("text", "label")
_RUHSOLD_FINE_FILES = ("task_2_train.tsv", "task_2_test.tsv")


def map_ruhsold(label: str) -> Labels:
    """Task 2: 2 religious hate, 3 sexism -> hate_speech/medium; 0 abusive/offensive -> harassment/medium at
    confidence 0.8, hate_speech unknown; 4 profane/untargeted, 1 normal -> none/low."""
    return _lookup(_RUHSOLD_FINE, "task 2 label", label)


def map_ruhsold_coarse(label: str) -> Labels:
    """Task 1, for the texts task 2 lacks: 0 abusive/offensive -> medium, no area known, confidence 0.85;
    1 normal -> none/low."""
    return _lookup(_RUHSOLD_COARSE, "task 1 label", label)


def _ruhsold_mapper(folder: Path) -> RowMapper:
    # Both tasks label the same tweets, split differently. Task 2's labels are finer, so a task-1 row whose
    # text task 2 has is skipped (after checking the labels agree); task 1 adds only the texts task 2 lacks.
    fine: defaultdict[str, set[str]] = defaultdict(set)
    for name in _RUHSOLD_FINE_FILES:
        for row in iter_rows(folder / name, delimiter="\t", quoted=False, columns=_RUHSOLD_COLUMNS):
            fine[row["text"].strip()].add(row["label"])

    def rows(row: Row, file: SourceFile) -> list[Mapped]:
        text = row["text"]
        if file.name in _RUHSOLD_FINE_FILES:
            return [Mapped(text, map_ruhsold(row["label"]))]
        labels = map_ruhsold_coarse(row["label"])
        known = fine.get(text.strip())
        if not known:
            return [Mapped(text, labels)]
        if {RUHSOLD_COARSE_OF_FINE.get(label) for label in known} != {row["label"]}:
            raise LabelError(f"task 1 label {row['label']!r} contradicts task 2 label(s) {sorted(known)}")
        return [Mapped(text, labels, skip_reason="labelled_in_task_2")]

    return rows


def _ruhsold_file(name: str) -> SourceFile:
    split = name.removesuffix(".tsv")
    return SourceFile(name, "ur-Latn", split, is_test=name == "task_2_test.tsv", delimiter="\t", quoted=False,
                      columns=_RUHSOLD_COLUMNS)


SOURCES["roman_urdu_ruhsold"] = Source(
    "roman_urdu_ruhsold", title="RUHSOLD: Roman Urdu Hate-Speech and Offensive Language Dataset",
    licence="MIT", licence_kind=LicenceKind.PERMISSIVE,
    files=tuple(_ruhsold_file(name) for name in (*_RUHSOLD_FINE_FILES, "task_1_train.tsv",
                                                 "task_1_validation.tsv", "task_1_test.tsv")),
    mapping="Task 2 (fine): religious hate, sexism -> hate_speech/medium; abusive/offensive (targeted) -> "
    "harassment/medium (confidence 0.8, hate_speech unknown: group abuse on other grounds is in it too); "
    "profane/untargeted, normal -> none/low. Task 1 (coarse) only for the 796 texts task 2 "
    "lacks: abusive -> medium, area unknown (confidence 0.85), normal -> none/low; its other rows are skipped "
    "after checking they agree with task 2. task_2_test kept as test.",
    make_mapper=_ruhsold_mapper,
)


# --- ViHSD, Vietnamese hate speech detection (vi) ---------------------------------------------------------

_VIHSD = {
    "0": no_violation(TOXICITY_SCOPE),  # CLEAN
    # OFFENSIVE: profanity and vulgarity that attack no one in particular (the paper's definition), though
    # some rows do swear at the person addressed: low, not hate, harassment unknown.
    "1": partial(T.LOW, {A.HATE_SPEECH}),
    # HATE is the paper's attack on a person or a group; the rows are mostly insults at a commenter, a
    # celebrity or a politician, few at a group (a nationality, "reactionaries"), and some look benign:
    # harassment, hate_speech unknown, at a weight for that mix.
    "2": violation(A.HARASSMENT, T.MEDIUM, {A.HARASSMENT, A.NONE}, confidence=0.7),
}


def map_vihsd(label_id: str) -> Labels:
    """0 CLEAN -> none/low; 1 OFFENSIVE -> low, hate_speech negative, harassment unknown; 2 HATE ->
    harassment/medium at confidence 0.7, hate_speech unknown."""
    return _lookup(_VIHSD, "label_id", label_id)


@source(
    "vihsd_vi", title="ViHSD: Vietnamese Hate Speech Detection (UIT)", licence="unstated (research use only)",
    kind=LicenceKind.UNSTATED,
    files=(
        SourceFile("train.csv", "vi", "train", required=("free_text", "label_id")),
        SourceFile("dev.csv", "vi", "dev", required=("free_text", "label_id")),
        SourceFile("test.csv", "vi", "test", is_test=True, required=("free_text", "label_id")),
    ),
    mapping="CLEAN -> none/low; OFFENSIVE (untargeted profanity) -> low, hate_speech negative, harassment "
    "unknown; HATE (mostly insults at a person, some at a group) -> harassment/medium, confidence 0.7, "
    "hate_speech unknown. Official test file kept as test; dev joins the pool.",
)
def _vihsd_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["free_text"], map_vihsd(row["label_id"]))]
