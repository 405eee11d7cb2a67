"""``triage data ...``: building and inspecting the labelled corpus."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from model.cli_support import fail
from model.settings import get_settings

data_app = typer.Typer(help="Build and inspect the labelled training corpus.", no_args_is_help=True)


@data_app.command("build")
def build(
    datasets_dir: Annotated[Path | None, typer.Option(help="Folder of the bundled datasets [TRIAGE_DATASETS_DIR].")]
    = None,
    out: Annotated[Path | None, typer.Option(help="Output folder [default: $TRIAGE_WORK_DIR/corpus].")] = None,
    seed: Annotated[int, typer.Option(help="Seed for splitting and capping.")] = 13,
    source: Annotated[list[str] | None, typer.Option(help="Read only this bundled source (repeatable).")] = None,
    exclude_licence: Annotated[
        list[str] | None,
        typer.Option(help="Leave out sources of this licence kind (non_commercial, unstated, copyleft, "
                     "share_alike) or licence name (repeatable)."),
    ] = None,
    allow_missing: Annotated[
        bool, typer.Option(help="Warn about and skip missing or unreadable files and malformed rows.")
    ] = False,
    extra: Annotated[
        list[Path] | None, typer.Option(help="Also read this file in the generic CSV/JSONL format (repeatable).")
    ] = None,
    extra_licence: Annotated[str, typer.Option(help="Licence recorded for --extra files.")] = "internal",
    cap_per_class: Annotated[int, typer.Option(help="Most rows per source x language x class outside test.")] = 4000,
    card_dir: Annotated[
        Path | None, typer.Option(help="Where to write the data card [default: $TRIAGE_DATA_CARDS_DIR].")
    ] = None,
) -> None:
    """Build the corpus: read, map, dedupe, cap, split; write Parquet, manifest and data card."""
    from training.data.build import BuildConfig, ExtraFile, build_corpus
    from training.data.card import render_data_card, stats_report
    from training.data.errors import CorpusError

    settings = get_settings()
    try:
        config = BuildConfig(
            datasets_dir=datasets_dir or settings.datasets_dir,
            out_dir=out or settings.corpus_dir,
            seed=seed,
            sources=tuple(source or ()),
            exclude_licences=tuple(exclude_licence or ()),
            allow_missing=allow_missing,
            extra=tuple(ExtraFile(path, extra_licence) for path in extra or ()),
            cap_per_class=cap_per_class,
        )
    except ValueError as exc:
        fail(str(exc))
    if not config.datasets_dir.is_dir() and not config.allow_missing:
        fail(f"{config.datasets_dir}: datasets folder not found; set TRIAGE_DATASETS_DIR or pass --datasets-dir")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        result = build_corpus(config)
    except CorpusError as exc:
        fail(str(exc))
    card_folder = card_dir or settings.data_cards_dir
    card_folder.mkdir(parents=True, exist_ok=True)
    card_path = card_folder / "corpus.md"
    card_path.write_text(render_data_card(result.manifest), encoding="utf-8")
    typer.echo(stats_report(result.manifest))
    typer.echo(f"wrote {result.corpus_path}, {result.manifest_path} and {card_path}")


@data_app.command("stats")
def stats(
    corpus_dir: Annotated[Path | None, typer.Option(help="Corpus folder [default: $TRIAGE_WORK_DIR/corpus].")]
    = None,
) -> None:
    """Print the figures of a built corpus: rows per split, language, area and tier, source, licence."""
    from training.data.build import load_manifest
    from training.data.card import stats_report
    from training.data.errors import CorpusError

    try:
        manifest = load_manifest(corpus_dir or get_settings().corpus_dir)
    except CorpusError as exc:
        fail(str(exc))
    typer.echo(stats_report(manifest))
