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
    exclude_source: Annotated[
        list[str] | None,
        typer.Option(help="Leave out this bundled source (repeatable); e.g. `--exclude-source authored "
                     "--exclude-source authored_heldout` builds without the team-authored set."),
    ] = None,
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
    decisions: Annotated[
        list[Path] | None,
        typer.Option(help="Also read this export of `triage decisions export` as the source reviewer_decisions "
                     "(repeatable) [default: $TRIAGE_WORK_DIR/decisions/decisions.jsonl if it exists]."),
    ] = None,
    cap_per_class: Annotated[int, typer.Option(help="Most rows per source x language x class outside test.")] = 4000,
    card_dir: Annotated[
        Path | None, typer.Option(help="Where to write the data card [default: $TRIAGE_DATA_CARDS_DIR].")
    ] = None,
) -> None:
    """Build the corpus: read, map, dedupe, cap, split; write Parquet, manifest and data card."""
    from model.datafiles import CorpusError
    from training.data.build import BuildConfig, ExtraFile, build_corpus
    from training.data.card import render_data_card, stats_report

    settings = get_settings()
    decision_files = list(decisions or ())
    default_decisions = settings.work_dir / "decisions" / "decisions.jsonl"
    if not decision_files and default_decisions.is_file():
        decision_files = [default_decisions]
        typer.echo(f"including reviewer decisions from {default_decisions} (pass --decisions to choose others)")
    try:
        config = BuildConfig(
            datasets_dir=datasets_dir or settings.datasets_dir,
            out_dir=out or settings.corpus_dir,
            seed=seed,
            sources=tuple(source or ()),
            exclude_sources=tuple(exclude_source or ()),
            exclude_licences=tuple(exclude_licence or ()),
            allow_missing=allow_missing,
            extra=(*(ExtraFile(path, extra_licence) for path in extra or ()),
                   *(ExtraFile(path, "internal", _decisions_source(path, decision_files)) for path in decision_files)),
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


def _decisions_source(path: Path, files: list[Path]) -> str:
    """``reviewer_decisions``; with several decision files, ``reviewer_decisions:<file stem>`` each."""
    return "reviewer_decisions" if len(files) == 1 else f"reviewer_decisions:{path.stem}"


@data_app.command("stats")
def stats(
    corpus_dir: Annotated[Path | None, typer.Option(help="Corpus folder [default: $TRIAGE_WORK_DIR/corpus].")]
    = None,
) -> None:
    """Print the figures of a built corpus: rows per split, language, area and tier, source, licence."""
    from model.datafiles import CorpusError
    from training.data.build import load_manifest
    from training.data.card import stats_report

    try:
        manifest = load_manifest(corpus_dir or get_settings().corpus_dir)
    except CorpusError as exc:
        fail(str(exc))
    typer.echo(stats_report(manifest))


def _log_progress() -> None:
    """Our progress at INFO; libraries (onnxruntime's optimizer and quantizer, MLflow) at WARNING."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("training").setLevel(logging.INFO)


def train_command(
    profile: Annotated[str, typer.Option(
        help="quick (the demo: minutes on a 2-core CPU), standard (about an hour there) or full (all data, GPU).")]
    = "quick",
    run_name: Annotated[str | None, typer.Option(help="Run folder name [default: <profile>-<timestamp>].")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run's last checkpoint (needs --run-name).")] = False,
    corpus_dir: Annotated[Path | None, typer.Option(help="Corpus folder [default: $TRIAGE_WORK_DIR/corpus].")]
    = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    max_train_rows: Annotated[int | None, typer.Option(help="Override the profile's training sample size.")] = None,
    max_eval_rows: Annotated[int | None, typer.Option(help="Override the held-out sample size.")] = None,
    max_test_rows: Annotated[int | None, typer.Option(help="Override the test sample size.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Override the training-loop time budget.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the number of epochs.")] = None,
    track: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", metavar="FIELD=VALUE",
        help="Override any training config field (repeatable), e.g. --set encoder_layers=8 --set "
        "sample_cells=source_language_tier; validated like the rest of the config.")] = None,
) -> None:
    """Fine-tune the classifier on the corpus (then run `triage export`)."""
    from datetime import UTC, datetime
    from typing import get_origin

    from pydantic import ValidationError

    from training.config import TrainConfig

    settings = get_settings()
    if profile not in ("quick", "standard", "full"):
        fail(f"--profile must be quick, standard or full, not {profile!r}")
    overrides: dict[str, object] = {}
    for item in set_ or []:
        field, sep, value = item.partition("=")
        if not sep or field not in TrainConfig.model_fields:
            fail(f"--set {item!r}: expected FIELD=VALUE with a training config field "
                 f"({', '.join(sorted(TrainConfig.model_fields))})")
        if get_origin(TrainConfig.model_fields[field].annotation) is tuple:  # a list: comma-separated
            overrides[field] = tuple(v.strip() for v in value.split(",") if v.strip())
        else:
            overrides[field] = None if value.lower() in ("none", "null") else value
    if resume and not run_name:
        fail("--resume needs --run-name: the run whose checkpoint to continue")
    try:
        config = TrainConfig.for_profile(
            profile,  # type: ignore[arg-type]
            corpus_dir=corpus_dir or settings.corpus_dir, output_dir=settings.runs_dir,
            encoder_cache_dir=settings.cache_dir, seed=seed, max_train_rows=max_train_rows,
            max_eval_rows=max_eval_rows, max_test_rows=max_test_rows, max_minutes=max_minutes, epochs=epochs,
        )
        if overrides:
            config = TrainConfig.model_validate({**config.model_dump(), **overrides})
    except ValidationError as exc:
        fail("invalid training config: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()))
    from training.train import train

    _log_progress()
    name = run_name or f"{profile}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    result = train(config, name, resume=resume, track=track)
    report = result.summary.validation
    typer.echo(f"run {name}: {result.summary.steps} steps in {result.summary.train_seconds} s "
               f"({result.summary.stop_reason}); validation tier macro-F1 {report['tier_macro_f1']:.3f}, "
               f"area macro-F1 {report['area_macro_f1']:.3f}")
    typer.echo(f"weights in {result.run_dir}; next: triage export --run-name {name}")


def export_command(
    run_name: Annotated[str | None, typer.Option(help="Training run to export [default: the latest].")] = None,
    track: Annotated[bool, typer.Option(help="Log to the run in MLflow and register the model.")] = True,
    quantize: Annotated[str, typer.Option(
        help="MatMuls in int8: all; ffn-input (the feed-forward output projections stay fp32); attention (both "
             "feed-forward MatMuls stay fp32).")] = "ffn-input",
    vocabulary: Annotated[str, typer.Option(
        help="Vocabulary kept: corpus (the tokens the corpus' own splits use) or full (the encoder's).")] = "corpus",
    artifact_name: Annotated[str | None, typer.Option(
        help="Folder name under the models directory [default: the run's name].")] = None,
) -> None:
    """Export a training run to ONNX (fp32 and int8), calibrate, evaluate, register as `challenger`."""
    from typing import get_args

    from training.export import ExportOptions, Quantize, Vocabulary

    if quantize not in get_args(Quantize):
        fail(f"--quantize {quantize!r}: use one of {', '.join(get_args(Quantize))}")
    if vocabulary not in get_args(Vocabulary):
        fail(f"--vocabulary {vocabulary!r}: use one of {', '.join(get_args(Vocabulary))}")
    from training.summary import SUMMARY_FILE, SummaryError

    settings = get_settings()
    runs = sorted((p for p in settings.runs_dir.glob("*") if (p / SUMMARY_FILE).is_file()),
                  key=lambda p: p.stat().st_mtime)
    if run_name:
        run_dir = settings.runs_dir / run_name
        if not (run_dir / SUMMARY_FILE).is_file():
            fail(f"{run_dir}: no finished training run here ({SUMMARY_FILE} missing)")
    elif runs:
        run_dir = runs[-1]
    else:
        fail(f"{settings.runs_dir}: no training runs; run `triage train` first")
    from training.export import export
    from training.model_card import write_model_card

    _log_progress()
    try:
        result = export(run_dir, settings.models_dir / (artifact_name or run_dir.name), track=track,
                        options=ExportOptions(quantize=quantize, vocabulary=vocabulary))  # type: ignore[arg-type]
    except SummaryError as exc:
        fail(str(exc))
    card = write_model_card(result.meta, settings.data_cards_dir / "model.md")
    test = result.meta.metrics["test"]
    typer.echo(f"artifact {result.artifact_dir} (int8 {result.meta.metrics['sizes_mb']['int8']} MB); test tier "
               f"macro-F1 {test['tier_macro_f1']:.3f}, area macro-F1 {test['area_macro_f1']:.3f}, high-risk recall "
               f"{test['high_risk_recall']:.3f}; model card {card}")
    if result.model_version:
        typer.echo(f"registered triage-classifier version {result.model_version} as 'challenger'")
