"""The building blocks every source module uses: licence kinds, how a file is read, what a row mapper
returns, the ``Source`` record and the registry (``SOURCES``) that ``@source`` fills.

Source modules (``training.data.sources`` and ``training.data.sources_*``) import this module and nothing of
each other; ``training.data.sources`` imports them all, so importing it fills the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from model.datafiles import LabelError
from training.data.labels import Labels
from training.data.readers import Row


class LicenceKind(StrEnum):
    PERMISSIVE = "permissive"
    SHARE_ALIKE = "share_alike"
    COPYLEFT = "copyleft"
    NON_COMMERCIAL = "non_commercial"
    UNSTATED = "unstated"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file of a source and how to read it."""

    name: str  # path relative to the source folder
    language: str
    split: str  # the source's own name for the split this file holds
    is_test: bool = False  # the source's own held-out test split, which stays our test split
    delimiter: str = ","
    quoted: bool = True  # False for TSV files whose text holds bare quote characters
    errors: str = "strict"  # how to treat bytes that are not valid UTF-8
    columns: tuple[str, ...] | None = None  # for files without a header row
    required: tuple[str, ...] = ()
    #: For files that are not delimited text (JSON, an encrypted zip, a folder of line files): yields the
    #: file's records as ``Row`` objects, each with the line it starts on. ``None``: ``iter_rows``.
    reader: FileReader | None = None
    #: Every language the file's rows carry (``Mapped.language``) when it holds several; empty: ``language``.
    languages: tuple[str, ...] = ()


#: Reads one non-delimited file of a source (``SourceFile.reader``); errors name the file and line.
FileReader = Callable[[Path, "SourceFile"], Iterator[Row]]


@dataclass(frozen=True, slots=True)
class Mapped:
    """What a row mapper makes of a row: usually one example, several for a list of posts."""

    text: str
    labels: Labels
    group_id: str | None = None  # rows sharing a group stay in one split
    suffix: str = ""  # tells apart several examples from one row in their row ids
    #: Set when the mapper left this part of the row out on purpose; the builder counts it as skipped.
    skip_reason: str | None = None
    #: The example's language when it is not the file's (a file holding several languages).
    language: str | None = None


#: Maps one row of one file; raises ``LabelError`` for values it does not know.
RowMapper = Callable[[Row, SourceFile], list[Mapped]]


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    licence: str
    licence_kind: LicenceKind
    files: tuple[SourceFile, ...]
    mapping: str  # the label mapping in one paragraph, for the data card
    #: Called once with the source folder; returns the row mapper (a source may read a side file first).
    make_mapper: Callable[[Path], RowMapper]
    #: The folder under the datasets directory holding the files (default: ``name``); two sources may read one
    #: folder, e.g. the commercial and non-commercial rows of one dataset, registered apart so that
    #: ``--exclude-licence`` can leave one out.
    folder: str | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(lang for f in self.files for lang in (f.languages or (f.language,))))


SOURCES: dict[str, Source] = {}


def source(name: str, *, title: str, licence: str, kind: LicenceKind, files: tuple[SourceFile, ...],
           mapping: str, folder: str | None = None) -> Callable[[RowMapper], RowMapper]:
    """Register a source whose row mapper needs nothing but the row."""

    def register(mapper: RowMapper) -> RowMapper:
        SOURCES[name] = Source(name, title, licence, kind, files, mapping, lambda _folder: mapper, folder)
        return mapper

    return register


def int_value(row: Row, column: str) -> int:
    try:
        return int(float(row[column]))
    except ValueError:
        raise LabelError(f"column {column}: expected a number, found {row[column]!r}") from None


def float_value(row: Row, column: str) -> float:
    try:
        return float(row[column])
    except ValueError:
        raise LabelError(f"column {column}: expected a number, found {row[column]!r}") from None


def unknown_value(what: str, value: object) -> LabelError:
    return LabelError(f"unknown {what} {value!r}")
