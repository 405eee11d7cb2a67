"""Errors of the corpus builder. Each names the file, and the line where there is one."""

from __future__ import annotations

from pathlib import Path


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
