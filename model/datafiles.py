"""Reading the data files every layer reads (sources, labelled files, decisions exports), with errors that
name the file, and the line where there is one. The delimited-file parsing of the corpus builder is in
``training.data.readers``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class CorpusError(Exception):
    """A source cannot be read or mapped. The message names the file and, where known, the line."""

    def __init__(self, path: Path | str, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {message}")


class MissingSourceError(CorpusError):
    """A source file is missing or unreadable (``--allow-missing`` turns this into a warning)."""


class RowError(CorpusError):
    """One row is malformed: wrong number of columns, a label value the mapping does not know, bad text."""


class LabelError(ValueError):
    """Raised by a mapping function for a label value it does not know; the reader adds file and line."""


def read_text(path: Path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """The decoded content of ``path``; a missing file or a wrong encoding raises with file (and line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MissingSourceError(path, "file not found") from exc
    except OSError as exc:
        raise MissingSourceError(path, f"cannot read file: {exc.strerror}") from exc
    return decode(data, path, encoding=encoding, errors=errors)


def decode(data: bytes, path: Path, encoding: str = "utf-8", errors: str = "strict") -> str:
    """``data`` (the content of ``path``) decoded; a wrong encoding raises with the line of the first bad byte."""
    try:
        return data.decode(encoding, errors=errors)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RowError(path, f"not valid {encoding}: byte {data[exc.start]:#04x} ({exc.reason})", line) from exc


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, object)`` for each non-blank line of a JSON Lines file."""
    text = read_text(path)
    # split on "\n" only: str.splitlines would also split inside strings holding U+2028 and friends
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RowError(path, f"invalid JSON: {exc.msg} at column {exc.colno}", number) from exc
        if not isinstance(value, dict):
            raise RowError(path, f"expected a JSON object, found {type(value).__name__}", number)
        yield number, value
