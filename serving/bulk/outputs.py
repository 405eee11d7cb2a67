"""Output rows: the columns and Arrow schema of a decision row, and writing them.

CSV and JSON Lines are appended to the output after its committed length (``open_at`` drops anything after it)
and fsynced; Parquet, which cannot be appended to, is written a chunk at a time as part files, combined at the
end. Each Parquet file is written under a temporary name, fsynced and renamed: it appears complete or not at all.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from serving.bulk.errors import BulkError
from serving.bulk.formats import Format

#: Separator of list values (predicted areas, reasons) in CSV output, as in the corpus's CSV input.
LIST_SEPARATOR = "|"


def output_columns() -> list[str]:
    """The output's columns, in order: tier names and areas from the taxonomy."""
    from model.taxonomy import get_taxonomy

    taxonomy = get_taxonomy()
    return ["report_id", "tier", "model_tier", *(f"p_{t}" for t in taxonomy.tier_names), "areas",
            *(f"area_{a}" for a in taxonomy.area_names), "language", "detected_language", "language_confidence",
            "action", "queue", "priority", "grey_area", "grey_reasons", "rules", "model_name", "model_version",
            "policy_version"]


_LIST_COLUMNS = frozenset({"areas", "grey_reasons", "rules"})


def output_schema(fmt: Format) -> Any:
    """The output's Arrow schema (Parquet, and Ray's batches): lists stay lists, except in CSV."""
    import pyarrow as pa

    def kind(column: str) -> Any:
        if column in _LIST_COLUMNS:
            return pa.string() if fmt is Format.CSV else pa.list_(pa.string())
        if column.startswith(("p_", "area_")) or column == "language_confidence":
            return pa.float64()
        if column == "priority":
            return pa.int64()
        if column == "grey_area":
            return pa.bool_()
        return pa.string()

    return pa.schema([(c, kind(c)) for c in output_columns()])


def for_format(rows: Sequence[dict[str, Any]], fmt: Format) -> list[dict[str, Any]]:
    """``rows`` as ``fmt`` holds them: CSV joins lists with ``|``."""
    if fmt is not Format.CSV:
        return list(rows)
    return [{k: LIST_SEPARATOR.join(v) if k in _LIST_COLUMNS else v for k, v in row.items()} for row in rows]


def flush_and_sync(handle: BinaryIO) -> None:
    """What was written to ``handle``, on disk."""
    handle.flush()
    os.fsync(handle.fileno())


def open_at(path: Path, size: int) -> BinaryIO:
    """``path`` for appending after its first ``size`` bytes (what was committed); anything after is dropped."""
    handle = path.open("r+b" if path.exists() else "w+b")
    actual = handle.seek(0, os.SEEK_END)
    if actual < size:
        handle.close()
        raise BulkError(f"{path}: shorter ({actual} bytes) than the {size} bytes committed; it was changed "
                        "outside this job; --restart starts over")
    handle.truncate(size)
    handle.seek(size)
    return handle


def encode_rows(rows: Sequence[dict[str, Any]], fmt: Format, columns: Sequence[str]) -> bytes:
    """``rows`` as JSON Lines, or as CSV records of ``columns`` in order (no header), UTF-8."""
    if fmt is Format.JSONL:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if row[c] is None else str(row[c]).lower() if isinstance(row[c], bool) else row[c]
                         for c in columns])
    return buffer.getvalue().encode("utf-8")


def write_part(path: Path, rows: Sequence[dict[str, Any]], fmt: Format) -> None:
    """One chunk's rows as the Parquet part file ``path``, complete or not at all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pylist(list(rows), schema=output_schema(fmt)), tmp)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


#: Rows per row group of the combined Parquet output (parts are a chunk each, often smaller).
_ROW_GROUP_ROWS = 64 * 1024


def combine_parts(parts: Sequence[Path], output: Path, fmt: Format) -> None:
    """The parts, in order, into one Parquet file that appears complete or not at all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = output_schema(fmt)
    tmp = output.with_name(f".{output.name}.tmp")
    pending: list[Any] = []
    with pq.ParquetWriter(tmp, schema) as writer:
        for part in parts:
            pending.append(pq.read_table(part, schema=schema))
            if sum(t.num_rows for t in pending) >= _ROW_GROUP_ROWS:
                writer.write_table(pa.concat_tables(pending))
                pending = []
        if pending or not parts:
            writer.write_table(pa.concat_tables(pending) if pending else schema.empty_table())
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, output)
