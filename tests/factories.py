"""Factories for test data: mini copies of sources in their real file formats, generic-format files."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

GERMEVAL_TRAIN = [
    ("@someone Liebe Corinna, wir würden dich gerne als Moderatorin gewinnen!", "OTHER", "OTHER"),
    ("Die sind alle gleich, diese Leute gehören nicht hierher", "OFFENSE", "ABUSE"),
    ("@w203go Was ist das denn für ne dumme Kuh?", "OFFENSE", "INSULT"),
    ("So ein Scheiß Wetter heute|LBR|echt jetzt", "OFFENSE", "PROFANITY"),
    ("Heute scheint die Sonne über Berlin", "OTHER", "OTHER"),
    ("Morgen fahren wir an die Ostsee, endlich Urlaub", "OTHER", "OTHER"),
]
GERMEVAL_TEST = [
    ("Nicht jeder Moslem ist ein Terrorist.", "OTHER", "OTHER"),
    # The same text as a training row, with other case and punctuation: a near-duplicate across splits.
    ("heute scheint die Sonne über Berlin!!", "OTHER", "OTHER"),
]

SMS = [
    ("ham", "Ok lar... Joking wif u oni..."),
    ("spam", "WINNER!! You have won a £900 prize. Call 09061701461 to claim now"),
    ("spam", "Free ringtones every week, text TONES to 87121"),
    ("ham", "Ok lar... Joking wif u oni..."),  # an exact duplicate inside one source
    ("ham", "See you at the station at six, don't be late"),
    ("ham", "Can you pick up some milk on the way home?"),
]

TOLD_HEADER = ["text", "homophobia", "obscene", "insult", "racism", "misogyny", "xenophobia"]
TOLD = [
    ["doida pra chegar em casa rs", 0, 0, 0, 0, 0, 0],
    ["falta de respeito do caralho seu arrombado", 0, 2, 3, 0, 0, 0],
    ["mais um dia de sol no rio", 0, 0, 1, 0, 0, 0],
    ["esse tipo de gente nem devia existir aqui", 0, 0, 0, 2, 0, 1],
]

CSSRS_POSTS = {
    "user-1": ("Attempt", ["I tried to end it last year and I am scared I will try again soon.", "Anytime"]),
    "user-2": ("Supportive", ["Please talk to someone you trust, you do not have to go through this alone.",
                              "Have you thought about calling a helpline tonight? They are there for this."]),
}


def _write_rows(path: Path, rows: list[Any], delimiter: str = ",", header: list[str] | None = None,
                quoted: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        quoting = csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE
        writer = csv.writer(handle, delimiter=delimiter, quoting=quoting, lineterminator="\n")
        if header:
            writer.writerow(header)
        writer.writerows(rows)


def write_mini_datasets(root: Path) -> Path:
    """Mini copies of germeval2018, sms_spam_collection, told_br and reddit_cssrs_suicide."""
    _write_rows(root / "germeval2018" / "germeval2018.training.txt", GERMEVAL_TRAIN, "\t", quoted=False)
    _write_rows(root / "germeval2018" / "germeval2018.test.txt", GERMEVAL_TEST, "\t", quoted=False)
    _write_rows(root / "sms_spam_collection" / "SMSSpamCollection", SMS, "\t", quoted=False)
    _write_rows(root / "told_br" / "ToLD-BR.csv", TOLD, header=TOLD_HEADER)
    users = [[user, repr(posts), label] for user, (label, posts) in CSSRS_POSTS.items()]
    _write_rows(root / "reddit_cssrs_suicide" / "500_Reddit_users_posts_labels.csv", users,
                header=["User", "Post", "Label"])
    return root


MINI_SOURCES = ("germeval2018", "sms_spam_collection", "told_br", "reddit_cssrs_suicide")


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def generic_record(text: str = "you will regret this, I know where you live", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"text": text, "language": "en", "policy_areas": ["violence_incitement"],
                              "risk_tier": "high"}
    record.update(overrides)
    return record
