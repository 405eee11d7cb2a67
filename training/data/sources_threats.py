"""Corpus v3 sources (threats): threats and violence in German, French, Korean, English and Arabic, aggression
in Hindi and Hinglish, Russian sensitive topics, and Turkish SMS spam (``../shared/datasets``, added 2026-12-07).

The same layout as ``training.data.sources``: per source a pure mapping from the source's own label values to
``Labels`` (raising ``LabelError`` on a value it does not know), then the registered row function. The mappings
follow each dataset's ``SOURCE.md``; where it says "check text", a small, tested cue list decides, and the
comment says why. Each source is split by the group its ``SOURCE.md`` names: GermEval 2025 by tweet id (its
four files share tweets), CyberAgressionAdo by chat, ThreatGram by channel and month.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from model.datafiles import LabelError
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
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
from training.data.source_types import unknown_value as _unknown
from training.data.sources_negatives import json_array_reader

#: Threat sources speak about violence and harassment: other areas stay unknown.
THREAT_SCOPE = frozenset({A.VIOLENCE_INCITEMENT, A.HARASSMENT, A.NONE})


# --- GermEval 2025/2026 harmful content (de) -----------------------------------------------------------------

GERMEVAL25_FILES = ("vio_train_26.csv", "dbo_train_26.csv", "c2a_train_26.csv", "def_train.csv")
_GERMEVAL25_COLUMN = {"vio_train_26.csv": "vio", "dbo_train_26.csv": "dbo", "c2a_train_26.csv": "c2a",
                      "def_train.csv": "DEF"}
_VIO = {"nothing", "prospensity", "call2violence", "support", "glorification", "other"}
_DBO = {"nothing", "criticism", "agitation", "subversive"}
_BOOL = {"TRUE": True, "FALSE": False}


def map_germeval2025(vio: str | None, dbo: str | None, c2a: str | None, defamation: str | None) -> Labels:
    """One tweet's labels from the files that hold it (None where a file does not).

    vio call2violence or prospensity (own intent to use violence) -> violence_incitement/high; support or
    glorification -> violence_incitement/medium, high with a call to action; other -> violence_incitement/
    medium, confidence 0.6. dbo subversive (violent overthrow) -> dangerous_orgs/high; agitation ->
    dangerous_orgs/medium. DEF -> harassment/medium. A call to action alone is no violation (mostly legal
    protest). Benign tweets are negative only for the areas their files label, at confidence 0.7: the source
    says many of its "nothing" tweets are still xenophobic, which it did not annotate (hate stays unknown)."""
    if vio is not None and vio not in _VIO:
        raise _unknown("vio", vio)
    if dbo is not None and dbo not in _DBO:
        raise _unknown("dbo", dbo)
    for name, value in (("c2a", c2a), ("DEF", defamation)):
        if value is not None and value not in _BOOL:
            raise _unknown(name, value)
    scope: set[A] = set()
    if vio is not None:
        scope.add(A.VIOLENCE_INCITEMENT)
    if dbo is not None:
        scope.add(A.DANGEROUS_ORGS)
    if defamation is not None:
        scope.add(A.HARASSMENT)
    areas: set[A] = set()
    tiers = [T.LOW]
    confidence = 1.0
    if vio in {"call2violence", "prospensity"}:
        areas.add(A.VIOLENCE_INCITEMENT)
        tiers.append(T.HIGH)
    elif vio in {"support", "glorification"}:
        areas.add(A.VIOLENCE_INCITEMENT)
        tiers.append(T.HIGH if c2a == "TRUE" else T.MEDIUM)
    elif vio == "other":
        areas.add(A.VIOLENCE_INCITEMENT)
        tiers.append(T.MEDIUM)
        confidence = 0.6
    if dbo == "subversive":
        areas.add(A.DANGEROUS_ORGS)
        tiers.append(T.HIGH)
    elif dbo == "agitation":
        areas.add(A.DANGEROUS_ORGS)
        tiers.append(T.MEDIUM)
    if defamation == "TRUE":
        areas.add(A.HARASSMENT)
        tiers.append(T.MEDIUM)
    if areas:
        return violation(areas, T.max(*tiers), scope, confidence)
    if not scope:  # only the call-to-action file holds it: no area judged
        return partial(T.LOW, (), confidence=0.7)
    return no_violation(scope, confidence=0.7)


def _germeval2025_mapper(folder: Path) -> RowMapper:
    # The four files label one pool of tweets: join them on id, and emit each tweet once, from the first
    # file (in GERMEVAL25_FILES order) that holds it.
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    first_file: dict[str, str] = {}
    for name in GERMEVAL25_FILES:
        column = _GERMEVAL25_COLUMN[name]
        for row in iter_rows(folder / name, delimiter=";", required=("id", "description", column)):
            labels[row["id"]][column] = row[column]
            first_file.setdefault(row["id"], name)

    def rows(row: Row, file: SourceFile) -> list[Mapped]:
        tweet = row["id"]
        found = labels.get(tweet, {})
        mapped = map_germeval2025(found.get("vio"), found.get("dbo"), found.get("c2a"), found.get("DEF"))
        skip = None if first_file.get(tweet) == file.name else "labelled_with_first_file"
        return [Mapped(row["description"], mapped, group_id=f"germeval2025:{tweet}", skip_reason=skip)]

    return rows


SOURCES["germeval2025_harmful_content_de"] = Source(
    "germeval2025_harmful_content_de", title="GermEval 2025/2026 Harmful Content Detection (German)",
    licence="GPL-3.0", licence_kind=LicenceKind.COPYLEFT,
    files=tuple(SourceFile(name, "de", name.split("_")[0], delimiter=";",
                           required=("id", "description", _GERMEVAL25_COLUMN[name])) for name in GERMEVAL25_FILES),
    mapping="Joined on tweet id over the four files, one row per tweet. vio call2violence, prospensity -> "
    "violence_incitement/high; support, glorification -> violence_incitement/medium (high with a call to "
    "action); other -> violence_incitement/medium (confidence 0.6); dbo subversive -> dangerous_orgs/high, "
    "agitation -> dangerous_orgs/medium; DEF -> harassment/medium; otherwise low, negative for the areas the "
    "tweet's files label (confidence 0.7; hate unknown: many 'nothing' tweets are xenophobic). Split by id.",
    make_mapper=_germeval2025_mapper,
)


# --- CyberAgressionAdo-v1 (fr) -------------------------------------------------------------------------------

#: Violence in a threat message ("je vais te démonter ta gueule", "on va t'envoyer une équipe"): the source's
#: threat class also holds intimidation without violence ("je vais le dire à tout le monde"), harassment.
_FR_VIOLENCE = re.compile(
    r"\b(?:tu[eé]r?\w*|crev\w*|frapp\w*|d[ée]mont\w*|d[ée]fonc\w*|but(?:er|e|é)\w*|niqu\w*|cass\w*|"
    r"couteau\w*|flingu\w*|arme\w*|[ée]quipe|gueule|tabass\w*|cogn\w*|br[uû]l\w*|mort\w*|sang)\b",
    re.IGNORECASE)
_FR_ABUSE = {"name_calling", "denigration", "blaming", "aggression-other"}


def map_cyberagression(verbal_abuse: str, hate_speech: str, text: str) -> Labels:
    """threat with a violence cue -> violence_incitement/high, confidence 0.7 (role-play by teenagers, often
    hyperbolic); threat without one -> harassment/medium; name calling, denigration, blaming, other aggression
    -> harassment/medium; hate speech yes -> + hate_speech/medium; none -> none/low (victims' and defenders'
    turns: counter-speech hard negatives)."""
    if hate_speech not in {"yes", "no"}:
        raise _unknown("HATE_SPEECH", hate_speech)
    areas: set[A] = {A.HATE_SPEECH} if hate_speech == "yes" else set()
    scope = TOXICITY_SCOPE | {A.VIOLENCE_INCITEMENT}
    if verbal_abuse == "threat":
        if _FR_VIOLENCE.search(text):
            return violation(areas | {A.VIOLENCE_INCITEMENT}, T.HIGH, scope, confidence=0.7)
        return violation(areas | {A.HARASSMENT}, T.MEDIUM, scope)
    if verbal_abuse in _FR_ABUSE:
        return violation(areas | {A.HARASSMENT}, T.MEDIUM, scope)
    if verbal_abuse != "none":
        raise _unknown("VERBAL_ABUSE", verbal_abuse)
    if areas:
        return violation(areas, T.MEDIUM, scope)
    return no_violation(scope)


CYBERAGRESSION_CHATS = (
    "scenario_ethnicity_Sylvia_Adrien", "scenario_ethnicity_Sylvia_Adrien_bis",
    "scenario_ethnicity_Sylvia_Adrien_third",
    "scenario_ethnicity_fatima", "scenario_ethnicity_fatima_bis", "scenario_ethnicity_sylvia_sophie",
    "scenario_homophobia_julie", "scenario_homophobia_julie_bis", "scenario_homophobia_paul",
    "scenario_homophobia_paul_bis", "scenario_obesity_brice", "scenario_obesity_brice_bis",
    "scenario_obesity_brice_third", "scenario_obesity_francois", "scenario_obesity_francoise", "scenario_obesity_zoe",
    "scenario_obesity_zoe_bis", "scenario_religion_fatimah", "scenario_religion_fatimah_bis",
)


@source(
    "cyberagressionado_fr", title="CyberAgressionAdo-v1: French teen cyber-aggression role-play chats",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=tuple(SourceFile(f"{chat}.csv", "fr", "all", required=("TEXT", "HATE_SPEECH", "VERBAL_ABUSE"))
                for chat in CYBERAGRESSION_CHATS),
    mapping="VERBAL_ABUSE threat with a violence cue (tuer, crever, frapper, démonter, défoncer, couteau, "
    "équipe...) -> violence_incitement/high (confidence 0.7: teen role-play); threat without one, name_calling, "
    "denigration, blaming, aggression-other -> harassment/medium; HATE_SPEECH yes -> + hate_speech/medium; none "
    "-> none/low (victims' and defenders' turns). One group per chat, so a chat stays in one split.",
)
def _cyberagression_rows(row: Row, file: SourceFile) -> list[Mapped]:
    text = row["TEXT"].strip()
    labels = map_cyberagression(row["VERBAL_ABUSE"].strip(), row["HATE_SPEECH"].strip(), text)
    return [Mapped(text, labels, group_id=f"cyberagressionado_fr:{file.name.removesuffix('.csv')}")]


# --- DKTC, Korean threatening conversations (ko) -------------------------------------------------------------

#: Violence in an extortion dialogue (kill, hit, knife, bury, break): the source says extortion is a violent
#: threat "where violence is threatened, otherwise harassment (check text)".
_KO_VIOLENCE = re.compile(r"죽|패버|패 줄|때리|때려|맞고|맞을|칼|찌르|찔러|묻어|부러|밟아|혼나")
_DKTC = {"협박 대화": "threat", "갈취 대화": "extortion", "직장 내 괴롭힘 대화": "workplace",
         "기타 괴롭힘 대화": "other"}


def map_dktc(cls: str, text: str) -> Labels:
    """협박 (threat: killing, bombing, harming family) -> violence_incitement/high; 갈취 (extortion) with a
    violence cue -> violence_incitement/high, without -> harassment/medium; 직장 내 괴롭힘 (workplace
    bullying) and 기타 괴롭힘 (other bullying) -> harassment/medium. Positives only; areas outside threats and
    harassment unknown."""
    kind = _DKTC.get(cls)
    if kind is None:
        raise _unknown("class", cls)
    if kind == "threat" or (kind == "extortion" and _KO_VIOLENCE.search(text)):
        return violation(A.VIOLENCE_INCITEMENT, T.HIGH, THREAT_SCOPE - {A.HARASSMENT})
    return violation(A.HARASSMENT, T.MEDIUM, THREAT_SCOPE - {A.VIOLENCE_INCITEMENT})


@source(
    "dktc_ko", title="DKTC: Dataset of Korean Threatening Conversations", licence="CC-BY-NC-SA-4.0",
    kind=LicenceKind.NON_COMMERCIAL,
    files=(SourceFile("train.csv", "ko", "train", required=("idx", "class", "conversation")),),
    mapping="Positives only. 협박 (threat) -> violence_incitement/high; 갈취 (extortion) with a violence cue "
    "(죽, 때리, 칼, 찌르, 묻어...) -> violence_incitement/high, without -> harassment/medium; workplace and other "
    "bullying -> harassment/medium. Turn breaks kept; the model reads a dialogue's start.",
)
def _dktc_rows(row: Row, file: SourceFile) -> list[Mapped]:
    text = row["conversation"]
    return [Mapped(text, map_dktc(row["class"], text))]


# --- ThreatGram 101 (en) -------------------------------------------------------------------------------------


def map_threatgram(label: str) -> Labels:
    """2 (violent threat or wish: hang, execute, shoot) -> violence_incitement/high; 1 (non-violent punitive
    demands: jail, arrest, impeach) -> low, violence negative, confidence 0.8 ("Gitmo" replies sit on the
    border); 0 -> low, violence negative, confidence 0.7 (many are abusive or conspiratorial: harassment and
    misinformation unknown). Label meanings inferred by the dataset's copier (SOURCE.md)."""
    if label == "2":
        return violation(A.VIOLENCE_INCITEMENT, T.HIGH, {A.VIOLENCE_INCITEMENT})
    if label == "1":
        return partial(T.LOW, {A.VIOLENCE_INCITEMENT}, confidence=0.8)
    if label == "0":
        return partial(T.LOW, {A.VIOLENCE_INCITEMENT}, confidence=0.7)
    raise _unknown("Label", label)


def threatgram_group(channel: str, reply_date: str) -> str:
    """Channel and month: the channel is a strong confound (two channels hold 58% of rows) and replies of one
    thread repeat each other, so a group never spans splits."""
    try:
        month = datetime.fromtimestamp(int(reply_date), UTC).strftime("%Y-%m")
    except (ValueError, OverflowError, OSError):
        raise LabelError(f"replyDate {reply_date!r} is not a unix time") from None
    return f"threatgram101_en:{channel.removesuffix('.json')}:{month}"


@source(
    "threatgram101_en", title="ThreatGram 101: extreme Telegram replies with threat levels",
    licence="CC-BY-4.0 (per copier's README)", kind=LicenceKind.PERMISSIVE,
    files=(SourceFile("Labeled_15076.json", "en", "all", reader=json_array_reader,
                      required=("reply", "Label", "telegramChannel", "replyDate")),),
    mapping="2 (violent threat or wish) -> violence_incitement/high; 1 (non-violent punitive demands: jail, "
    "impeach) -> low, violence negative, confidence 0.8; 0 -> low, violence negative, confidence 0.7; other "
    "areas unknown (many replies are abusive). Grouped by channel and month.",
)
def _threatgram_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["reply"], map_threatgram(row["Label"]),
                   group_id=threatgram_group(row["telegramChannel"], row["replyDate"]))]


# --- OSACT 2022 Arabic fine-grained hate speech (ar) ---------------------------------------------------------

_OSACT_HATE = {"HS1", "HS2", "HS4", "HS5", "HS6"}  # race, religion, disability, social class, gender
OSACT_COLUMNS = ("id", "tweet", "off", "hs", "vlg", "vio")


def map_osact(off: str, hs: str, vlg: str, vio: str) -> Labels:
    """VIO (threats, calls to hurt) -> violence_incitement/high, confidence 0.8; HS1/2/4/5/6 -> hate_speech/
    medium; HS3 (ideology, sports club) -> harassment/medium, confidence 0.7; offensive or vulgar only -> low,
    hate negative, harassment unknown (like Davidson's offensive class); NOT_OFF -> none/low."""
    for value, allowed, name in ((off, {"OFF", "NOT_OFF"}, "OFF"), (vlg, {"VLG", "NOT_VLG"}, "VLG"),
                                 (vio, {"VIO", "NOT_VIO"}, "VIO"), (hs, {*_OSACT_HATE, "HS3", "NOT_HS"}, "HS")):
        if value not in allowed:
            raise _unknown(name, value)
    if off == "NOT_OFF":
        if {hs, vlg, vio} != {"NOT_HS", "NOT_VLG", "NOT_VIO"}:
            raise LabelError(f"NOT_OFF contradicts {hs}/{vlg}/{vio}")
        return no_violation(TOXICITY_SCOPE | {A.VIOLENCE_INCITEMENT})
    scope = TOXICITY_SCOPE | {A.VIOLENCE_INCITEMENT}
    areas: set[A] = set()
    tier, confidence = T.MEDIUM, 1.0
    if hs in _OSACT_HATE:
        areas.add(A.HATE_SPEECH)
    elif hs == "HS3":
        areas.add(A.HARASSMENT)
        confidence = 0.7
    if vio == "VIO":
        areas.add(A.VIOLENCE_INCITEMENT)
        tier, confidence = T.HIGH, 0.8
    if areas:
        return violation(areas, tier, scope, confidence)
    return partial(T.LOW, {A.HATE_SPEECH, A.VIOLENCE_INCITEMENT}, confidence=0.7)


@source(
    "osact2022_ar", title="OSACT 2022 Arabic offensive language and fine-grained hate speech",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=(
        SourceFile("OSACT2022-sharedTask-train.txt", "ar", "train", delimiter="\t", quoted=False,
                   columns=OSACT_COLUMNS),
        SourceFile("OSACT2022-sharedTask-dev.txt", "ar", "dev", delimiter="\t", quoted=False, columns=OSACT_COLUMNS),
    ),
    mapping="VIO -> violence_incitement/high (confidence 0.8); HS1/2/4/5/6 (race, religion, disability, class, "
    "gender) -> hate_speech/medium; HS3 (ideology, sports) -> harassment/medium (confidence 0.7); OFF or VLG "
    "only -> low, hate and violence negative, harassment unknown (confidence 0.7); NOT_OFF -> none/low. "
    "Headerless TSV.",
)
def _osact_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["tweet"], map_osact(row["off"], row["hs"], row["vlg"], row["vio"]))]


# --- TRAC-1 aggression, Hindi and Hinglish (hi, hi-Latn) -----------------------------------------------------

#: Calls for or threats of violence in Hindi and Hinglish: aggression is broader than threats, so only these
#: make an overtly aggressive comment high.
_HI_VIOLENCE = re.compile(
    r"\b(?:maar\s*(?:do|dalo|denge|dunga|doonga|dena)|maro|jala\s*(?:do|denge|dalo)|kaat\s*(?:do|denge|dalo)|"
    r"goli\s*(?:maar|mar)\w*|khatam\s*kar\s*(?:do|denge|dunga)|fansi\s*(?:do|par)|latka\s*do|ukhaad|tod\s*denge)\b"
    r"|मार\s*(?:दो|डालो|देंगे|दूंगा)|जला\s*(?:दो|देंगे)|काट\s*(?:दो|देंगे)|गोली\s*मार|फांसी",
    re.IGNORECASE)
_DEVANAGARI = re.compile("[\u0900-\u097f]")


def map_trac(label: str, text: str) -> Labels:
    """OAG (overtly aggressive) with a call for or threat of violence -> violence_incitement/high, confidence
    0.6; other OAG -> harassment/medium, confidence 0.7 (hate unknown: communal targets are not told apart);
    CAG (covert, sarcastic hostility) -> low, confidence 0.5, no area known; NAG -> none/low."""
    if label == "OAG":
        if _HI_VIOLENCE.search(text):
            return violation(A.VIOLENCE_INCITEMENT, T.HIGH, THREAT_SCOPE - {A.NONE, A.HARASSMENT}, confidence=0.6)
        return violation(A.HARASSMENT, T.MEDIUM, {A.HARASSMENT}, confidence=0.7)
    if label == "CAG":
        return partial(T.LOW, (), confidence=0.5)
    if label == "NAG":
        return no_violation(TOXICITY_SCOPE | {A.VIOLENCE_INCITEMENT}, confidence=0.9)
    raise _unknown("aggression-level", label)


def trac_language(text: str) -> str:
    """``hi`` for text with Devanagari, ``hi-Latn`` for romanised Hindi (Hinglish), as ``ur-Latn`` is Roman Urdu."""
    return "hi" if _DEVANAGARI.search(text) else "hi-Latn"


_TRAC_COLUMNS = ("id", "text", "label")


@source(
    "trac1_aggression_hi", title="TRAC-1 aggression identification, Hindi and Hinglish Facebook comments",
    licence="CC-BY-NC-SA-4.0 (task README; repo says Apache-2.0)", kind=LicenceKind.NON_COMMERCIAL,
    files=(
        SourceFile("agr_hi_train.csv", "hi-Latn", "train", columns=_TRAC_COLUMNS, languages=("hi", "hi-Latn")),
        SourceFile("agr_hi_dev.csv", "hi-Latn", "dev", columns=_TRAC_COLUMNS, languages=("hi", "hi-Latn")),
    ),
    mapping="OAG with a call for or threat of violence (maar do, jala do, goli maar, फांसी...) -> "
    "violence_incitement/high (confidence 0.6); other OAG -> harassment/medium (confidence 0.7, hate unknown); "
    "CAG -> low, confidence 0.5, no area known; NAG -> none/low (confidence 0.9). Language hi for Devanagari "
    "text, hi-Latn for romanised Hindi. Treated as non-commercial (the task README's licence).",
)
def _trac_rows(row: Row, file: SourceFile) -> list[Mapped]:
    text = row["text"]
    return [Mapped(text, map_trac(row["label"].strip(), text), language=trac_language(text))]


# --- Russian sensitive topics and inappropriateness (ru) ------------------------------------------------------

#: Topic -> area when the message is inappropriate; topics with no area of ours (politics, drugs, slavery,
#: social injustice) make no violation.
RU_TOPIC_AREAS: dict[str, A] = {
    "suicide": A.SELF_HARM, "terrorism": A.DANGEROUS_ORGS, "weapons": A.VIOLENCE_INCITEMENT,
    "offline_crime": A.VIOLENCE_INCITEMENT, "racism": A.HATE_SPEECH, "sexism": A.HATE_SPEECH,
    "sexual_minorities": A.HATE_SPEECH, "religion": A.HATE_SPEECH, "body_shaming": A.HARASSMENT,
    "health_shaming": A.HARASSMENT, "pornography": A.ADULT_SEXUAL, "prostitution": A.ADULT_SEXUAL,
    "online_crime": A.SPAM_FRAUD, "gambling": A.SPAM_FRAUD,
}
RU_TOPICS = ("offline_crime", "online_crime", "drugs", "gambling", "pornography", "prostitution", "slavery",
             "suicide", "terrorism", "weapons", "body_shaming", "health_shaming", "politics", "racism", "religion",
             "sexual_minorities", "sexism", "social_injustice")
#: Weak labels: a topic is not a violation, and inappropriateness is a reputational notion.
RU_CONFIDENCE = 0.6


def map_ru_sensitive(inappropriate: float, topics: set[str]) -> Labels | None:
    """Inappropriate (>= 0.5) on a topic with an area -> those areas, medium, confidence 0.6; appropriate
    (< 0.2) -> low, negative for the areas of its topics (neutral talk of suicide, war, weapons: hard negatives),
    confidence 0.8. None (leave the row out) in between, or when inappropriate on topics with no area of ours."""
    if not 0.0 <= inappropriate <= 1.0:
        raise LabelError(f"inappropriate {inappropriate} is outside [0, 1]")
    unknown = topics - set(RU_TOPICS)
    if unknown:
        raise _unknown("topic", sorted(unknown)[0])
    areas = {RU_TOPIC_AREAS[t] for t in topics if t in RU_TOPIC_AREAS}
    if inappropriate < 0.2:
        return no_violation(areas | {A.NONE}, confidence=0.8)
    if inappropriate < 0.5 or not areas:
        return None
    return violation(areas, T.MEDIUM, areas, confidence=RU_CONFIDENCE)


@source(
    "ru_sensitive_topics_appropriateness", title="Russian sensitive topics and inappropriate messages (Skoltech)",
    licence="CC-BY-NC-SA-4.0", kind=LicenceKind.NON_COMMERCIAL,
    files=(
        SourceFile("appropriateness_val.csv", "ru", "val", required=("text", "inappropriate", *RU_TOPICS)),
        SourceFile("appropriateness_test.csv", "ru", "test", required=("text", "inappropriate", *RU_TOPICS)),
    ),
    mapping="Weak (a topic is not a violation). Appropriateness files only: inappropriate >= 0.5 on suicide -> "
    "self_harm, terrorism -> dangerous_orgs, weapons/offline_crime -> violence_incitement, racism/sexism/sexual "
    "minorities/religion -> hate_speech, body/health shaming -> harassment, pornography/prostitution -> "
    "adult_sexual, online crime/gambling -> spam_fraud: medium, confidence 0.6; inappropriate < 0.2 -> low, "
    "negative for its topics' areas, confidence 0.8; rows in between, or inappropriate on politics, drugs, "
    "slavery or injustice alone, left out. The topics-only file is not read (no inappropriateness score).",
)
def _ru_sensitive_rows(row: Row, file: SourceFile) -> list[Mapped]:
    topics = {t for t in RU_TOPICS if _float(row, t) >= 0.5}
    labels = map_ru_sensitive(_float(row, "inappropriate"), topics)
    if labels is None:
        return [Mapped(row["text"], no_violation(()), skip_reason="uncertain_or_no_area")]
    return [Mapped(row["text"], labels)]


# --- Turkish SMS collection (tr) -------------------------------------------------------------------------------

#: Fraud cues in Turkish spam: illegal betting and casino bonuses, prizes, loans, urgent links (often ASCII-folded).
_TR_FRAUD = re.compile(
    r"bahis|bet\w*|casino|kumar|bonus|freebet|kazan(?:d[ıi]n[ıi]z|an)|hediye|[öo]d[üu]l|kredi|bor[çc]|"  # noqa: RUF001
    r"acil|hemen\s+t[ıi]kla|[şs]ifre|hesab[ıi]n[ıi]z", re.IGNORECASE)  # noqa: RUF001


def map_turkish_sms(group: str, text: str) -> Labels:
    """1 (Spam) -> spam_fraud: medium with fraud cues (betting, casino bonus, prize, loan, password), else low
    (operator and shop promotions); 2 (Normal) -> none/low."""
    scope = {A.SPAM_FRAUD, A.NONE}
    if group == "2":
        return no_violation(scope)
    if group == "1":
        return violation(A.SPAM_FRAUD, T.MEDIUM if _TR_FRAUD.search(text) else T.LOW, scope)
    raise _unknown("Group", group)


@source(
    "turkish_sms_collection_tr", title="TurkishSMSCollection: Turkish SMS spam (Karasoy & Balli 2021)",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=(SourceFile("TurkishSMSCollection.csv", "tr", "all", delimiter=";", required=("Message", "Group")),),
    mapping="Spam -> spam_fraud: medium with fraud cues (bahis, casino, bonus, kazandiniz, odul, kredi, sifre...), "
    "else low (promotions); Normal -> none/low; other areas unknown.",
)
def _turkish_sms_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["Message"], map_turkish_sms(row["Group"].strip(), row["Message"]))]
