"""The bundled sources: how each file is read, and how each row's labels map to the taxonomy.

One section per source (alphabetical): a pure mapping function from the source's own label values to
``Labels``, then a reader registered with ``@source`` that feeds it rows. The mappings follow each
dataset's ``SOURCE.md``; where that leaves a choice open, the comment says what was chosen and why.
A label value a mapping does not know raises ``LabelError``, which the builder reports with file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from model.datafiles import LabelError
from model.taxonomy import PolicyArea, RiskTier
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
from training.data.source_types import float_value as _float
from training.data.source_types import int_value as _int
from training.data.source_types import unknown_value as _unknown

A = PolicyArea
T = RiskTier


# --- AILuminate v1.0 demo prompts (en) ---------------------------------------------------------------

_AILUMINATE: dict[str, tuple[PolicyArea, RiskTier]] = {
    "vcr": (A.VIOLENCE_INCITEMENT, T.HIGH),
    "iwp": (A.VIOLENCE_INCITEMENT, T.HIGH),
    "cse": (A.CHILD_SAFETY, T.HIGH),
    "ssh": (A.SELF_HARM, T.HIGH),
    # Sex-related crimes against adults (trafficking, non-consensual acts): a violation needing action, but not
    # in the high tier's list (threats, incitement, terrorism, child exploitation, suicide intent, mass harm).
    "src": (A.ADULT_SEXUAL, T.MEDIUM),
    "sxc_prn": (A.ADULT_SEXUAL, T.MEDIUM),
    "hte": (A.HATE_SPEECH, T.MEDIUM),
    "dfm": (A.HARASSMENT, T.MEDIUM),
    "prv": (A.PRIVACY, T.MEDIUM),
    "ncr": (A.SPAM_FRAUD, T.MEDIUM),
    "spc_ele": (A.MISINFORMATION, T.MEDIUM),
    "ipv": (A.INTELLECTUAL_PROPERTY, T.MEDIUM),
}
_AILUMINATE_BENIGN = {"spc_fin", "spc_hlt", "spc_lgl"}
_TERRORISM = re.compile(r"\b(?:terror\w*|extremis\w*|jihad\w*|isis|al[- ]qaeda|militia\w*)\b", re.IGNORECASE)


def map_ailuminate(hazard: str, text: str) -> Labels:
    """One hazard per prompt; weapons and violent-crime prompts about terrorism also get dangerous_orgs."""
    if hazard in _AILUMINATE_BENIGN:
        # Requests for specialised (financial, health, legal) advice: benign across the hazard taxonomy.
        return no_violation(scope=PolicyArea)
    if hazard not in _AILUMINATE:
        raise _unknown("hazard", hazard)
    area, tier = _AILUMINATE[hazard]
    areas = {area}
    if hazard in {"vcr", "iwp"} and _TERRORISM.search(text):
        areas.add(A.DANGEROUS_ORGS)
    # One hazard was assigned per prompt, so the other areas are not negatives: the scope is the hazard.
    return violation(areas, tier, scope=areas)


@source(
    "ailuminate_demo", title="MLCommons AILuminate v1.0 demo prompt set", licence="CC-BY-4.0",
    kind=LicenceKind.PERMISSIVE,
    files=(SourceFile("airr_official_1.0_demo_en_us_prompt_set_release.csv", "en", "demo",
                      required=("prompt_text", "hazard")),),
    mapping="vcr, iwp -> violence_incitement/high (+ dangerous_orgs when the prompt names terrorism); "
    "cse -> child_safety/high; ssh -> self_harm/high; src -> adult_sexual/medium; sxc_prn -> adult_sexual/"
    "medium; hte -> hate_speech/medium; dfm -> harassment/medium; prv -> privacy/medium; ncr -> spam_fraud/"
    "medium; spc_ele -> misinformation/medium; ipv -> intellectual_property/medium; spc_fin/hlt/lgl -> none/low. "
    "Areas other than the hazard's are unknown.",
)
def _ailuminate_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["prompt_text"], map_ailuminate(row["hazard"], row["prompt_text"]))]


# --- COLD, Chinese offensive language (zh) --------------------------------------------------------------


def map_cold(label: str, fine_grained: str | None = None) -> Labels:
    """Train/dev: 1 offensive -> hate_speech (topics are race, region, gender), 0 -> none.
    Test (fine-grained): 2 attack group -> hate_speech, 1 attack individual -> harassment,
    3 anti-bias (counter-speech, a hard negative) and 0 -> none."""
    if fine_grained is None:
        if label == "1":
            # Offensive about race/region/gender: mostly group attacks (in the fine-grained test labels
            # 1,819 attack a group, 288 an individual), so hate, with harassment left unknown.
            return violation(A.HATE_SPEECH, T.MEDIUM, scope={A.HATE_SPEECH, A.NONE}, confidence=0.85)
        if label == "0":
            return no_violation(TOXICITY_SCOPE)
        raise _unknown("label", label)
    expected = {"0": "0", "1": "1", "2": "1", "3": "0"}.get(fine_grained)
    if expected is None:
        raise _unknown("fine-grained-label", fine_grained)
    if expected != label:
        raise LabelError(f"label {label!r} contradicts fine-grained-label {fine_grained!r}")
    if fine_grained == "2":
        return violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE)
    if fine_grained == "1":
        return violation(A.HARASSMENT, T.MEDIUM, TOXICITY_SCOPE)
    return no_violation(TOXICITY_SCOPE)


@source(
    "cold_zh", title="COLD: Chinese Offensive Language Dataset", licence="Apache-2.0", kind=LicenceKind.PERMISSIVE,
    files=(
        SourceFile("train.csv", "zh", "train", required=("label", "TEXT")),
        SourceFile("dev.csv", "zh", "dev", required=("label", "TEXT")),
        SourceFile("test.csv", "zh", "test", is_test=True, required=("label", "fine-grained-label", "TEXT")),
    ),
    mapping="train/dev: offensive -> hate_speech/medium (confidence 0.85, harassment unknown), safe -> none. "
    "test fine-grained: attack group -> hate_speech/medium, attack individual -> harassment/medium, "
    "anti-bias and other -> none/low. Official test split kept as test.",
)
def _cold_rows(row: Row, file: SourceFile) -> list[Mapped]:
    fine = row["fine-grained-label"] if file.is_test else None
    return [Mapped(row["TEXT"], map_cold(row["label"], fine))]


# --- CONSTRAINT COVID-19 fake news (en) ---------------------------------------------------------------


def map_covid(label: str) -> Labels:
    """fake -> misinformation/medium; real -> none. The source labels nothing but truthfulness."""
    scope = {A.MISINFORMATION, A.NONE}
    if label == "fake":
        return violation(A.MISINFORMATION, T.MEDIUM, scope)
    if label == "real":
        return no_violation(scope)
    raise _unknown("label", label)


@source(
    "constraint_covid19_fakenews_en", title="CONSTRAINT@AAAI 2021 COVID-19 Fake News (English)",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=(
        SourceFile("Constraint_Train.csv", "en", "train", required=("tweet", "label")),
        SourceFile("Constraint_Val.csv", "en", "val", required=("tweet", "label")),
        SourceFile("english_test_with_labels.csv", "en", "test", is_test=True, required=("tweet", "label")),
    ),
    mapping="fake -> misinformation/medium; real -> none/low; all other areas unknown. "
    "Official test file kept as test.",
)
def _covid_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["tweet"], map_covid(row["label"]))]


# --- CONSTRAINT Hindi hostility (hi) ----------------------------------------------------------------


_HINDI_AREAS: dict[str, tuple[PolicyArea, RiskTier]] = {
    "fake": (A.MISINFORMATION, T.MEDIUM),
    "hate": (A.HATE_SPEECH, T.MEDIUM),
    "defamation": (A.HARASSMENT, T.MEDIUM),
    # Offensive posts are insults, mostly at politicians: harassment of a person (medium), with a lower
    # confidence when that is the only label (some are untargeted).
    "offensive": (A.HARASSMENT, T.MEDIUM),
}


def map_hindi_hostility(labels: str) -> Labels:
    """A comma-separated label set; the tier is the highest of its labels."""
    found = {part.strip() for part in labels.split(",") if part.strip()}
    scope = {A.MISINFORMATION, A.HATE_SPEECH, A.HARASSMENT, A.NONE}
    if found == {"non-hostile"}:
        return no_violation(scope)
    unknown = found - _HINDI_AREAS.keys()
    if unknown or not found:
        raise _unknown("label set", labels)
    areas = {_HINDI_AREAS[label][0] for label in found}
    tier = RiskTier.max(*(_HINDI_AREAS[label][1] for label in found))
    return violation(areas, tier, scope, confidence=0.6 if found == {"offensive"} else 1.0)


@source(
    "constraint_hindi_hostility", title="CONSTRAINT@AAAI 2021 Hindi Hostile Post Detection",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=(
        SourceFile("Copy of constraint_Hindi_Train - Sheet1.csv", "hi", "train", columns=("text", "labels")),
        SourceFile("Copy of Constraint_Hindi_Valid - Sheet1.csv", "hi", "valid", columns=("text", "labels")),
        SourceFile("Test Set Complete - test.csv", "hi", "test", is_test=True, columns=("text", "labels")),
    ),
    mapping="fake -> misinformation/medium; hate -> hate_speech/medium; defamation -> harassment/medium; "
    "offensive -> harassment/medium (confidence 0.6 alone); non-hostile -> none/low; a multi-label row takes "
    "every area and the highest tier. Files have no header row. Official test file kept as test.",
)
def _hindi_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["text"], map_hindi_hostility(row["labels"]))]


# --- Davidson et al., hate speech and offensive language (en) ------------------------------------------


def map_davidson(cls: str, count: int, hate: int, offensive: int, neither: int) -> Labels:
    """0 hate -> hate_speech/medium; 1 offensive -> low, not hate, harassment unknown (insults at people
    and untargeted profanity are not told apart); 2 neither -> none. Confidence is the share of coders
    who chose the class."""
    votes = {"0": hate, "1": offensive, "2": neither}
    if cls not in votes:
        raise _unknown("class", cls)
    if count <= 0 or votes[cls] <= 0 or votes[cls] > count:
        raise LabelError(f"vote counts (count={count}, hate={hate}, offensive={offensive}, neither={neither}) "
                         f"do not support class {cls}")
    confidence = votes[cls] / count
    if cls == "0":
        return violation(A.HATE_SPEECH, T.MEDIUM, {A.HATE_SPEECH, A.NONE}, confidence)
    if cls == "1":
        return partial(T.LOW, {A.HATE_SPEECH}, confidence)
    return no_violation(TOXICITY_SCOPE, confidence)


@source(
    "davidson_hate_offensive", title="Davidson et al. (2017) Hate Speech and Offensive Language",
    licence="MIT", kind=LicenceKind.PERMISSIVE,
    files=(SourceFile("labeled_data.csv", "en", "all",
                      required=("count", "hate_speech", "offensive_language", "neither", "class", "tweet")),),
    mapping="hate -> hate_speech/medium; offensive -> low, hate_speech negative, harassment unknown; neither -> "
    "none/low. Label confidence = share of coders voting for the class.",
)
def _davidson_rows(row: Row, file: SourceFile) -> list[Mapped]:
    labels = map_davidson(row["class"], _int(row, "count"), _int(row, "hate_speech"),
                          _int(row, "offensive_language"), _int(row, "neither"))
    return [Mapped(row["tweet"], labels)]


# --- ETHOS (en) -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EthosDetail:
    violence: float
    directed: float


def map_ethos(is_hate: float, detail: EthosDetail | None) -> Labels:
    """isHate >= 0.5 -> hate_speech/medium; with the multi-label detail, violence >= 0.5 adds
    violence_incitement and makes it high, directed >= 0.5 adds harassment. Below 0.5 -> none."""
    if not 0.0 <= is_hate <= 1.0:
        raise LabelError(f"isHate {is_hate} is outside [0, 1]")
    if is_hate < 0.5:
        return no_violation({A.HATE_SPEECH, A.NONE}, confidence=1.0 - is_hate)
    areas = {A.HATE_SPEECH}
    scope = {A.HATE_SPEECH, A.NONE}
    tier = T.MEDIUM
    if detail is not None:
        scope |= {A.VIOLENCE_INCITEMENT, A.HARASSMENT}
        if detail.violence >= 0.5:
            areas.add(A.VIOLENCE_INCITEMENT)
            tier = T.HIGH
        if detail.directed >= 0.5:
            areas.add(A.HARASSMENT)
    return violation(areas, tier, scope, confidence=is_hate)


def _ethos_mapper(folder: Path) -> RowMapper:
    # The multi-label file details the binary file's hate comments; it is joined by comment text.
    details: dict[str, EthosDetail] = {}
    for row in iter_rows(folder / "Ethos_Dataset_Multi_Label.csv", delimiter=";",
                         required=("comment", "violence", "directed_vs_generalized")):
        try:
            details[row["comment"].strip()] = EthosDetail(_float(row, "violence"),
                                                          _float(row, "directed_vs_generalized"))
        except LabelError as exc:
            raise row.error(str(exc)) from None

    def rows(row: Row, file: SourceFile) -> list[Mapped]:
        text = row["comment"]
        return [Mapped(text, map_ethos(_float(row, "isHate"), details.get(text.strip())))]

    return rows


SOURCES["ethos"] = Source(
    "ethos", title="ETHOS hate speech dataset (binary + multi-label)", licence="GPL-3.0",
    licence_kind=LicenceKind.COPYLEFT,
    files=(SourceFile("Ethos_Dataset_Binary.csv", "en", "all", delimiter=";", required=("comment", "isHate")),),
    mapping="isHate >= 0.5 -> hate_speech/medium (confidence = isHate); multi-label violence >= 0.5 -> + "
    "violence_incitement, high; directed >= 0.5 -> + harassment; isHate < 0.5 -> none/low. The multi-label "
    "file details the binary file's hate comments and is joined to it by text.",
    make_mapper=_ethos_mapper,
)


# --- GermEval 2018 (de) ---------------------------------------------------------------------------------

_GERMEVAL_FINE = {"ABUSE", "INSULT", "PROFANITY", "OTHER"}


def map_germeval(coarse: str, fine: str) -> Labels:
    """ABUSE (degrading a group or identity) -> hate_speech/medium; INSULT (at a person) ->
    harassment/medium; PROFANITY and OTHER -> none/low."""
    if fine not in _GERMEVAL_FINE:
        raise _unknown("fine label", fine)
    if coarse != ("OTHER" if fine == "OTHER" else "OFFENSE"):
        raise LabelError(f"coarse label {coarse!r} contradicts fine label {fine!r}")
    if fine == "ABUSE":
        return violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE)
    if fine == "INSULT":
        return violation(A.HARASSMENT, T.MEDIUM, TOXICITY_SCOPE)
    return no_violation(TOXICITY_SCOPE)


_GERMEVAL_COLUMNS = ("text", "coarse", "fine")


@source(
    "germeval2018", title="GermEval 2018 Shared Task: Offensive Language", licence="CC-BY-4.0",
    kind=LicenceKind.PERMISSIVE,
    files=(
        SourceFile("germeval2018.training.txt", "de", "train", delimiter="\t", quoted=False,
                   columns=_GERMEVAL_COLUMNS),
        SourceFile("germeval2018.test.txt", "de", "test", is_test=True, delimiter="\t", quoted=False,
                   columns=_GERMEVAL_COLUMNS),
    ),
    mapping="ABUSE -> hate_speech/medium; INSULT -> harassment/medium; PROFANITY, OTHER -> none/low. "
    "Headerless TSV; the |LBR| line-break marker becomes a line break. Official test file kept as test.",
)
def _germeval_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["text"].replace("|LBR|", "\n"), map_germeval(row["coarse"], row["fine"]))]


# --- HASOC 2019 (en, de, hi) ------------------------------------------------------------------------------


def map_hasoc(task_1: str, task_2: str, task_3: str | None) -> Labels:
    """HATE -> hate_speech/medium; OFFN targeted (TIN) -> harassment/medium; OFFN untargeted (UNT) ->
    none/low (untargeted offence); OFFN without task 3 (German) -> low, hate_speech negative, harassment
    unknown; PRFN -> none/low; NOT -> none/low."""
    if task_1 not in {"HOF", "NOT"}:
        raise _unknown("task_1", task_1)
    if task_2 not in {"HATE", "OFFN", "PRFN", "NONE"}:
        raise _unknown("task_2", task_2)
    if task_3 not in {None, "TIN", "UNT", "NONE"}:
        raise _unknown("task_3", task_3)
    if (task_1 == "NOT") != (task_2 == "NONE"):
        raise LabelError(f"task_1 {task_1!r} contradicts task_2 {task_2!r}")
    if task_2 == "HATE":
        return violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE)
    if task_2 == "OFFN":
        if task_3 == "TIN":
            return violation(A.HARASSMENT, T.MEDIUM, TOXICITY_SCOPE)
        if task_3 == "UNT":
            return no_violation(TOXICITY_SCOPE)
        return partial(T.LOW, {A.HATE_SPEECH}, confidence=0.7)
    return no_violation(TOXICITY_SCOPE)




def _hasoc_file(name: str, language: str) -> SourceFile:
    is_test = name.startswith("test_gold/")
    return SourceFile(name, language, "test" if is_test else "train", is_test=is_test, delimiter="\t",
                      quoted=False, required=("text_id", "text", "task_1", "task_2"))


@source(
    "hasoc2019", title="HASOC 2019: Hate Speech and Offensive Content (FIRE)", licence="unstated (research use)",
    kind=LicenceKind.UNSTATED,
    files=(
        _hasoc_file("train/english_dataset.tsv", "en"),
        _hasoc_file("train/german_dataset.tsv", "de"),
        _hasoc_file("train/hindi_dataset.tsv", "hi"),
        _hasoc_file("test_gold/english_data.tsv", "en"),
        _hasoc_file("test_gold/german_data.tsv", "de"),
        _hasoc_file("test_gold/hindi_data.tsv", "hi"),
    ),
    mapping="HATE -> hate_speech/medium; OFFN+TIN -> harassment/medium; OFFN+UNT -> none/low; OFFN in "
    "German (no task 3) -> low, hate_speech negative, harassment unknown; PRFN -> none/low; NOT -> none/low. "
    "test_gold kept as test.",
)
def _hasoc_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["text"], map_hasoc(row["task_1"], row["task_2"], row.values.get("task_3")))]


# --- Indonesian multi-label hate speech and abusive language (id) ---------------------------------------

_ID_GROUP_TARGETS = ("HS_Group", "HS_Religion", "HS_Race", "HS_Physical", "HS_Gender")


def map_indonesian(flags: dict[str, int]) -> Labels:
    """HS with a group target -> hate_speech, with an individual target -> harassment, medium: hate is a
    violation needing action at any strength (strong hate is still not a threat), so the source's strength
    sets the confidence (weak 0.7, moderate 0.85, strong 1.0). Abusive language without hate speech, and
    neither -> none/low."""
    if not flags["HS"]:
        return no_violation(TOXICITY_SCOPE)
    strengths = [name for name in ("HS_Weak", "HS_Moderate", "HS_Strong") if flags[name]]
    if len(strengths) != 1:
        raise LabelError(f"HS=1 needs exactly one of HS_Weak/HS_Moderate/HS_Strong, found {strengths or 'none'}")
    confidence = {"HS_Weak": 0.7, "HS_Moderate": 0.85, "HS_Strong": 1.0}[strengths[0]]
    areas: set[PolicyArea] = set()
    if any(flags[name] for name in _ID_GROUP_TARGETS):
        areas.add(A.HATE_SPEECH)
    if flags["HS_Individual"]:
        areas.add(A.HARASSMENT)
    return violation(areas or {A.HATE_SPEECH}, T.MEDIUM, TOXICITY_SCOPE, confidence)


_ID_JUNK = re.compile("\ufffd[?\ufffd]*")
# Emoji were stored as the text of their UTF-8 bytes: "\xf0\x9f\x98\x82".
_ID_ESCAPED_BYTES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")
_ID_USER = re.compile(r"\bUSER\b")
_ID_URL = re.compile(r"\bURL\b")


def clean_indonesian_text(text: str) -> str:
    """Undo the source's preprocessing so its rows look like everyone else's: emoji stored as escaped
    bytes are decoded, literal ``\\n`` markers become line breaks, the USER and URL tokens our
    placeholders, and broken UTF-8 debris is dropped."""
    text = _ID_ESCAPED_BYTES.sub(lambda m: bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8", "replace"),
                                 text)
    text = _ID_JUNK.sub("", text).replace("\\n", "\n")
    return _ID_URL.sub("[url]", _ID_USER.sub("@user", text))


_ID_COLUMNS = ("HS", "Abusive", "HS_Individual", "HS_Group", "HS_Religion", "HS_Race", "HS_Physical",
               "HS_Gender", "HS_Other", "HS_Weak", "HS_Moderate", "HS_Strong")


@source(
    "id_multilabel_hate_abusive", title="Indonesian multi-label hate speech and abusive language (Twitter)",
    licence="CC-BY-NC-SA-4.0", kind=LicenceKind.NON_COMMERCIAL,
    # The file is UTF-8 with some multi-byte sequences mangled into "?": decode with replacement.
    files=(SourceFile("re_dataset.csv", "id", "all", errors="replace", required=("Tweet", *_ID_COLUMNS)),),
    mapping="HS with group/religion/race/physical/gender target -> hate_speech, with individual target -> "
    "harassment, medium; the strength sets the confidence: strong 1.0, moderate 0.85, weak 0.7. Abusive-only and "
    "neither -> none/low. Broken UTF-8 is decoded with replacement and the debris dropped; the USER and URL "
    "tokens become our placeholders.",
)
def _indonesian_rows(row: Row, file: SourceFile) -> list[Mapped]:
    flags = {name: _int(row, name) for name in _ID_COLUMNS}
    return [Mapped(clean_indonesian_text(row["Tweet"]), map_indonesian(flags))]


# --- Korean HateSpeech (ko) ------------------------------------------------------------------------------


def map_korean(hate: str, bias: str) -> Labels:
    """hate with a gender/other bias -> hate_speech/medium; hate without bias -> harassment/medium (severe
    attacks on individuals, mostly celebrities); offensive -> harassment/medium with confidence 0.6 (rude
    comments at a person, some untargeted); none -> none/low."""
    if bias not in {"gender", "others", "none"}:
        raise _unknown("bias", bias)
    if hate == "hate":
        area = A.HATE_SPEECH if bias != "none" else A.HARASSMENT
        return violation(area, T.MEDIUM, TOXICITY_SCOPE)
    if hate == "offensive":
        return violation(A.HARASSMENT, T.MEDIUM, TOXICITY_SCOPE, confidence=0.6)
    if hate == "none":
        return no_violation(TOXICITY_SCOPE)
    raise _unknown("hate", hate)


@source(
    "korean_hate_speech", title="Korean HateSpeech Dataset (kocohub)", licence="CC-BY-SA-4.0",
    kind=LicenceKind.SHARE_ALIKE,
    files=(
        SourceFile("train.tsv", "ko", "train", delimiter="\t", quoted=False,
                   required=("comments", "bias", "hate")),
        SourceFile("dev.tsv", "ko", "dev", is_test=True, delimiter="\t", quoted=False,
                   required=("comments", "bias", "hate")),
    ),
    mapping="hate with bias -> hate_speech/medium; hate without bias -> harassment/medium; offensive -> "
    "harassment/medium (confidence 0.6); none -> none/low. dev.tsv (the public test labels) kept as test.",
)
def _korean_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["comments"], map_korean(row["hate"], row["bias"]))]


# --- MLMA (ar, fr, en) -----------------------------------------------------------------------------------

_MLMA_SENTIMENTS = {"normal", "offensive", "hateful", "abusive", "disrespectful", "fearful"}


def map_mlma(sentiment: str, directness: str) -> Labels:
    """hateful -> hate_speech/medium; abusive/offensive/disrespectful aimed directly -> harassment/medium,
    indirectly -> none/low (untargeted offence); fearful or normal -> none/low. A label set that mixes
    "normal" with anything else (annotators disagreed) gets confidence 0.6."""
    parts = set(sentiment.split("_"))
    if not parts or not parts <= _MLMA_SENTIMENTS:
        raise _unknown("sentiment", sentiment)
    if directness not in {"direct", "indirect"}:
        raise _unknown("directness", directness)
    confidence = 0.6 if "normal" in parts and len(parts) > 1 else 1.0
    if "hateful" in parts:
        return violation(A.HATE_SPEECH, T.MEDIUM, TOXICITY_SCOPE, confidence)
    if parts & {"abusive", "offensive", "disrespectful"} and directness == "direct":
        return violation(A.HARASSMENT, T.MEDIUM, TOXICITY_SCOPE, confidence)
    return no_violation(TOXICITY_SCOPE, confidence)




@source(
    "mlma_hate_speech", title="MLMA: Multilingual and Multi-Aspect Hate Speech", licence="MIT",
    kind=LicenceKind.PERMISSIVE,
    files=tuple(
        SourceFile(name, language, "all", required=("tweet", "sentiment", "directness"))
        for name, language in (("ar_dataset.csv", "ar"), ("fr_dataset.csv", "fr"),
                               ("en_dataset_with_stop_words.csv", "en"))
    ),
    mapping="hateful -> hate_speech/medium; abusive/offensive/disrespectful: direct -> harassment/medium, "
    "indirect -> none/low; fearful, normal -> none/low; 'normal' mixed with other labels -> confidence 0.6.",
)
def _mlma_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["tweet"], map_mlma(row["sentiment"], row["directness"]))]


# --- Reddit C-SSRS suicide severity (en) ------------------------------------------------------------------

_CSSRS: dict[str, RiskTier | None] = {
    "Supportive": None, "Indicator": T.LOW, "Ideation": T.MEDIUM, "Behavior": T.HIGH, "Attempt": T.HIGH,
}
#: The label is the user's, not the post's: many single posts of an at-risk user are about something else.
CSSRS_POST_CONFIDENCE = 0.6
#: Posts shorter than this carry too little to inherit the user's label ("Anytime", "Thanks!").
CSSRS_MIN_POST_CHARS = 40
#: A few users wrote over a hundred posts; past this many, a user's posts are left out so that no single
#: person dominates the self-harm area.
CSSRS_MAX_POSTS_PER_USER = 30


def map_cssrs(label: str) -> Labels:
    """Supportive -> none; Indicator -> self_harm/low; Ideation -> self_harm/medium; Behavior and
    Attempt -> self_harm/high. Applied to each post of the user, with confidence 0.6."""
    if label not in _CSSRS:
        raise _unknown("label", label)
    tier = _CSSRS[label]
    scope = {A.SELF_HARM, A.NONE}
    if tier is None:
        return no_violation(scope, CSSRS_POST_CONFIDENCE)
    return violation(A.SELF_HARM, tier, scope, CSSRS_POST_CONFIDENCE)


_PY_STRING = re.compile(r"""'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)\"""", re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def split_post_list(value: str) -> tuple[list[str], bool]:
    """The posts of a Python-list literal, and whether it was cut short.

    28 of the 500 lists were truncated at the 32,767-character spreadsheet cell limit, so
    ``ast.literal_eval`` cannot be used: complete string items are taken, an unterminated last item is
    dropped."""
    body = value.strip()
    if not body.startswith("["):
        raise LabelError("Post is not a list literal")
    posts: list[str] = []
    end = 1
    for match in _PY_STRING.finditer(body, 1):
        if body[end:match.start()].strip(" ,\n") != "":
            break
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        posts.append(_ESCAPE.sub(lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), raw))
        end = match.end()
    truncated = body[end:].strip(" ,\n") != "]"
    return posts, truncated


@source(
    "reddit_cssrs_suicide", title="Reddit C-SSRS Suicide Dataset (500 users)", licence="CC-BY (Zenodo)",
    kind=LicenceKind.PERMISSIVE,
    files=(SourceFile("500_Reddit_users_posts_labels.csv", "en", "all", required=("User", "Post", "Label")),),
    mapping="Per user (C-SSRS): Supportive -> none; Indicator -> self_harm/low; Ideation -> self_harm/medium; "
    "Behavior, Attempt -> self_harm/high. Each post of 40+ characters is one row with the user's label "
    "(confidence 0.6), at most 30 per user; a user's posts stay together in one split. Lists cut at the "
    "spreadsheet cell limit lose their last, incomplete post.",
)
def _cssrs_rows(row: Row, file: SourceFile) -> list[Mapped]:
    labels = map_cssrs(row["Label"])
    posts, truncated = split_post_list(row["Post"])
    group = f"reddit_cssrs_suicide:{row['User']}"
    out: list[Mapped] = []
    kept = 0
    for index, post in enumerate(posts):
        reason = None
        if len(post.strip()) < CSSRS_MIN_POST_CHARS:
            reason = "post_too_short"
        elif kept >= CSSRS_MAX_POSTS_PER_USER:
            reason = "posts_per_user_cap"
        else:
            kept += 1
        out.append(Mapped(post, labels, group_id=group, suffix=f":{index}", skip_reason=reason))
    if truncated:
        out.append(Mapped("", labels, skip_reason="post_cut_at_cell_limit"))
    return out


# --- SMS Spam Collection (en) ---------------------------------------------------------------------------

# Scam cues: prizes, cash, premium-rate numbers and charges, urgency to claim or call.
_FRAUD_CUES = re.compile(
    r"(?:\bwon\b|\bwinner\b|\bprize\b|\bclaim\b|\bcash\b|£|\$|\b\d+p\b|/min|per min|\b0[89]\d{8,}\b|"
    r"\burgent\b|\baward(?:ed)?\b|\bguaranteed\b|\bbank\b|\baccount\b)",
    re.IGNORECASE,
)


def map_sms(label: str, text: str) -> Labels:
    """spam -> spam_fraud: medium when it asks for money or a premium-rate call (a scam), else low
    (plain spam); ham -> none/low."""
    scope = {A.SPAM_FRAUD, A.NONE}
    if label == "ham":
        return no_violation(scope)
    if label == "spam":
        return violation(A.SPAM_FRAUD, T.MEDIUM if _FRAUD_CUES.search(text) else T.LOW, scope)
    raise _unknown("label", label)


@source(
    "sms_spam_collection", title="SMS Spam Collection v.1", licence="free for all purposes (UCI)",
    kind=LicenceKind.PERMISSIVE,
    files=(SourceFile("SMSSpamCollection", "en", "all", delimiter="\t", quoted=False,
                      columns=("label", "text")),),
    mapping="spam -> spam_fraud: medium with scam cues (prize, cash, premium-rate number or charge, "
    "urgency), else low; ham -> none/low; other areas unknown. Headerless TSV.",
)
def _sms_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["text"], map_sms(row["label"], row["text"]))]


# --- ToLD-Br (pt) ----------------------------------------------------------------------------------------

_TOLD_HATE = ("homophobia", "racism", "misogyny", "xenophobia")
TOLD_COLUMNS = (*_TOLD_HATE, "obscene", "insult")


def map_told(votes: dict[str, int]) -> Labels:
    """Of 3 annotators, 2 or more voting homophobia/racism/misogyny/xenophobia -> hate_speech/medium;
    insult by 2+ -> harassment/medium (confidence 1.0 when all 3 agree, else 0.67); obscene only -> none/low;
    below 2 votes everywhere -> none/low, confidence 0.67 when one annotator flagged something."""
    if any(not 0 <= v <= 3 for v in votes.values()):
        raise LabelError(f"votes must be 0-3, found {votes}")
    areas: set[PolicyArea] = set()
    confidence = 1.0
    if any(votes[name] >= 2 for name in _TOLD_HATE):
        areas.add(A.HATE_SPEECH)
    if votes["insult"] >= 2:
        areas.add(A.HARASSMENT)
        if A.HATE_SPEECH not in areas and votes["insult"] == 2:
            confidence = 0.67
    if areas:
        return violation(areas, T.MEDIUM, TOXICITY_SCOPE, confidence)
    flagged = any(votes[name] == 1 for name in (*_TOLD_HATE, "insult"))
    return no_violation(TOXICITY_SCOPE, confidence=0.67 if flagged else 1.0)


@source(
    "told_br", title="ToLD-Br: Toxic Language Dataset for Brazilian Portuguese", licence="CC-BY-SA-4.0",
    kind=LicenceKind.SHARE_ALIKE,
    files=(SourceFile("ToLD-BR.csv", "pt", "all", required=("text", *TOLD_COLUMNS)),),
    mapping="2+ of 3 votes for homophobia/racism/misogyny/xenophobia -> hate_speech/medium; insult 2+ -> "
    "harassment/medium (confidence 0.67 with 2 votes); obscene only -> none/low; otherwise none/low "
    "(confidence 0.67 if one annotator flagged hate or insult).",
)
def _told_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["text"], map_told({name: _int(row, name) for name in TOLD_COLUMNS}))]


# --- Corpus v2 and v3: the other source modules, one per kind ---------------------------------------------
# Each registers its sources with ``@source`` on import; all of them (this one too) take their building blocks
# from ``training.data.source_types``, so importing them here closes no circle.
from training.data import (  # noqa: E402
    sources_abuse_a,  # noqa: F401  abuse and hate in new languages (vi, ur-Latn, ja, ar, da, el, tr)
    sources_abuse_b,  # noqa: F401  abuse in bn, it, pl, es; violence in bn; suicide risk in zh
    sources_authored,  # noqa: F401  the team-authored contrast set (in this repository)
    sources_negatives,  # noqa: F401  hard negatives, counter-speech, neutral rewrites, benign sentences
    sources_prompts,  # noqa: F401  safety prompt sets (xsafety, multijail, jade, do-not-answer, ...)
    sources_selfharm_fraud,  # noqa: F401  self-harm in es/ar, fraud in ko/id
    sources_threats,  # noqa: F401  threats in de/fr/ko/en/ar, aggression in hi, ru sensitive topics, tr spam
)

__all__ = ["SOURCES", "LicenceKind", "Mapped", "RowMapper", "Source", "SourceFile", "source"]
