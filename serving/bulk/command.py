"""``triage score --input FILE --output FILE``: the command (registered in ``triage.cli``) that checks its
options, loads the model and the routing policy the server uses, and runs an engine (``serving.bulk.local_engine``,
or ``serving.bulk.ray_engine`` with ``--engine ray``)."""

from __future__ import annotations

import importlib.util
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from model.settings import get_settings
from serving.bulk.errors import BulkError, JobInterrupted
from serving.bulk.formats import Format, format_of
from serving.bulk.inputs import Columns, read_csv_header, read_rows
from serving.bulk.job import BulkJob, OnError
from serving.bulk.local_engine import score_file
from serving.bulk.scoring import resolve_model


class Engine(StrEnum):
    LOCAL = "local"
    RAY = "ray"


def score_command(
    input: Annotated[Path, typer.Option("--input", help="Reports to score: CSV with a header, JSON Lines or "
                                        "Parquet (a folder of them with --engine ray).")],
    output: Annotated[Path, typer.Option("--output", help="Where the decisions go; its suffix names the format "
                                         "(.csv, .jsonl, .parquet). With --engine ray, a folder.")],
    format: Annotated[Format | None, typer.Option("--format", help="The input's format, if its suffix does not "
                                                  "say.")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="A model artifact folder (default: "
                                               "TRIAGE_MODEL_PATH, else the registry's TRIAGE_MODEL_ALIAS).")]
    = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Reports per model call.")] = 32,
    chunk_size: Annotated[int, typer.Option(min=1, max=1_000_000, help="Rows per committed chunk (local) or per "
                                            "Ray batch.")] = 1000,
    engine: Annotated[Engine, typer.Option(help="local: this process, resumable; ray: Ray Data (a cluster at "
                                           "RAY_ADDRESS, else a local one), into an output folder.")]
    = Engine.LOCAL,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Ray: scorer actors (default: the cluster's "
                                                    "CPUs less one).")] = None,
    on_error: Annotated[OnError, typer.Option(help="A bad row: fail names it and stops; skip writes it to "
                                              "OUTPUT.errors.jsonl and goes on.")] = OnError.FAIL,
    id_column: Annotated[str, typer.Option(help="The column holding report_id.")] = "report_id",
    text_column: Annotated[str, typer.Option(help="The column holding the report text.")] = "text",
    ignore_unknown_columns: Annotated[bool, typer.Option(
        "--ignore-unknown-columns",
        help="Drop columns that are not report fields (by default they are refused, as the API refuses them).")]
    = False,
    restart: Annotated[bool, typer.Option("--restart", help="Discard an earlier job's output and start over.")] = False,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar (there is none when "
                                              "stderr is not a terminal).")] = False,
) -> None:
    """Score a file of reports with the model and routing policy the server uses; one decision per row.

    Resumable: rerun the same command after an interruption and it continues after the last committed chunk.
    Nothing is stored in the service database."""
    from model.cli_support import fail
    from model.registry import ModelLoadError
    from serving.language import LanguageDetector
    from serving.policy import PolicyError, load_policy

    def bad(message: str, param: str) -> typer.BadParameter:
        return typer.BadParameter(message, param_hint=f"'{param}'")

    if engine is Engine.LOCAL and not input.is_file():
        raise bad(f"{input}: no such file" + (" (a folder needs --engine ray)" if input.is_dir() else ""),
                  "--input")
    if engine is Engine.RAY and not input.exists():
        raise bad(f"{input}: no such file or folder", "--input")
    if model is not None and not (model / "artifact.json").is_file():
        raise bad(f"{model}: not a model artifact folder (no artifact.json)", "--model")
    try:
        input_format = format_of(input, format) if input.is_file() or format else format_of(input)
    except BulkError as exc:
        raise bad(str(exc), "--format" if input.is_file() else "--input") from None
    try:
        output_format = format_of(output)
    except BulkError as exc:
        raise bad(str(exc), "--output") from None
    if Format.PARQUET in (input_format, output_format) and importlib.util.find_spec("pyarrow") is None:
        fail("Parquet needs pyarrow: pip install 'triage-safety[data]' (CSV and JSON Lines do not)")
    job = BulkJob(input=input, output=output, input_format=input_format, output_format=output_format,
                  columns=Columns(id_column, text_column, ignore_unknown_columns), batch_size=batch_size,
                  chunk_size=chunk_size, on_error=on_error, restart=restart)
    try:
        if input.is_file():
            _check_columns(job)
    except BulkError as exc:
        raise bad(str(exc), "--input") from None

    settings = get_settings()
    if model is not None:
        settings = settings.model_copy(update={"model_path": model})
    try:
        policy = load_policy(settings.routing_policy)
        loaded = resolve_model(settings)
    except (PolicyError, ModelLoadError) as exc:
        fail(str(exc))

    def say(message: str) -> None:
        typer.echo(message, err=True)

    try:
        if engine is Engine.RAY:
            from serving.bulk.ray_engine import score_on_ray

            summary = score_on_ray(job, loaded, policy, concurrency=concurrency, progress_bar=not no_progress,
                                   threads=settings.score_threads or 1, notify=say)
        else:
            summary = score_file(job, loaded, policy, LanguageDetector(), progress_bar=not no_progress, notify=say)
    except JobInterrupted as exc:
        fail(str(exc), code=130)
    except BulkError as exc:
        fail(str(exc))
    if summary.already_finished:
        return
    scored = summary.rows_read - summary.resumed_after
    rate = scored / summary.seconds if summary.seconds > 0 else 0.0
    errors = f"; {summary.rows_failed} bad rows in {summary.errors_path}" if summary.errors_path else ""
    resumed = f" (continued after row {summary.resumed_after})" if summary.resumed_after else ""
    say(f"wrote {summary.rows_written} decisions to {summary.output}{errors}{resumed}: {scored} rows in "
        f"{summary.seconds:.1f} s, {rate:.0f} rows/s")


def _check_columns(job: BulkJob) -> None:
    """The header or first row, before any model is loaded: a wrong column is a usage error."""
    if job.input_format is Format.CSV:
        job.columns.check(read_csv_header(job.input), str(job.input))
    else:
        next(read_rows(job.input, job.input_format, job.columns), None)
