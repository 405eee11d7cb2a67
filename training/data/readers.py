"""Reading delimited files with errors that name the file and the line.

Every source goes through ``iter_rows``: it decodes the whole file first (so a wrong encoding is reported
with the line of the first bad byte), then yields one ``Row`` per record with the line the record starts
on, which ``csv`` alone does not give for records spanning several lines. Readers of files that are not
plain delimited files decode with ``decode`` and parse with ``parse_delimited`` (``iter_records`` for
records without a header or a fixed number of fields).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from model.datafiles import RowError, read_text

if TYPE_CHECKING:
    from _csv import Reader as CsvReader


@dataclass(frozen=True, slots=True)
class Row:
    path: Path
    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values[column]

    def error(self, message: str) -> RowError:
        return RowError(self.path, message, self.line)


def iter_rows(
    path: Path,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    errors: str = "strict",
    columns: Sequence[str] | None = None,
    required: Sequence[str] = (),
    quoted: bool = True,
    on_error: Callable[[RowError], None] | None = None,
) -> Iterator[Row]:
    """Yield the records of a delimited file, decoded as a whole, as ``parse_delimited`` yields them."""
    text = read_text(path, encoding=encoding, errors=errors)
    yield from parse_delimited(text, path, delimiter=delimiter, columns=columns, required=required, quoted=quoted,
                               on_error=on_error)


def parse_delimited(
    text: str,
    path: Path,
    *,
    delimiter: str = ",",
    columns: Sequence[str] | None = None,
    required: Sequence[str] = (),
    quoted: bool = True,
    on_error: Callable[[RowError], None] | None = None,
) -> Iterator[Row]:
    """Yield the records of delimited ``text`` (the decoded content of ``path``, which rows and errors name).

    With ``columns`` the text has no header row and every record must have exactly those columns.
    Without it the first record is the header; ``required`` names columns that must be in it.
    ``quoted=False`` reads quote characters as text (tab-separated files of tweets).
    A leading byte-order mark is dropped and blank lines are skipped. A malformed record raises ``RowError``,
    unless ``on_error`` is given: then it is passed the error and the record is skipped.
    """
    reader = _csv_reader(text, delimiter, quoted)
    names: list[str]
    if columns is None:
        try:
            names = [name.strip() for name in next(reader)]
        except StopIteration:
            raise RowError(path, "file is empty, expected a header row", 1) from None
        missing = [c for c in required if c not in names]
        if missing:
            raise RowError(path, f"header lacks column(s) {', '.join(missing)}; found {names}", 1)
    else:
        names = list(columns)
    for start, record in _records(reader, path, on_error):
        if not record or record == [""]:
            continue  # blank line
        if len(record) == len(names):
            yield Row(path=path, line=start, values=dict(zip(names, record, strict=True)))
            continue
        error = RowError(path, f"expected {len(names)} columns ({', '.join(names)}), found {len(record)}", start)
        if on_error is None:
            raise error
        on_error(error)


def iter_records(
    text: str,
    path: Path,
    *,
    delimiter: str = ",",
    quoted: bool = True,
    on_error: Callable[[RowError], None] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line, fields)`` for every record of delimited ``text`` (the decoded content of ``path``), with
    the line the record starts on: no header, any number of fields, blank lines included (as ``[]``).
    A leading byte-order mark is dropped; a malformed record raises or goes to ``on_error`` as in
    ``parse_delimited``."""
    return _records(_csv_reader(text, delimiter, quoted), path, on_error)


def _csv_reader(text: str, delimiter: str, quoted: bool) -> CsvReader:
    return csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter,
                      quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE, strict=True)


def _records(reader: CsvReader, path: Path,
             on_error: Callable[[RowError], None] | None) -> Iterator[tuple[int, list[str]]]:
    """The records ``reader`` has left, each with the line it starts on (``csv`` alone counts the lines read
    so far, not where a record spanning several lines began)."""
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            error = RowError(path, f"malformed record: {exc}", start)
        else:
            yield start, record
            continue
        if on_error is None:
            raise error
        on_error(error)
