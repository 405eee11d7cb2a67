"""The file formats bulk scoring reads and writes: CSV, JSON Lines and Parquet, named by a file's suffix."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from serving.bulk.errors import BulkError


class Format(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


_SUFFIXES = {".csv": Format.CSV, ".jsonl": Format.JSONL, ".ndjson": Format.JSONL, ".parquet": Format.PARQUET,
             ".pq": Format.PARQUET}


def format_of(path: Path, given: Format | None = None) -> Format:
    """``given``, else the format the suffix names (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``/``.pq``)."""
    if given is not None:
        return given
    try:
        return _SUFFIXES[path.suffix.lower()]
    except KeyError:
        known = ", ".join(_SUFFIXES)
        raise BulkError(f"{path}: unknown format {path.suffix or '(no suffix)'!r}; name a file ending in {known}"
                        " (or give --format for the input)") from None
