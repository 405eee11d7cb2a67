"""The local engine (``triage score``, the default): scores a file in this process, resumably.

The input is read in chunks of ``chunk_size`` rows; after each chunk the job's state is committed to
``<output>.progress/progress.json`` (``serving.bulk.job``):

- CSV and JSON Lines output is appended to ``<output>`` itself, fsynced, and the state records its length in
  bytes. A rerun truncates the file to that length first, so rows of a chunk whose commit never happened
  (a kill between the write and the commit) are dropped and written again once: no row is written twice.
- Parquet cannot be appended to, so each chunk is a part file in ``<output>.progress/parts/`` (written under a
  temporary name, renamed, then committed); at the end the parts are combined into a temporary file that is
  renamed to ``<output>``: the output appears complete or not at all. Parts past the last commit are deleted on
  a rerun.
- ``<output>.errors.jsonl`` (bad rows with ``--on-error skip``) is truncated to its committed length the same way.

A rerun of the same job continues after the last committed chunk (the rows before it are read again, not
validated or scored); a rerun of a finished job says so and does nothing.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.bulk.errors import BulkError, InputRowError, JobInterrupted
from serving.bulk.formats import Format
from serving.bulk.inputs import count_rows, read_rows, validate_rows
from serving.bulk.job import BulkJob, JobState, OnError, Progress, Summary, job_fingerprint
from serving.bulk.outputs import (
    combine_parts,
    encode_rows,
    flush_and_sync,
    for_format,
    open_at,
    output_columns,
    write_part,
)
from serving.bulk.scoring import RowScorer

if TYPE_CHECKING:
    from serving.bulk.scoring import BulkModel
    from serving.language import LanguageDetector
    from serving.policy import RoutingPolicy


def check_paths(job: BulkJob) -> None:
    if not job.input.is_file():
        raise BulkError(f"{job.input}: no such file")
    if job.output.resolve() == job.input.resolve():
        raise BulkError(f"{job.output}: the output would overwrite the input")
    if job.output.is_dir():
        raise BulkError(f"{job.output}: a folder; name an output file")


def score_file(
    job: BulkJob,
    model: BulkModel,
    policy: RoutingPolicy,
    detector: LanguageDetector,
    *,
    progress_bar: bool = False,
    notify: Callable[[str], None] = lambda _: None,
    after_chunk: Callable[[Progress], None] | None = None,
) -> Summary:
    """Score ``job.input`` into ``job.output``, continuing an interrupted run of the same job.

    ``notify`` gets one-line notes (resuming, already finished); ``after_chunk`` is called after each commit."""
    check_paths(job)
    state = JobState(job)
    state.lock()
    try:
        return _score_locked(job, model, policy, detector, state, progress_bar, notify, after_chunk)
    finally:
        state.unlock()


def _score_locked(job: BulkJob, model: BulkModel, policy: RoutingPolicy, detector: LanguageDetector,
                  state: JobState, progress_bar: bool, notify: Callable[[str], None],
                  after_chunk: Callable[[Progress], None] | None) -> Summary:
    started = time.perf_counter()
    begun = _begin(job, model, policy, state, notify)
    if isinstance(begun, Summary):
        return begun
    progress = begun
    resumed_after = progress.rows_read

    text_output = job.output_format is not Format.PARQUET
    columns = output_columns()
    scorer = RowScorer(model, policy, detector, batch_size=job.batch_size)
    with contextlib.ExitStack() as stack:
        stack.callback(scorer.close)
        out = stack.enter_context(open_at(job.output, progress.output_bytes)) if text_output else None
        if out is not None and job.output_format is Format.CSV and progress.output_bytes == 0:
            out.write((",".join(columns) + "\n").encode("utf-8"))
            flush_and_sync(out)
            progress.output_bytes = out.tell()
            state.commit(progress)
        errors = stack.enter_context(open_at(job.errors_path, progress.errors_bytes)) \
            if job.on_error is OnError.SKIP else None
        if not text_output:
            state.drop_uncommitted_parts(progress.chunks)

        rows = read_rows(job.input, job.input_format, job.columns)
        stack.callback(getattr(rows, "close", lambda: None))
        deque(islice(rows, progress.rows_read), maxlen=0)  # committed rows: read past, not scored again
        bar = _progress_bar(job, progress.rows_read, progress_bar)
        stack.callback(bar.close)
        try:
            while chunk := list(islice(rows, job.chunk_size)):
                reports, problems = validate_rows(chunk, job.columns)
                if problems and job.on_error is OnError.FAIL:
                    raise InputRowError(f"{problems[0].describe(str(job.input))} (--on-error skip writes bad "
                                        f"rows to {job.errors_path.name} and goes on; after fixing the file, "
                                        "rerun with --restart)")
                out_rows = for_format(scorer.decide(reports), job.output_format)
                if out is not None:
                    out.write(encode_rows(out_rows, job.output_format, columns))
                    flush_and_sync(out)
                    progress.output_bytes = out.tell()
                else:
                    write_part(state.part(progress.chunks), out_rows, job.output_format)
                if errors is not None and problems:
                    errors.write(encode_rows([p.as_json() for p in problems], Format.JSONL, ()))
                    flush_and_sync(errors)
                    progress.errors_bytes = errors.tell()
                progress.rows_read += len(chunk)
                progress.rows_written += len(out_rows)
                progress.rows_failed += len(problems)
                progress.chunks += 1
                state.commit(progress)
                bar.update(len(chunk))
                if progress.rows_failed:
                    bar.set_postfix(skipped=progress.rows_failed, refresh=False)
                if after_chunk is not None:
                    after_chunk(progress)
            if not text_output:
                combine_parts([state.part(i) for i in range(progress.chunks)], job.output, job.output_format)
        except KeyboardInterrupt:
            raise JobInterrupted(f"interrupted; {progress.rows_read} rows are committed in {job.output}; "
                                 "rerun the same command to continue") from None
        progress.complete = True
        state.commit(progress)
    shutil.rmtree(state.parts, ignore_errors=True)
    if not progress.rows_failed:
        job.errors_path.unlink(missing_ok=True)
    return Summary(job.output, progress.rows_read, progress.rows_written, progress.rows_failed, resumed_after,
                   False, time.perf_counter() - started, _errors_path(job, progress))


def _begin(job: BulkJob, model: BulkModel, policy: RoutingPolicy, state: JobState,
           notify: Callable[[str], None]) -> Progress | Summary:
    """Where this run starts: the committed progress of an unfinished run of the same job, else a fresh one
    (committed); or the summary of the same job that already finished. Refuses another job's output."""
    fingerprint = job_fingerprint(job, model, policy)
    progress = None if job.restart else state.read()
    if job.restart:
        state.discard()
    elif progress is not None:
        changed = progress.fingerprint.differences(fingerprint)
        if changed:
            raise BulkError(f"{job.output}: an earlier job wrote it with another {'; '.join(changed)}; "
                            "rerun it as it was, or pass --restart to discard its output and start over")
        if progress.complete:
            if not job.output.exists():
                raise BulkError(f"{job.output}: the job finished, but its output is gone; --restart scores again")
            shutil.rmtree(state.parts, ignore_errors=True)
            notify(f"{job.output}: this job already finished ({progress.rows_written} rows written, "
                   f"{progress.rows_failed} skipped); nothing to do")
            return Summary(job.output, progress.rows_read, progress.rows_written, progress.rows_failed,
                           progress.rows_read, True, 0.0, _errors_path(job, progress))
        notify(f"{job.output}: resuming after row {progress.rows_read} ({progress.chunks} chunks committed)")
    elif job.output.exists():
        raise BulkError(f"{job.output} exists and is not the output of an unfinished `triage score` job; "
                        "remove it, name another output, or pass --restart to overwrite it")
    if progress is None:
        progress = Progress(fingerprint=fingerprint, updated_at=datetime.now(UTC))
        state.commit(progress)
    return progress


def _errors_path(job: BulkJob, progress: Progress) -> Path | None:
    return job.errors_path if progress.rows_failed else None


def _progress_bar(job: BulkJob, done: int, enabled: bool) -> Any:
    from tqdm import tqdm

    enabled = enabled and sys.stderr.isatty()
    total = count_rows(job.input, job.input_format) if enabled else None
    return tqdm(total=total, initial=done, unit="rows", file=sys.stderr, disable=not enabled, mininterval=0.5,
                dynamic_ncols=True, desc=job.input.name)
