"""Bulk scoring on Ray Data (``triage score --engine ray``): backfills bigger than one machine.

The same pipeline as the local engine (``serving.bulk.local_engine``): ``read_csv``/``read_json``/
``read_parquet``, then ``map_batches`` with ``ScorerActor``, a callable class that loads the ONNX scorer once per
actor from the artifact folder (a path: an onnxruntime session cannot be pickled, and every node loads its own)
and runs ``validate_rows`` (``serving.bulk.inputs``) and ``RowScorer.decide`` (``serving.bulk.scoring``) on each
batch, then ``write_parquet``/``write_json``/``write_csv``.

Differences from the local engine, by design:

- The output is a folder of files (Ray writes one per block), staged in ``<output>.partial`` and renamed to
  ``<output>`` when every block is written: it appears complete or not at all. A failed run is rerun from the
  start (Ray already retries failed tasks); there is no chunk-level resume.
- Row order is not kept across files; join on ``report_id``.
- Ray does not know line numbers: a bad row is named by its report_id (when valid). ``--on-error skip`` writes
  the bad rows to ``<output>.errors.jsonl``; it materialises the scored rows once to split them (spilled to disk
  by Ray when they do not fit in memory).
- On a cluster, the model folder and the input must be readable at the same path on every node (a shared file
  system); the routing policy travels with the job.

Ray is imported only here and only when called: it lives in the ``batch`` extra.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.bulk.errors import BulkError, InputRowError
from serving.bulk.formats import Format
from serving.bulk.inputs import Columns, RawRow, read_csv_header, validate_rows
from serving.bulk.job import BulkJob, OnError, Summary
from serving.bulk.outputs import for_format, output_schema
from serving.bulk.scoring import BulkModel, RowScorer

if TYPE_CHECKING:
    from serving.policy import RoutingPolicy

#: Columns the actors add in skip mode, to tell bad rows from decisions.
_ERROR_FIELD, _ERROR = "_error_field", "_error"
_SUFFIXES = {Format.CSV: ["csv"], Format.JSONL: ["jsonl", "ndjson", "json"], Format.PARQUET: ["parquet", "pq"]}


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise BulkError("--engine ray needs Ray Data: pip install 'triage-safety[batch]'") from exc
    return ray


class ScorerActor:
    """One Ray actor: loads the model, the language profiles and the policy once, then scores batches."""

    def __init__(self, folder: str, name: str, version: str, policy_json: str, columns: Columns, batch_size: int,
                 output_format: str, on_error: str, threads: int) -> None:
        from model.scorer import Scorer
        from serving.language import LanguageDetector
        from serving.policy import RoutingPolicy

        model = BulkModel(Scorer(Path(folder), threads=threads), name, version, Path(folder))
        policy = RoutingPolicy.model_validate_json(policy_json)
        self.rows = RowScorer(model, policy, LanguageDetector(), batch_size=batch_size)
        self.columns = columns
        self.format = Format(output_format)
        self.skip = OnError(on_error) is OnError.SKIP

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        raw = [RawRow(None, None, values) for values in batch.to_pylist()]
        reports, problems = validate_rows(raw, self.columns)
        if problems and not self.skip:
            raise InputRowError(problems[0].describe("input"))
        rows = for_format(self.rows.decide(reports), self.format)
        schema = output_schema(self.format)
        if not self.skip:
            return pa.Table.from_pylist(rows, schema=schema)
        schema = schema.append(pa.field(_ERROR_FIELD, pa.string())).append(pa.field(_ERROR, pa.string()))
        bad = [{"report_id": p.report_id, _ERROR_FIELD: p.field, _ERROR: p.message} for p in problems]
        return pa.Table.from_pylist([*rows, *bad], schema=schema)


def _read(ray: Any, job: BulkJob) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.json as pajson

    path = str(job.input)
    extensions = _SUFFIXES[job.input_format]
    if job.input_format is Format.CSV:
        first = job.input if job.input.is_file() else _first_file(job.input, extensions)
        header = read_csv_header(first)
        job.columns.check(header, str(first))
        # Every column as text, as the csv module reads it: Arrow would make "007" the number 7 and an
        # ISO date a timestamp without its zone, and the report schema would then judge something else.
        return ray.data.read_csv(
            path, file_extensions=extensions,
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    if job.input_format is Format.JSONL:
        # Arrow's reader (newline-delimited JSON) with the string fields typed: it would read an ISO date as a
        # timestamp without its zone, and created_at needs one.
        strings = [job.columns.id_column, job.columns.text_column, "language", "reporter_type", "channel",
                   "surface", "reporter_reason", "created_at"]
        schema = pa.schema([(name, pa.string()) for name in dict.fromkeys(strings)])
        return ray.data.read_json(path, file_extensions=extensions, parse_options=pajson.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="infer"))
    return ray.data.read_parquet(path, file_extensions=extensions)


def _first_file(folder: Path, extensions: list[str]) -> Path:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lstrip(".").lower() in extensions:
            return path
    raise BulkError(f"{folder}: no {'/'.join(extensions)} files")


def _write(dataset: Any, folder: Path, fmt: Format) -> None:
    if fmt is Format.PARQUET:
        dataset.write_parquet(str(folder))
    elif fmt is Format.JSONL:
        # pandas' JSON writer: full float precision (its default keeps 10 digits) and text as UTF-8.
        dataset.write_json(str(folder), force_ascii=False, double_precision=15)
    else:
        dataset.write_csv(str(folder))


def count_output_rows(folder: Path, fmt: Format) -> int:
    """Rows in a written output folder (Parquet from the metadata; no output value spans lines)."""
    import pyarrow.parquet as pq

    total = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if fmt is Format.PARQUET:
            total += pq.ParquetFile(path).metadata.num_rows
        else:
            with path.open("rb") as f:
                total += sum(1 for line in f if line.strip()) - (fmt is Format.CSV)
    return total


def _row_error(exc: BaseException) -> str | None:
    """The message of our InputRowError when that is what failed in an actor, else None.

    Ray hands the driver its own exception types with the actor's traceback as text (the InputRowError object and
    its ``__cause__`` chain do not survive the trip), so the message is found in that text."""
    marker = f"{InputRowError.__module__}.{InputRowError.__qualname__}: "
    for line in str(exc).splitlines():
        if line.startswith(marker):
            return line.removeprefix(marker)
    return None


def score_on_ray(
    job: BulkJob,
    model: BulkModel,
    policy: RoutingPolicy,
    *,
    concurrency: int | None = None,
    threads: int = 1,
    progress_bar: bool = False,
    notify: Callable[[str], None] = lambda _: None,
) -> Summary:
    """Score ``job.input`` (a file or a folder of files) into the folder ``job.output`` on Ray Data.

    Joins the running Ray (``ray.init`` already called, or ``RAY_ADDRESS``), else starts a local one.
    ``concurrency``: scorer actors (by default the cluster's CPUs less one, left for reading and writing)."""
    ray = _ray()
    started = time.perf_counter()
    output, staging = job.output, job.output.with_name(job.output.name + ".partial")
    if not job.input.exists():
        raise BulkError(f"{job.input}: no such file or folder")
    if output.exists():
        if not job.restart:
            raise BulkError(f"{output} exists; remove it, name another output, or pass --restart to replace it")
        shutil.rmtree(output) if output.is_dir() else output.unlink()
    shutil.rmtree(staging, ignore_errors=True)  # what a failed run left
    job.errors_path.unlink(missing_ok=True)

    if not ray.is_initialized():
        ray.init()
    ray.data.DataContext.get_current().enable_progress_bars = progress_bar
    cpus = int(ray.cluster_resources().get("CPU", 1))
    actors = concurrency or max(1, cpus // max(threads, 1) - 1)
    notify(f"scoring on Ray with {actors} scorer actor(s) of {threads} thread(s)")

    dataset = _read(ray, job).map_batches(
        ScorerActor,
        fn_constructor_kwargs={
            "folder": str(model.folder.resolve()), "name": model.name, "version": model.version,
            "policy_json": policy.model_dump_json(), "columns": job.columns, "batch_size": job.batch_size,
            "output_format": job.output_format.value, "on_error": job.on_error.value, "threads": threads,
        },
        batch_format="pyarrow", batch_size=job.chunk_size, num_cpus=threads,
        # A fixed pool of actors (``concurrency=`` is deprecated since Ray 2.51 for this).
        compute=ray.data.ActorPoolStrategy(size=actors),
    )
    failed = 0
    try:
        if job.on_error is OnError.SKIP:
            import pyarrow.compute as pc

            scored = dataset.materialize()
            decisions = scored.map_batches(
                lambda t: t.filter(pc.is_null(t[_ERROR])).drop_columns([_ERROR_FIELD, _ERROR]),
                batch_format="pyarrow")
            _write(decisions, staging, job.output_format)
            bad = scored.map_batches(lambda t: t.filter(pc.is_valid(t[_ERROR])), batch_format="pyarrow")
            failed = _write_errors(bad, job.errors_path)
        else:
            _write(dataset, staging, job.output_format)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        row_error = _row_error(exc)
        if row_error is not None:
            raise InputRowError(f"{job.input}: {row_error.removeprefix('input: ')} (--on-error skip writes bad "
                                f"rows to {job.errors_path.name} and goes on)") from None
        raise
    if not staging.exists():  # an empty input: Ray writes no file
        staging.mkdir(parents=True)
    os.replace(staging, output)
    written = count_output_rows(output, job.output_format)
    return Summary(output, written + failed, written, failed, 0, False, time.perf_counter() - started,
                   job.errors_path if failed else None)


def _write_errors(bad: Any, path: Path) -> int:
    """Bad rows to ``path`` (JSON Lines), through the driver: they are few, and one file is easy to read."""
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for row in bad.iter_rows():
            f.write(json.dumps({"row": None, "line": None, "report_id": row["report_id"],
                                "field": row[_ERROR_FIELD], "message": row[_ERROR]}, ensure_ascii=False) + "\n")
            count += 1
    if not count:
        path.unlink()
    return count
