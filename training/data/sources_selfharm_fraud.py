"""Corpus v2 sources (selfharm_fraud): self-harm in Spanish and Arabic tweets, fraud in Korean voice-phishing
call transcripts and Indonesian SMS.

Each source labels one area, so its scope is that area and ``none``; every other area stays unknown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from model.datafiles import LabelError
from model.schema import MAX_TEXT_CHARS
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from model.text import normalize_text
from training.data.labels import Labels, no_violation, violation
from training.data.readers import Row
from training.data.source_types import (
    LicenceKind,
    Mapped,
    SourceFile,
    source,
)
from training.data.source_types import unknown_value as _unknown

SELF_HARM_SCOPE = frozenset({A.SELF_HARM, A.NONE})
SPAM_SCOPE = frozenset({A.SPAM_FRAUD, A.NONE})


def _lookup(table: Mapping[str, Labels], what: str, value: str) -> Labels:
    """The labels of a source whose label column alone decides them."""
    try:
        return table[value]
    except KeyError:
        raise _unknown(what, value) from None


# --- Spanish suicidal-intent tweets (es) --------------------------------------------------------------------

_SPANISH_SUICIDE = {
    "1": violation(A.SELF_HARM, T.HIGH, SELF_HARM_SCOPE),
    # Many 0 rows hold the same search phrases used casually, hyperbolically or about others: hard negatives.
    "0": no_violation(SELF_HARM_SCOPE),
}


def map_spanish_suicide(suicidio: str) -> Labels:
    """1 (suicidal intent) -> self_harm/high; 0 -> none/low. The source labels nothing but suicidal intent."""
    return _lookup(_SPANISH_SUICIDE, "suicidio", suicidio)


@source(
    "spanish_suicide_tweets_es", title="Spanish suicidal-intent tweets (Valeriano et al. 2020)",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=(SourceFile("suicidio_notacion.csv", "es", "all", required=("frase", "tweet_clean", "suicidio")),),
    mapping="suicidio 1 (suicidal intent) -> self_harm/high; 0 -> none/low (many hold the same suicide-related "
    "search phrases used casually: hard negatives); areas other than self_harm unknown. Texts are the source's "
    "lower-cased, punctuation-free tweets cut at about 120 characters.",
)
def _spanish_suicide_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["tweet_clean"], map_spanish_suicide(row["suicidio"]))]


# --- Arabic suicide-related tweets, 5 annotators (ar) -------------------------------------------------------

ARABIC_ANNOTATORS = tuple(f"Annotator {n}" for n in range(1, 6))
# First-person suicidal statements: "I will kill myself" (MSA and dialect futures of انتحر, or قتل نفسي),
# "I want to kill myself", "I think / thought about suicide".
_AR_SUICIDE_VERB = "[أا]نتحر"
_ARABIC_FIRST_PERSON = re.compile(
    rf"\b(?:س{_AR_SUICIDE_VERB}|[هح]نتحر|را?ح {_AR_SUICIDE_VERB}"
    rf"|(?:[أا]ريد|[أا]بي|[أا]بغى|ودي|بدي) (?:[أا]ن )?{_AR_SUICIDE_VERB}"
    r"|(?:[أا]فكر|فكرت) (?:في |ب)ال[إا]نتحار|(?:س[أا]قتل|[هح]قتل) نفسي)"
)
#: Of the 15 majority-positive tweets the cue matches, about 9 are the author's own ideation or intent; the
#: rest quote someone else (news, lyrics).
ARABIC_FIRST_PERSON_CONFIDENCE = 0.6


def arabic_vote_share(votes: Sequence[str]) -> float:
    """The share of annotators voting 1 (suicide-related) among those who voted; an empty cell abstains."""
    if any(vote not in {"0", "1", ""} for vote in votes):
        raise _unknown("annotator votes", tuple(votes))
    cast = [vote for vote in votes if vote]
    if not cast:
        raise LabelError("no annotator voted")
    return cast.count("1") / len(cast)


def map_arabic_suicide(votes: Sequence[str], text: str) -> Labels:
    """A majority voting suicide-related -> self_harm/low, confidence the vote share; with a first-person
    statement of suicidal thought or intent (a text cue) -> self_harm/medium, confidence 0.6 x the share.
    Otherwise (a tie included) -> none/low, confidence the share voting normal.

    "Suicide-related" is a topic, not a risk: most positives are news of a suicide, statistics or
    commentary, which are low (news, discussion) in the tier semantics. The source never labels intent, so
    no row is high; a cue-matched first-person statement is raised to medium only, as ideation."""
    share = arabic_vote_share(votes)
    if share <= 0.5:
        return no_violation(SELF_HARM_SCOPE, confidence=1.0 - share)
    if _ARABIC_FIRST_PERSON.search(text):
        return violation(A.SELF_HARM, T.MEDIUM, SELF_HARM_SCOPE, ARABIC_FIRST_PERSON_CONFIDENCE * share)
    return violation(A.SELF_HARM, T.LOW, SELF_HARM_SCOPE, share)


@source(
    "arabic_suicide_tweets_ar", title="Arabic suicide-related tweets, 5 annotators (Baghdadi et al. 2022)",
    licence="CC-BY-NC-SA-4.0", kind=LicenceKind.NON_COMMERCIAL,
    files=(SourceFile("انتحار_filtered_tweets.csv", "ar", "all", required=("tweet", *ARABIC_ANNOTATORS)),),
    mapping="Weak: 5 annotators mark suicide-related 0/1 (a topic, mostly news of a suicide; empty cells "
    "abstain). Majority suicide-related -> self_harm/low, confidence = vote share; with a first-person "
    "statement of suicidal thought or intent (text cue) -> self_harm/medium, confidence 0.6 x vote share; "
    "otherwise (ties included) -> none/low, confidence = share voting normal. Never high: the source does "
    "not label intent. Areas other than self_harm unknown.",
)
def _arabic_suicide_rows(row: Row, file: SourceFile) -> list[Mapped]:
    votes = [row[name].strip() for name in ARABIC_ANNOTATORS]
    return [Mapped(row["tweet"], map_arabic_suicide(votes, row["tweet"]))]


# --- KorCCVi voice-phishing call transcripts (ko) -----------------------------------------------------------

_KORCCVI = {"1": violation(A.SPAM_FRAUD, T.MEDIUM, SPAM_SCOPE)}
# A turn (one line) or a sentence ending in . ? ! inside a long turn.
_SENTENCE_BREAK = re.compile(r"\n|(?<=[.?!])\s+")


def map_korccvi(label: str) -> Labels:
    """1 (vishing: impersonated banks, prosecutors, loan agents asking for transfers or ID numbers) ->
    spam_fraud/medium. Positives only: the source has no benign calls."""
    return _lookup(_KORCCVI, "label", label)


def split_windows(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """The text whole when its normalised form fits ``limit``; else consecutive windows of whole sentences
    (turns, or sentences within a turn), each fitting ``limit``, as few as fit and of about equal length, so
    that no window is a short tail of closing pleasantries without the scam. A single sentence longer than
    ``limit`` is a window of its own (the builder then skips it as too long)."""
    if len(normalize_text(text)) <= limit:
        return [text]
    sentences = [s for s in _SENTENCE_BREAK.split(text) if s.strip()]
    sizes = [len(normalize_text(s)) + 1 for s in sentences]  # + 1: the space the break becomes
    count = math.ceil(sum(sizes) / limit)
    target = sum(sizes) / count
    windows: list[list[str]] = [[]]
    size = 0
    for sentence, n in zip(sentences, sizes, strict=True):
        # Close a window before it would overflow, and, until the last window, at the break nearest the
        # target (the last takes the rest, so no short tail is left over).
        if windows[-1] and (size + n > limit or (len(windows) < count and size + n / 2 > target)):
            windows.append([])
            size = 0
        windows[-1].append(sentence)
        size += n
    return ["\n".join(window) for window in windows]


@source(
    "korccvi_vishing_ko", title="KorCCVi: Korean voice-phishing call transcripts (positive class)",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=(SourceFile("df_data_vishing.csv", "ko", "all", required=("", "transcript", "label")),),
    mapping="Every transcript (label 1, vishing) -> spam_fraud/medium; other areas unknown (positives only: "
    "pair with benign Korean text). A transcript is one row when it fits the 10,000-character text limit; "
    "the 16 longer ones are cut into windows of whole turns or sentences of about equal length, the windows "
    "of one call sharing a group (one split).",
)
def _korccvi_rows(row: Row, file: SourceFile) -> list[Mapped]:
    labels = map_korccvi(row["label"])
    group = f"korccvi_vishing_ko:{row['']}"  # the upstream index column: one id per call
    windows = split_windows(row["transcript"])
    if len(windows) == 1:
        return [Mapped(windows[0], labels, group_id=group)]
    return [Mapped(window, labels, group_id=group, suffix=f":w{index}") for index, window in enumerate(windows)]


# --- Indonesian SMS spam: normal / fraud / promo (id) -------------------------------------------------------

_INDONESIAN_SMS = {
    "0": no_violation(SPAM_SCOPE),
    "1": violation(A.SPAM_FRAUD, T.MEDIUM, SPAM_SCOPE),
    # Operator and commercial advertising: plain spam, which the tier semantics put at low.
    "2": violation(A.SPAM_FRAUD, T.LOW, SPAM_SCOPE),
}


def map_indonesian_sms(label: str) -> Labels:
    """0 normal (personal messages) -> none/low; 1 penipuan (fake prizes, pulsa requests, shady loans) ->
    spam_fraud/medium; 2 promo -> spam_fraud/low."""
    return _lookup(_INDONESIAN_SMS, "label", label)


@source(
    "indonesian_sms_spam_id", title="Indonesian SMS spam: normal / fraud / promo (dataset_sms_spam_v1)",
    licence="unstated (research use)", kind=LicenceKind.UNSTATED,
    files=(SourceFile("dataset_sms_spam_v1.csv", "id", "all", required=("teks", "label")),),
    mapping="0 normal -> none/low; 1 fraud (penipuan) -> spam_fraud/medium; 2 promo (operator and commercial "
    "advertising) -> spam_fraud/low; other areas unknown.",
)
def _indonesian_sms_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return [Mapped(row["teks"], map_indonesian_sms(row["label"]))]
