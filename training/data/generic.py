"""The generic labelled-report format, so a team can train on its own labelled reports.

A CSV file (with a header row) or a JSON Lines file (one object per line) with these fields:

========================  ========  ===================================================================
field                     required  meaning
========================  ========  ===================================================================
``text``                  yes       the report text (normalised on reading)
``language``              yes       ISO 639-1 code, e.g. ``en``, ``pt``
``policy_areas``          yes       areas that apply; ``none`` when no area applies. CSV: separated by
                                    ``|``; JSONL: a list (or a ``|``-separated string)
``risk_tier``             yes       ``low``, ``medium`` or ``high``
``unknown_areas``         no        areas the labeller did not judge (ignored by the loss); default: none,
                                    i.e. every area not listed in ``policy_areas`` is a negative
``id``                    no        a stable row id (default: file name and line)
``split``                 no        ``test`` keeps the row in the test split; anything else is pooled
``group_id``              no        rows with the same group stay in one split
``label_confidence``      no        in (0, 1], default 1
anything else             no        kept as metadata (JSON) beside the row
========================  ========  ===================================================================

Reviewer decisions exported by Triage use this format, with provenance in the metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from model.datafiles import RowError, iter_jsonl
from model.schema import LABELLED_RECORD_FIELDS, LabelledExample
from training.data.readers import iter_rows

REQUIRED = LABELLED_RECORD_FIELDS
OPTIONAL = ("unknown_areas", "id", "split", "group_id", "label_confidence")


@dataclass(frozen=True, slots=True)
class GenericRow:
    line: int
    example: LabelledExample
    is_test: bool
    metadata: dict[str, Any]


def _areas(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split("|") if part.strip()]
    if isinstance(value, list):
        return [str(part).strip() for part in value]
    raise ValueError(f"expected a list or a '|'-separated string, found {type(value).__name__}")


def _confidence(value: Any) -> float:
    if value is None or value == "":
        return 1.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"label_confidence: expected a number in (0, 1], found {value!r}") from None


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        for row in iter_rows(path, required=REQUIRED):
            yield row.line, dict(row.values)
    elif suffix in {".jsonl", ".ndjson"}:
        yield from iter_jsonl(path)
    else:
        raise RowError(path, f"unsupported file type {suffix!r}: use .csv or .jsonl")


def read_generic(path: Path, source: str, licence: str) -> Iterator[GenericRow]:
    """Validated rows of a generic-format file; a bad row raises ``RowError`` naming file, line and field."""
    for line, record in _records(path):
        missing = [name for name in REQUIRED if record.get(name) in (None, "")]
        if missing:
            raise RowError(path, f"missing required field(s): {', '.join(missing)}", line)
        try:
            example = LabelledExample(
                row_id=str(record.get("id") or f"{source}:{path.name}:{line}"),
                text=str(record["text"]),
                language=str(record["language"]).strip(),
                policy_areas=tuple(_areas(record["policy_areas"])),
                unknown_areas=tuple(_areas(record.get("unknown_areas"))),
                risk_tier=str(record["risk_tier"]).strip(),
                source=source,
                source_split=str(record.get("split") or "all"),
                licence=licence,
                group_id=str(record["group_id"]) if record.get("group_id") not in (None, "") else None,
                label_confidence=_confidence(record.get("label_confidence")),
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['msg']}" for err in exc.errors()
            )
            raise RowError(path, problems, line) from None
        except ValueError as exc:
            raise RowError(path, str(exc), line) from None
        metadata = {k: v for k, v in record.items() if k not in REQUIRED and k not in OPTIONAL}
        yield GenericRow(line=line, example=example, is_test=example.source_split == "test", metadata=metadata)
