from pathlib import Path

import pytest

from model.datafiles import MissingSourceError, RowError, iter_jsonl
from training.data.readers import iter_rows


def test_rows_carry_the_line_they_start_on_even_after_multi_line_records(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text('text,label\n"two\nlines",a\nplain,b\n', encoding="utf-8")
    rows = list(iter_rows(path))
    assert [(r.line, r["text"], r["label"]) for r in rows] == [(2, "two\nlines", "a"), (4, "plain", "b")]


def test_a_byte_order_mark_is_dropped_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes("\ufeff,label,TEXT\n1,0,hi\n".encode())
    assert [r["TEXT"] for r in iter_rows(path, required=("label", "TEXT"))] == ["hi"]


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(MissingSourceError, match=r"absent\.csv: file not found"):
        list(iter_rows(tmp_path / "absent.csv"))


def test_a_wrong_encoding_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"text,label\nok,a\ncaf\xe9,b\n")
    with pytest.raises(RowError, match=r"f\.csv:3: not valid utf-8"):
        list(iter_rows(path))


def test_a_row_with_the_wrong_number_of_columns_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "f.tsv"
    path.write_text("a\tb\nc\n", encoding="utf-8")
    with pytest.raises(RowError, match=r"f\.tsv:2: expected 2 columns \(text, label\), found 1"):
        list(iter_rows(path, delimiter="\t", columns=("text", "label")))


def test_malformed_rows_can_be_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "f.tsv"
    path.write_text("a\tb\nbroken\nc\td\n", encoding="utf-8")
    errors: list[RowError] = []
    rows = list(iter_rows(path, delimiter="\t", columns=("text", "label"), on_error=errors.append))
    assert [r["text"] for r in rows] == ["a", "c"]
    assert [e.line for e in errors] == [2]


def test_a_header_missing_a_required_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("tweet,label\nx,y\n", encoding="utf-8")
    with pytest.raises(RowError, match=r"f\.csv:1: header lacks column\(s\) text"):
        list(iter_rows(path, required=("text",)))


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n', encoding="utf-8")
    with pytest.raises(RowError, match=r"f\.jsonl:3: invalid JSON"):
        list(iter_jsonl(path))
