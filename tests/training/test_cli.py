from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.factories import MINI_SOURCES
from triage.cli import app

runner = CliRunner()


def source_options() -> list[str]:
    return [arg for name in MINI_SOURCES for arg in ("--source", name)]


def test_data_build_writes_corpus_manifest_and_card_and_prints_figures(mini_datasets: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "build", "--datasets-dir", str(mini_datasets), "--out", str(tmp_path / "c"),
                                 "--card-dir", str(tmp_path / "cards"), *source_options()])
    assert result.exit_code == 0, result.output
    assert "## Rows per language" in result.output
    assert (tmp_path / "c" / "corpus.parquet").is_file()
    card = (tmp_path / "cards" / "corpus.md").read_text()
    assert card.startswith("# Data card: Triage training corpus")
    assert "graphic_violence" in card.split("**Thin areas**")[1].splitlines()[0]

    stats = runner.invoke(app, ["data", "stats", "--corpus-dir", str(tmp_path / "c")])
    assert stats.exit_code == 0
    assert "## Rows per policy area and tier" in stats.output


def test_build_errors_are_one_line_naming_file_and_line(mini_datasets: Path, tmp_path: Path) -> None:
    path = mini_datasets / "told_br" / "ToLD-BR.csv"
    path.write_text(path.read_text() + "texto,9,0,0,0,0,0\n")
    result = runner.invoke(app, ["data", "build", "--datasets-dir", str(mini_datasets), "--out", str(tmp_path / "c"),
                                 "--card-dir", str(tmp_path / "cards"), *source_options()])
    assert result.exit_code == 2
    assert "ToLD-BR.csv:6: votes must be 0-3" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "build", "--datasets-dir", "/nonexistent/datasets"], "datasets folder not found"),
        (["data", "build", "--exclude-licence", "nope"], "unknown licence nope"),
        (["data", "stats", "--corpus-dir", "/nonexistent/corpus"], "run `triage data build` first"),
    ],
)
def test_user_mistakes_exit_2_with_a_message(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_taxonomy_command_lists_areas_with_dsa_categories() -> None:
    result = runner.invoke(app, ["taxonomy"])
    assert result.exit_code == 0
    assert "STATEMENT_CATEGORY_SELF_HARM" in result.output
