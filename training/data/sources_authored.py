"""The team-authored multilingual contrast set (``training/data/authored/<lang>.jsonl``, in this repository).

No public source has threats, suicide plans, grooming or recruitment next to their harmless look-alikes in the
languages our markets speak, so the team wrote them: original text, never copied, translated or paraphrased from
any evaluation set. Each harmful row has a low-risk contrast that shares its words but not its harm (``pair_id``);
a pair stays in one split. Four whole languages (``HELD_OUT_LANGUAGES``) form a source of their own,
``authored_heldout``, which the corpus holds out (``training.data.build.OOD_SOURCES``): the transfer test.

Rows (see ``data_cards/corpus.md``, "Team-authored contrast set"): ``id``, ``pair_id``, ``language`` (ISO 639-1),
``script`` (ISO 15924), ``tier``, ``areas`` (``["none"]`` for low), ``behaviour`` (``BEHAVIOURS``), ``register``,
``text`` and ``source`` (always ``authored``). Every label is the taxonomy's own convention, so the set's labels
decide every area (nothing unknown). A malformed row is an error naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from model.datafiles import LabelError, RowError, iter_jsonl
from model.taxonomy import PolicyArea as A
from model.taxonomy import RiskTier as T
from training.data.labels import Labels, no_violation, violation
from training.data.readers import Row
from training.data.source_types import LicenceKind, Mapped, SourceFile, source
from training.data.source_types import unknown_value as _unknown

AUTHORED_DIR = Path(__file__).resolve().parent / "authored"
#: Every language of the set: all of our language markets' languages.
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "pl", "ru", "uk", "tr", "ar", "hi", "ur", "bn", "ja", "ko",
             "zh", "th", "vi", "id", "ms", "sw", "tl")
#: Kept out of training, validation and calibration: four languages from four families (Germanic, Slavic in
#: Cyrillic, Bantu, Austronesian), none of which the authored training rows cover.
HELD_OUT_LANGUAGES = ("nl", "uk", "sw", "tl")
#: Behaviour -> the tier its rows carry.
BEHAVIOURS: dict[str, T] = {
    **dict.fromkeys(("threat_direct", "threat_implied", "threat_conditional", "incitement_group", "terror_support",
                     "suicide_selfharm", "grooming", "doxxing_call", "weapons_explosives"), T.HIGH),
    **dict.fromkeys(("hate_group", "harassment_targeted", "scam_phishing", "sextortion", "health_misinfo",
                     "privacy_or_copyright_complaint"), T.MEDIUM),
    **dict.fromkeys(("news_violence", "counter_speech", "negation", "recovery_helpseeking", "idiom_hyperbole",
                     "games_sports", "fiction_history", "profanity_untargeted", "identity_statement",
                     "support_message"), T.LOW),
}
REQUIRED = ("id", "pair_id", "language", "script", "tier", "areas", "behaviour", "register", "text", "source")
REGISTERS = frozenset({"chat", "dm", "comment", "social_post", "forum", "sms", "email", "review", "report"})
#: Romanised Hindi and Urdu get the corpus' own language codes (as Roman Urdu's ``ur-Latn``).
_ROMANISED = frozenset({"hi", "ur"})


def jsonl_reader(path: Path, file: SourceFile) -> Iterator[Row]:
    """A ``SourceFile.reader`` for a JSON-lines file of objects (``model.datafiles.iter_jsonl``): one ``Row`` per
    non-blank line, lists and other non-string values as their JSON text. A line that is not an object with
    ``file.required`` keys is an error naming the file and line."""
    for number, item in iter_jsonl(path):
        missing = [key for key in file.required if key not in item]
        if missing:
            raise RowError(path, f"missing key(s) {', '.join(missing)}", number)
        yield Row(path, number, {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                                 for k, v in item.items()})


def map_authored(tier: str, areas: list[str], behaviour: str) -> Labels:
    """The row's own labels, in the taxonomy's convention, every area decided: low rows are ``["none"]``; a
    harmful row names its areas, and its behaviour's tier must be its tier."""
    if behaviour not in BEHAVIOURS:
        raise _unknown("behaviour", behaviour)
    try:
        found = {A(name) for name in areas}
        row_tier = T(tier)
    except ValueError as exc:
        raise LabelError(str(exc)) from None
    if row_tier != BEHAVIOURS[behaviour]:
        raise LabelError(f"tier {tier!r} contradicts behaviour {behaviour!r} ({BEHAVIOURS[behaviour].value})")
    if row_tier == T.LOW:
        if found != {A.NONE}:
            raise LabelError(f"a low row has areas ['none'], found {sorted(areas)}")
        return no_violation(A)
    if not found or A.NONE in found:
        raise LabelError(f"a {tier} row names its areas (not 'none'), found {sorted(areas)}")
    return violation(found, row_tier, A)


def corpus_language(language: str, script: str) -> str:
    """``hi-Latn`` and ``ur-Latn`` for romanised Hindi and Urdu; otherwise the language code."""
    return f"{language}-Latn" if language in _ROMANISED and script == "Latn" else language


def authored_row(row: Row, file: SourceFile) -> list[Mapped]:
    language = row["language"]
    if language != file.language:
        raise LabelError(f"language {language!r} in the file of {file.language!r}")
    if row["source"] != "authored":
        raise LabelError(f"source {row['source']!r}: every row of the set is 'authored'")
    if row["register"] not in REGISTERS:
        raise _unknown("register", row["register"])
    try:
        areas = json.loads(row["areas"])
    except json.JSONDecodeError:
        areas = None
    if not isinstance(areas, list) or not all(isinstance(a, str) for a in areas):
        raise LabelError(f"areas must be a list of area names, found {row['areas']!r}")
    labels = map_authored(row["tier"], areas, row["behaviour"])
    return [Mapped(row["text"], labels, group_id=f"authored:{row['pair_id']}",
                   language=corpus_language(language, row["script"]))]


def _files(languages: tuple[str, ...]) -> tuple[SourceFile, ...]:
    return tuple(SourceFile(f"{lang}.jsonl", lang, "authored", reader=jsonl_reader, required=REQUIRED,
                            languages=(lang, f"{lang}-Latn") if lang in _ROMANISED else ())
                 for lang in languages)


_MAPPING = ("Team-authored minimal pairs, labelled in the taxonomy's convention with every area decided: high "
            "(threats, incitement, terrorism support, suicide plans, grooming, doxxing calls, weapons requests), "
            "medium (hate, harassment, scams, sextortion, health misinformation, privacy and copyright complaints) "
            "and their low contrasts (news, counter-speech, negation, recovery, idioms, games, fiction, profanity, "
            "identity statements, support). A pair stays in one split. Romanised Hindi and Urdu are hi-Latn, "
            "ur-Latn.")
_LICENCE = "Apache-2.0 (team-authored, this repository)"


@source("authored", title="Team-authored multilingual contrast set (training languages)", licence=_LICENCE,
        kind=LicenceKind.INTERNAL, folder=str(AUTHORED_DIR),
        files=_files(tuple(lang for lang in LANGUAGES if lang not in HELD_OUT_LANGUAGES)), mapping=_MAPPING)
def _authored_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return authored_row(row, file)


@source("authored_heldout", title="Team-authored multilingual contrast set (held-out languages: nl, uk, sw, tl)",
        licence=_LICENCE, kind=LicenceKind.INTERNAL, folder=str(AUTHORED_DIR), files=_files(HELD_OUT_LANGUAGES),
        mapping=_MAPPING + " Held out whole (the transfer test): never trained on.")
def _authored_heldout_rows(row: Row, file: SourceFile) -> list[Mapped]:
    return authored_row(row, file)
