"""Input rows: the records of a CSV, JSON Lines or Parquet file, each validated as a ``model.schema.Report``
(the API's schema: same limits, same messages).

A record that cannot be read (bad JSON, a wrong field count) or is not a valid report is a ``RowProblem`` that
names the file, the line or row and the file's column, never the value (it may be report text). A problem with
the whole file (no text column, not UTF-8, not Parquet) is a ``BulkError`` before the first row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from model.schema import Report
from serving.bulk.errors import BulkError
from serving.bulk.formats import Format

#: Report fields a file may hold besides the id and text columns (``followers`` and ``prior_strikes`` are the
#: flat form of ``account``, for CSV).
_FIELDS = ("language", "reporter_type", "channel", "surface", "reporter_reason", "account", "report_count",
           "created_at")
_ACCOUNT_FIELDS = ("followers", "prior_strikes")


@dataclass(frozen=True, slots=True)
class Columns:
    """How a file's columns map to ``Report`` fields."""

    id_column: str = "report_id"
    text_column: str = "text"
    #: Drop columns that are not report fields instead of refusing them (the API refuses unknown fields).
    ignore_unknown: bool = False

    @property
    def known(self) -> frozenset[str]:
        return frozenset({self.id_column, self.text_column, *_FIELDS, *_ACCOUNT_FIELDS})

    def check(self, names: Sequence[str], source: str) -> None:
        """Refuse a header (CSV) or schema (Parquet) that cannot give reports: a missing id or text column, a
        column twice, an unknown column (unless ignored)."""
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise BulkError(f"{source}: column {', '.join(map(repr, twice))} appears more than once")
        for name, option in ((self.text_column, "--text-column"), (self.id_column, "--id-column")):
            if name not in names:
                shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                raise BulkError(f"{source}: no column {name!r} (columns: {shown or 'none'}); "
                                f"name yours with {option}")
        unknown = [n for n in names if n not in self.known]
        if unknown and not self.ignore_unknown:
            raise BulkError(f"{source}: unknown column {', '.join(map(repr, unknown))}: a report has "
                            f"{', '.join(sorted(self.known))}; --ignore-unknown-columns drops the others")

    def payload(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
        """The ``Report`` fields of one row, and the column each came from (errors name the file's column).

        An empty cell or a null means "not given" (the field's default); the id and text keep an empty string,
        so that the error says it is empty."""
        data: dict[str, Any] = {}
        names: dict[tuple[str, ...], str] = {}
        flat_account: dict[str, Any] = {}
        for column, value in values.items():
            if column == self.id_column:
                key = "report_id"
            elif column == self.text_column:
                key = "text"
            elif column in _ACCOUNT_FIELDS:
                if not _blank(value):
                    flat_account[column] = value
                    names["account", column] = column
                continue
            elif column in _FIELDS or not self.ignore_unknown:
                key = column  # an unknown one is refused by the schema, by name
            else:
                continue
            if value is None or (key not in ("report_id", "text") and _blank(value)):
                continue
            if key == "account" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if v is not None}
                names.update({("account", str(k)): f"{column}.{k}" for k in value})
            data[key] = value
            names[(key,)] = column
        if flat_account:
            nested = data.get("account")
            data["account"] = {**nested, **flat_account} if isinstance(nested, dict) else flat_account
        return data, names


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True, slots=True)
class RawRow:
    """One record of the input: its values, or why it could not be read (bad JSON, wrong field count)."""

    #: 1-based data row (header and blank lines not counted); None where the engine does not know it (Ray).
    row: int | None
    #: The line it starts on (CSV, JSON Lines).
    line: int | None
    values: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int | None
    line: int | None
    #: The row's report_id when it is valid (safe to show), else None.
    report_id: str | None
    field: str | None
    message: str

    def where(self, source: str) -> str:
        if self.line is not None:
            return f"{source}:{self.line}"
        if self.row is not None:
            return f"{source}: row {self.row}"
        return f"{source}: report_id {self.report_id!r}" if self.report_id else f"{source}: a row"

    def describe(self, source: str) -> str:
        return f"{self.where(source)}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "line": self.line, "report_id": self.report_id, "field": self.field,
                "message": self.message}


def validate_rows(rows: Sequence[RawRow], columns: Columns) -> tuple[list[Report], list[RowProblem]]:
    """The rows that are valid reports, and what is wrong with the others (pydantic's messages, never the
    values: they may be report text)."""
    reports: list[Report] = []
    problems: list[RowProblem] = []
    for raw in rows:
        if raw.values is None:
            problems.append(RowProblem(raw.row, raw.line, None, None, raw.problem or "unreadable row"))
            continue
        data, names = columns.payload(raw.values)
        try:
            reports.append(Report.model_validate(data))
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            fields = [_field_name(tuple(str(p) for p in err["loc"]), names) for err in errors]
            id_ok = all(err["loc"][:1] != ("report_id",) for err in errors)
            report_id = data.get("report_id") if id_ok and isinstance(data.get("report_id"), str) else None
            message = "; ".join(f"{f}: {err['msg']}" for f, err in zip(fields, errors, strict=True))
            problems.append(RowProblem(raw.row, raw.line, report_id, fields[0], message))
    return reports, problems


def _field_name(loc: tuple[str, ...], names: Mapping[tuple[str, ...], str]) -> str:
    """A pydantic error location as the file's column name (``body`` for ``text`` with ``--text-column body``)."""
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in names:
            return ".".join([names[loc[:cut]], *loc[cut:]])
    return ".".join(loc) or "(row)"


def read_rows(path: Path, fmt: Format, columns: Columns) -> Iterator[RawRow]:
    """The records of ``path``, in order; the header (CSV) or schema (Parquet) is checked before the first."""
    if fmt is Format.CSV:
        return _csv_rows(path, columns)
    if fmt is Format.JSONL:
        return _jsonl_rows(path, columns)
    return _parquet_rows(path, columns)


def read_csv_header(path: Path) -> list[str]:
    """The header of a CSV file (UTF-8, with or without a byte-order mark)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        raise BulkError(f"{path}:1: not UTF-8 text") from None
    except csv.Error as exc:
        raise BulkError(f"{path}:1: not a CSV header: {exc}") from None
    if not header:
        raise BulkError(f"{path}: empty file; a CSV input starts with a header naming its columns")
    return header


def _csv_rows(path: Path, columns: Columns) -> Iterator[RawRow]:
    header = read_csv_header(path)
    columns.check(header, str(path))
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader)
        row, previous = 0, reader.line_num
        try:
            for record in reader:
                line, previous = previous + 1, reader.line_num
                if not record:
                    continue  # a blank line
                row += 1
                if len(record) != len(header):
                    yield RawRow(row, line, None, f"{len(record)} fields; the header has {len(header)}")
                else:
                    yield RawRow(row, line, dict(zip(header, record, strict=True)))
        except UnicodeDecodeError:
            raise BulkError(f"{path}: not UTF-8 text after line {previous}") from None
        except csv.Error as exc:  # e.g. a NUL byte or a field over the csv module's size limit: no way past it
            raise BulkError(f"{path}:{previous + 1}: unreadable CSV: {exc}") from None


def _jsonl_rows(path: Path, columns: Columns) -> Iterator[RawRow]:
    first = True
    row = 0
    with path.open("rb") as f:
        for line, data in enumerate(f, start=1):
            if not data.strip():
                continue
            row += 1
            try:
                value = json.loads(data)
            except UnicodeDecodeError:
                yield RawRow(row, line, None, "not UTF-8 text")
                continue
            except json.JSONDecodeError as exc:
                yield RawRow(row, line, None, f"not valid JSON: {exc.msg} (column {exc.colno})")
                continue
            if not isinstance(value, dict):
                yield RawRow(row, line, None, f"a JSON {type(value).__name__}, not an object")
                continue
            if first:
                # JSON Lines has no header: a text column missing from the first row is a wrong --text-column,
                # not thousands of bad rows.
                first = False
                for name, option in ((columns.text_column, "--text-column"), (columns.id_column, "--id-column")):
                    if name not in value:
                        raise BulkError(f"{path}:{line}: the first row has no field {name!r} "
                                        f"(fields: {', '.join(map(str, value)) or 'none'}); name yours with {option}")
            yield RawRow(row, line, value)


def _parquet_rows(path: Path, columns: Columns) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's ArrowInvalid and OSError for a file that is not Parquet
        raise BulkError(f"{path}: not a Parquet file: {exc}") from None
    columns.check(parquet.schema_arrow.names, str(path))
    row = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for values in batch.to_pylist():
            row += 1
            yield RawRow(row, None, values)


def count_rows(path: Path, fmt: Format) -> int | None:
    """How many rows the input holds, when that is cheap: Parquet's metadata; for CSV and JSON Lines the
    number of non-blank lines (an estimate for CSV: a quoted value may span lines)."""
    if fmt is Format.PARQUET:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    lines = 0
    with path.open("rb") as f:
        for line in f:
            lines += bool(line.strip())
    return max(lines - (fmt is Format.CSV), 0)
