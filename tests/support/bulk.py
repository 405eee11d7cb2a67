"""The bulk scoring tests' data: reports that exercise routing (and bad ones), written as CSV, JSON Lines or
Parquet, and output rows read back as Python values."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

#: Report text that must never appear in an error message or the errors file.
SECRET = "Meet me behind the old mill at nine, Jonas"
TEXTS = [
    "I know where you live and I will hurt you",
    "Buy cheap followers now at https://cheap.example, limited offer!!!",
    "Les immigrés sont des parasites qu il faut chasser du pays",
    "have a lovely day, friend",
    "Du bist so dumm, verschwinde endlich von hier",
    "ok",
    "Ceci est un message parfaitement normal et gentil.",
    "you people are all idiots and should be banned",
]


def make_reports(n: int, prefix: str = "r") -> list[dict[str, Any]]:
    """``n`` valid reports that exercise routing: languages, press, signals, hints, reasons."""
    reports = []
    for i in range(n):
        report: dict[str, Any] = {"report_id": f"{prefix}-{i}", "text": f"{TEXTS[i % len(TEXTS)]} ({i})"}
        if i % 5 == 1:
            report["reporter_type"] = "press"
        if i % 4 == 2:
            report["report_count"] = 12
        if i % 6 == 3:
            report["language"] = "de"
        if i % 7 == 4:
            report["account"] = {"followers": 250_000, "prior_strikes": 3}
        if i % 3 == 0:
            report["reporter_reason"] = "harassment"
            report["created_at"] = "2026-11-22T10:00:00Z"
        reports.append(report)
    return reports


def flat(report: dict[str, Any]) -> dict[str, Any]:
    """A report as a CSV or Parquet row: ``account`` as the flat followers and prior_strikes columns."""
    row = {k: v for k, v in report.items() if k != "account"}
    row.update(report.get("account", {}))
    return row


CSV_COLUMNS = ["report_id", "text", "language", "reporter_type", "reporter_reason", "report_count", "followers",
               "prior_strikes", "created_at"]


def write_input(path: Path, reports: list[dict[str, Any]]) -> Path:
    """``reports`` in the format ``path``'s suffix names."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in reports), encoding="utf-8")
    elif path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(flat(r) for r in reports)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([(c, pa.int64() if c in ("report_count", "followers", "prior_strikes") else pa.string())
                            for c in CSV_COLUMNS])
        pq.write_table(pa.Table.from_pylist([flat(r) for r in reports], schema=schema), path)
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    """Output rows as Python values, whatever the format (CSV lists split on ``|``, numbers parsed)."""
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_table(path).to_pylist())
    with path.open(newline="", encoding="utf-8") as f:
        return [typed_csv_row(r) for r in csv.DictReader(f)]


def typed_csv_row(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in ("areas", "grey_reasons", "rules"):
            out[key] = value.split("|") if value else []
        elif key.startswith(("p_", "area_")) or key == "language_confidence":
            out[key] = float(value)
        elif key == "priority":
            out[key] = int(value)
        elif key == "grey_area":
            out[key] = {"true": True, "false": False}[value]
        else:
            out[key] = value or None
    return out


def bad_reports() -> list[dict[str, Any]]:
    """Eight reports (b-0 to b-7), three of them bad: 2's text is empty once normalised, 4's reporter_type is
    unknown (its text is SECRET), 6's report_count is 0."""
    reports = make_reports(8, prefix="b")
    reports[2]["text"] = " \u200b "  # empty after normalisation
    reports[4]["reporter_type"] = "neighbour"
    reports[4]["text"] = SECRET
    reports[6]["report_count"] = 0
    return reports
