"""The labelled corpus (``corpus.parquet``, written by ``triage data build``): its columns, one typed row, and the
one reader that training, evaluation and the benchmarks use.

pyarrow is imported inside the functions (the ``data`` extra): the serving install never reads the corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import pyarrow as pa

CORPUS_FILE = "corpus.parquet"


class CorpusRow(TypedDict, total=False):
    """One row of the corpus, as ``read_corpus`` gives it (only the columns asked for are present)."""

    row_id: str
    #: ``train``, ``validation``, ``calibration``, ``test`` or ``ood`` (``model.schema.Split``).
    split: str
    text: str
    #: ISO 639-1 code.
    language: str
    policy_areas: list[str]
    #: Areas the source did not judge: neither positive nor negative for the loss.
    unknown_areas: list[str]
    risk_tier: str
    source: str
    source_split: str | None
    licence: str
    group_id: str | None
    label_confidence: float
    #: Provenance kept beside the row, as JSON (or None).
    metadata: str | None


#: The columns, in file order, with their Arrow types (by name: ``string``, ``list<string>``, ``float64``).
COLUMNS: dict[str, str] = {
    "row_id": "string", "split": "string", "text": "string", "language": "string",
    "policy_areas": "list<string>", "unknown_areas": "list<string>", "risk_tier": "string",
    "source": "string", "source_split": "string", "licence": "string", "group_id": "string",
    "label_confidence": "float64", "metadata": "string",
}
#: What scoring and measuring a model needs; older corpora may lack ``source`` and ``unknown_areas``.
LABEL_COLUMNS = ("text", "language", "source", "split", "risk_tier", "policy_areas", "unknown_areas")
_OPTIONAL = frozenset({"source", "unknown_areas"})


def corpus_file(corpus_dir: Path) -> Path:
    return corpus_dir / CORPUS_FILE


def arrow_schema() -> pa.Schema:
    """The schema the corpus is written with."""
    import pyarrow as pa

    types = {"string": pa.string(), "list<string>": pa.list_(pa.string()), "float64": pa.float64()}
    return pa.schema([(name, types[kind]) for name, kind in COLUMNS.items()])


def read_corpus(path: Path, *, split: str | None = None, columns: Sequence[str] | None = None) -> list[CorpusRow]:
    """The rows of ``path`` (those of ``split`` only, when given), in file order, with ``columns`` (default:
    all). A missing file, or a required column missing, raises ``ValueError`` naming the file; of
    ``LABEL_COLUMNS``, ``source`` and ``unknown_areas`` may be absent and are then left out of the rows."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not path.is_file():
        raise ValueError(f"{path}: not found; build it with `triage data build`")
    names = set(pq.read_schema(path).names)
    wanted = list(columns) if columns is not None else [c for c in COLUMNS if c in names]
    missing = [c for c in wanted if c not in names and c not in _OPTIONAL]
    if split is not None and "split" not in names:
        missing.append("split")
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    present = [c for c in wanted if c in names]
    read = present if split is None or "split" in present else [*present, "split"]
    table = pq.read_table(path, columns=read)
    if split is not None:
        table = table.filter(pc.equal(table["split"], split))
        if "split" not in present:
            table = table.drop_columns(["split"])
    rows: list[Any] = table.to_pylist()
    return rows
