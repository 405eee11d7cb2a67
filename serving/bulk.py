"""Bulk scoring: ``triage score --input FILE --output FILE`` for CSV, JSON Lines and Parquet.

Each input row is validated as a ``model.schema.Report`` (the API's schema: same limits, same messages),
scored in batches through the ONNX scorer, given a language by ``LanguageDetector`` and routed by the routing
policy, exactly as ``serving.service`` does for an API request; one output row per input row. Nothing is stored
in the service database. ``RowScorer.decide`` is the one function that turns validated reports into output rows:
the local engine below and the Ray Data engine (``serving.bulk_ray``) both call it.

**Resumable.** The input is read in chunks of ``chunk_size`` rows; after each chunk the job's state is
committed to ``<output>.progress/progress.json`` (written to a temporary file, fsynced, renamed):

- CSV and JSON Lines output is appended to ``<output>`` itself, fsynced, and the state records its length in
  bytes. A rerun truncates the file to that length first, so rows of a chunk whose commit never happened
  (a kill between the write and the commit) are dropped and written again once: no row is written twice.
- Parquet cannot be appended to, so each chunk is a part file in ``<output>.progress/parts/`` (written under a
  temporary name, renamed, then committed); at the end the parts are combined into a temporary file that is
  renamed to ``<output>``: the output appears complete or not at all. Parts past the last commit are deleted on
  a rerun.
- ``<output>.errors.jsonl`` (bad rows with ``--on-error skip``) is truncated to its committed length the same way.

The state holds a fingerprint: the sha256 of the input file and of the model files, the routing policy, and the
options that change the output (columns, format, batch and chunk size, error mode). A rerun with the same
fingerprint continues after the last committed chunk (the rows before it are read again, not validated or
scored); a rerun of a finished job says so and does nothing; a rerun with another fingerprint is refused, naming
what changed (``--restart`` starts over). A lock file stops two processes writing one output.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import importlib.util
import io
import json
import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer
from pydantic import BaseModel, ConfigDict, ValidationError

from model.schema import Report
from model.settings import get_settings

if TYPE_CHECKING:
    from model.scorer import Scorer
    from model.settings import Settings
    from serving.language import LanguageDetector
    from serving.policy import RoutingPolicy


class Format(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


class OnError(StrEnum):
    FAIL = "fail"
    SKIP = "skip"


class Engine(StrEnum):
    LOCAL = "local"
    RAY = "ray"


_SUFFIXES = {".csv": Format.CSV, ".jsonl": Format.JSONL, ".ndjson": Format.JSONL, ".parquet": Format.PARQUET,
             ".pq": Format.PARQUET}
#: Report fields a file may hold besides the id and text columns (``followers`` and ``prior_strikes`` are the
#: flat form of ``account``, for CSV).
_FIELDS = ("language", "reporter_type", "channel", "surface", "reporter_reason", "account", "report_count",
           "created_at")
_ACCOUNT_FIELDS = ("followers", "prior_strikes")
#: Separator of list values (predicted areas, reasons) in CSV output, as in the corpus's CSV input.
LIST_SEPARATOR = "|"


class BulkError(Exception):
    """The job cannot run as asked (input, output, options, an earlier job): the message says what to do."""


class RowError(BulkError):
    """A bad input row with ``--on-error fail``; the message names the file, the line or row and the field."""


class JobInterrupted(BulkError):
    """Ctrl-C: what was committed stays, and a rerun continues from there."""


def format_of(path: Path, given: Format | None = None) -> Format:
    """``given``, else the format the suffix names (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``/``.pq``)."""
    if given is not None:
        return given
    try:
        return _SUFFIXES[path.suffix.lower()]
    except KeyError:
        known = ", ".join(_SUFFIXES)
        raise BulkError(f"{path}: unknown format {path.suffix or '(no suffix)'!r}; name a file ending in {known}"
                        " (or give --format for the input)") from None


# --- input rows ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Columns:
    """How a file's columns map to ``Report`` fields."""

    id_column: str = "report_id"
    text_column: str = "text"
    #: Drop columns that are not report fields instead of refusing them (the API refuses unknown fields).
    ignore_unknown: bool = False

    @property
    def known(self) -> frozenset[str]:
        return frozenset({self.id_column, self.text_column, *_FIELDS, *_ACCOUNT_FIELDS})

    def check(self, names: Sequence[str], source: str) -> None:
        """Refuse a header (CSV) or schema (Parquet) that cannot give reports: a missing id or text column, a
        column twice, an unknown column (unless ignored)."""
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise BulkError(f"{source}: column {', '.join(map(repr, twice))} appears more than once")
        for name, option in ((self.text_column, "--text-column"), (self.id_column, "--id-column")):
            if name not in names:
                shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
                raise BulkError(f"{source}: no column {name!r} (columns: {shown or 'none'}); "
                                f"name yours with {option}")
        unknown = [n for n in names if n not in self.known]
        if unknown and not self.ignore_unknown:
            raise BulkError(f"{source}: unknown column {', '.join(map(repr, unknown))}: a report has "
                            f"{', '.join(sorted(self.known))}; --ignore-unknown-columns drops the others")

    def payload(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
        """The ``Report`` fields of one row, and the column each came from (errors name the file's column).

        An empty cell or a null means "not given" (the field's default); the id and text keep an empty string,
        so that the error says it is empty."""
        data: dict[str, Any] = {}
        names: dict[tuple[str, ...], str] = {}
        flat_account: dict[str, Any] = {}
        for column, value in values.items():
            if column == self.id_column:
                key = "report_id"
            elif column == self.text_column:
                key = "text"
            elif column in _ACCOUNT_FIELDS:
                if not _blank(value):
                    flat_account[column] = value
                    names["account", column] = column
                continue
            elif column in _FIELDS or not self.ignore_unknown:
                key = column  # an unknown one is refused by the schema, by name
            else:
                continue
            if value is None or (key not in ("report_id", "text") and _blank(value)):
                continue
            if key == "account" and isinstance(value, dict):
                value = {k: v for k, v in value.items() if v is not None}
                names.update({("account", str(k)): f"{column}.{k}" for k in value})
            data[key] = value
            names[(key,)] = column
        if flat_account:
            nested = data.get("account")
            data["account"] = {**nested, **flat_account} if isinstance(nested, dict) else flat_account
        return data, names


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True, slots=True)
class RawRow:
    """One record of the input: its values, or why it could not be read (bad JSON, wrong field count)."""

    #: 1-based data row (header and blank lines not counted); None where the engine does not know it (Ray).
    row: int | None
    #: The line it starts on (CSV, JSON Lines).
    line: int | None
    values: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class RowProblem:
    row: int | None
    line: int | None
    #: The row's report_id when it is valid (safe to show), else None.
    report_id: str | None
    field: str | None
    message: str

    def where(self, source: str) -> str:
        if self.line is not None:
            return f"{source}:{self.line}"
        if self.row is not None:
            return f"{source}: row {self.row}"
        return f"{source}: report_id {self.report_id!r}" if self.report_id else f"{source}: a row"

    def describe(self, source: str) -> str:
        return f"{self.where(source)}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "line": self.line, "report_id": self.report_id, "field": self.field,
                "message": self.message}


def validate_rows(rows: Sequence[RawRow], columns: Columns) -> tuple[list[Report], list[RowProblem]]:
    """The rows that are valid reports, and what is wrong with the others (pydantic's messages, never the
    values: they may be report text)."""
    reports: list[Report] = []
    problems: list[RowProblem] = []
    for raw in rows:
        if raw.values is None:
            problems.append(RowProblem(raw.row, raw.line, None, None, raw.problem or "unreadable row"))
            continue
        data, names = columns.payload(raw.values)
        try:
            reports.append(Report.model_validate(data))
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            fields = [_field_name(tuple(str(p) for p in err["loc"]), names) for err in errors]
            id_ok = all(err["loc"][:1] != ("report_id",) for err in errors)
            report_id = data.get("report_id") if id_ok and isinstance(data.get("report_id"), str) else None
            message = "; ".join(f"{f}: {err['msg']}" for f, err in zip(fields, errors, strict=True))
            problems.append(RowProblem(raw.row, raw.line, report_id, fields[0], message))
    return reports, problems


def _field_name(loc: tuple[str, ...], names: Mapping[tuple[str, ...], str]) -> str:
    """A pydantic error location as the file's column name (``body`` for ``text`` with ``--text-column body``)."""
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in names:
            return ".".join([names[loc[:cut]], *loc[cut:]])
    return ".".join(loc) or "(row)"


def read_rows(path: Path, fmt: Format, columns: Columns) -> Iterator[RawRow]:
    """The records of ``path``, in order; the header (CSV) or schema (Parquet) is checked before the first."""
    if fmt is Format.CSV:
        return _csv_rows(path, columns)
    if fmt is Format.JSONL:
        return _jsonl_rows(path, columns)
    return _parquet_rows(path, columns)


def read_csv_header(path: Path) -> list[str]:
    """The header of a CSV file (UTF-8, with or without a byte-order mark)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), None)
    except UnicodeDecodeError:
        raise BulkError(f"{path}:1: not UTF-8 text") from None
    except csv.Error as exc:
        raise BulkError(f"{path}:1: not a CSV header: {exc}") from None
    if not header:
        raise BulkError(f"{path}: empty file; a CSV input starts with a header naming its columns")
    return header


def _csv_rows(path: Path, columns: Columns) -> Iterator[RawRow]:
    header = read_csv_header(path)
    columns.check(header, str(path))
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader)
        row, previous = 0, reader.line_num
        try:
            for record in reader:
                line, previous = previous + 1, reader.line_num
                if not record:
                    continue  # a blank line
                row += 1
                if len(record) != len(header):
                    yield RawRow(row, line, None, f"{len(record)} fields; the header has {len(header)}")
                else:
                    yield RawRow(row, line, dict(zip(header, record, strict=True)))
        except UnicodeDecodeError:
            raise BulkError(f"{path}: not UTF-8 text after line {previous}") from None
        except csv.Error as exc:  # e.g. a NUL byte or a field over the csv module's size limit: no way past it
            raise BulkError(f"{path}:{previous + 1}: unreadable CSV: {exc}") from None


def _jsonl_rows(path: Path, columns: Columns) -> Iterator[RawRow]:
    first = True
    row = 0
    with path.open("rb") as f:
        for line, data in enumerate(f, start=1):
            if not data.strip():
                continue
            row += 1
            try:
                value = json.loads(data)
            except UnicodeDecodeError:
                yield RawRow(row, line, None, "not UTF-8 text")
                continue
            except json.JSONDecodeError as exc:
                yield RawRow(row, line, None, f"not valid JSON: {exc.msg} (column {exc.colno})")
                continue
            if not isinstance(value, dict):
                yield RawRow(row, line, None, f"a JSON {type(value).__name__}, not an object")
                continue
            if first:
                # JSON Lines has no header: a text column missing from the first row is a wrong --text-column,
                # not thousands of bad rows.
                first = False
                for name, option in ((columns.text_column, "--text-column"), (columns.id_column, "--id-column")):
                    if name not in value:
                        raise BulkError(f"{path}:{line}: the first row has no field {name!r} "
                                        f"(fields: {', '.join(map(str, value)) or 'none'}); name yours with {option}")
            yield RawRow(row, line, value)


def _parquet_rows(path: Path, columns: Columns) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow's ArrowInvalid and OSError for a file that is not Parquet
        raise BulkError(f"{path}: not a Parquet file: {exc}") from None
    columns.check(parquet.schema_arrow.names, str(path))
    row = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for values in batch.to_pylist():
            row += 1
            yield RawRow(row, None, values)


def count_rows(path: Path, fmt: Format) -> int | None:
    """How many rows the input holds, when that is cheap: Parquet's metadata; for CSV and JSON Lines the
    number of non-blank lines (an estimate for CSV: a quoted value may span lines)."""
    if fmt is Format.PARQUET:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    lines = 0
    with path.open("rb") as f:
        for line in f:
            lines += bool(line.strip())
    return max(lines - (fmt is Format.CSV), 0)


# --- scoring: the one row function both engines use -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BulkModel:
    """A loaded model and where its artifact folder is (Ray's actors load it again from there)."""

    scorer: Scorer
    name: str
    version: str
    folder: Path


def output_columns() -> list[str]:
    """The output's columns, in order: tier names and areas from the taxonomy."""
    from model.taxonomy import get_taxonomy

    taxonomy = get_taxonomy()
    return ["report_id", "tier", "model_tier", *(f"p_{t}" for t in taxonomy.tier_names), "areas",
            *(f"area_{a}" for a in taxonomy.area_names), "language", "detected_language", "language_confidence",
            "action", "queue", "priority", "grey_area", "grey_reasons", "rules", "model_name", "model_version",
            "policy_version"]


_LIST_COLUMNS = frozenset({"areas", "grey_reasons", "rules"})
#: The API's length bucketing (``serving.deps.MODEL_CALL_MAX_PADDING``, which imports the web stack; a test keeps
#: the two equal): the same reports in one model call get the same int8 probabilities as through the API.
MODEL_CALL_MAX_PADDING = 8


def output_schema(fmt: Format) -> Any:
    """The output's Arrow schema (Parquet, and Ray's batches): lists stay lists, except in CSV."""
    import pyarrow as pa

    def kind(column: str) -> Any:
        if column in _LIST_COLUMNS:
            return pa.string() if fmt is Format.CSV else pa.list_(pa.string())
        if column.startswith(("p_", "area_")) or column == "language_confidence":
            return pa.float64()
        if column == "priority":
            return pa.int64()
        if column == "grey_area":
            return pa.bool_()
        return pa.string()

    return pa.schema([(c, kind(c)) for c in output_columns()])


def for_format(rows: Sequence[dict[str, Any]], fmt: Format) -> list[dict[str, Any]]:
    """``rows`` as ``fmt`` holds them: CSV joins lists with ``|``."""
    if fmt is not Format.CSV:
        return list(rows)
    return [{k: LIST_SEPARATOR.join(v) if k in _LIST_COLUMNS else v for k, v in row.items()} for row in rows]


class RowScorer:
    """Validated reports to output rows: model, language, routing policy, as the API decides them.

    The model runs in a helper thread while this one detects languages (pure Python, a few ms a report):
    onnxruntime releases the GIL, so the two overlap as in ``ScoringService``. ``close()`` stops the thread."""

    def __init__(self, model: BulkModel, policy: RoutingPolicy, detector: LanguageDetector, *,
                 batch_size: int = 32) -> None:
        self.model = model
        self.policy = policy
        self.detector = detector
        self.batch_size = batch_size
        self.max_padding = MODEL_CALL_MAX_PADDING
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="triage-bulk-model")
        detector.load()

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def decide(self, reports: Sequence[Report], received_at: datetime | None = None) -> list[dict[str, Any]]:
        """One output row per report, in order (``received_at`` only sets SLA deadlines, not in the output)."""
        from model.scorer import to_scores
        from model.taxonomy import get_taxonomy
        from serving.pipeline import detect_languages, route_scored

        if not reports:
            return []
        received_at = received_at or datetime.now(UTC)
        scorer = self.model.scorer
        probabilities = self._pool.submit(scorer.probabilities, [r.text for r in reports], self.batch_size,
                                          max_padding=self.max_padding)
        detections = detect_languages(reports, scorer.meta, self.detector)
        scores = to_scores(scorer.meta, *probabilities.result())
        routes = route_scored(reports, scores, detections, scorer.meta, self.policy, received_at)
        taxonomy = get_taxonomy()
        rows = []
        for report, score, detection, decided in zip(reports, scores, detections, routes, strict=True):
            rows.append({
                "report_id": report.report_id, "tier": decided.tier.value, "model_tier": score.tier,
                **{f"p_{t}": score.tier_probs[t] for t in taxonomy.tier_names},
                "areas": list(score.areas),
                **{f"area_{a}": score.area_probs[a] for a in taxonomy.area_names},
                "language": decided.language, "detected_language": detection.language,
                "language_confidence": detection.confidence,
                "action": decided.action.value, "queue": decided.queue, "priority": decided.priority,
                # Rule names, each once (a rule such as grey.thin_area may fire for several areas); the
                # API's answer has the sentences.
                "grey_area": decided.is_grey_area,
                "grey_reasons": list(dict.fromkeys(r.name for r in decided.grey_area)),
                "rules": list(dict.fromkeys(r.name for r in decided.rules)),
                "model_name": self.model.name, "model_version": self.model.version,
                "policy_version": self.policy.version,
            })
        return rows


# --- the model and the job's fingerprint ----------------------------------------------------------------------

def resolve_model(settings: Settings) -> BulkModel:
    """The model the server would serve: ``settings.model_path``, else the registry alias (downloaded once)."""
    from serving.model_loader import _download, load_model, load_registry_version, resolve_alias

    if settings.model_path is not None:
        loaded = load_model(settings)
        return BulkModel(loaded.scorer, loaded.name, loaded.version, settings.model_path)
    version, alias = resolve_alias(settings)
    loaded = load_registry_version(settings, version, alias)
    # The version's folder in the serving cache: already downloaded by the load, so this only names it.
    return BulkModel(loaded.scorer, loaded.name, loaded.version, _download(version, settings))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Fingerprint(BaseModel):
    """What decides a job's output. A rerun continues only when all of it is the same."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_sha256: str
    model: str
    model_sha256: str
    policy_version: str
    policy_sha256: str
    options: dict[str, str | int | bool]

    def differences(self, other: Fingerprint) -> list[str]:
        """What ``other`` (this run) changes, in words."""
        found = []
        if self.input_sha256 != other.input_sha256:
            found.append("the input file's content")
        if self.model_sha256 != other.model_sha256:
            found.append(f"the model ({self.model} -> {other.model})")
        if self.policy_sha256 != other.policy_sha256:
            versions = (f"{self.policy_version} -> {other.policy_version}" if self.policy_version !=
                        other.policy_version else f"changed, though still version {other.policy_version}")
            found.append(f"the routing policy ({versions})")
        for key in sorted(self.options.keys() | other.options.keys()):
            if self.options.get(key) != other.options.get(key):
                found.append(f"{key} ({self.options.get(key)} -> {other.options.get(key)})")
        return found


# --- the local engine -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BulkJob:
    input: Path
    output: Path
    input_format: Format
    output_format: Format
    columns: Columns = field(default_factory=Columns)
    batch_size: int = 32
    chunk_size: int = 1000
    on_error: OnError = OnError.FAIL
    #: Discard an earlier job's output and state and start over.
    restart: bool = False

    @property
    def errors_path(self) -> Path:
        return self.output.with_name(self.output.name + ".errors.jsonl")

    @property
    def state_dir(self) -> Path:
        return self.output.with_name(self.output.name + ".progress")

    def options(self) -> dict[str, str | int | bool]:
        return {"input_format": self.input_format.value, "output_format": self.output_format.value,
                "id_column": self.columns.id_column, "text_column": self.columns.text_column,
                "ignore_unknown_columns": self.columns.ignore_unknown, "batch_size": self.batch_size,
                "chunk_size": self.chunk_size, "on_error": self.on_error.value}


class Progress(BaseModel):
    """``<output>.progress/progress.json``: what has been committed."""

    model_config = ConfigDict(extra="forbid")

    fingerprint: Fingerprint
    rows_read: int = 0
    rows_written: int = 0
    rows_failed: int = 0
    chunks: int = 0
    #: Committed length of the output (CSV, JSON Lines) and of the errors file, in bytes.
    output_bytes: int = 0
    errors_bytes: int = 0
    complete: bool = False
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Summary:
    output: Path
    rows_read: int
    rows_written: int
    rows_failed: int
    #: Rows committed by an earlier run that this one continued after.
    resumed_after: int
    already_finished: bool
    seconds: float
    errors_path: Path | None


def check_paths(job: BulkJob) -> None:
    if not job.input.is_file():
        raise BulkError(f"{job.input}: no such file")
    if job.output.resolve() == job.input.resolve():
        raise BulkError(f"{job.output}: the output would overwrite the input")
    if job.output.is_dir():
        raise BulkError(f"{job.output}: a folder; name an output file")


def _canonical(value: Any) -> Any:
    return sorted(value) if isinstance(value, (set, frozenset)) else str(value)


def job_fingerprint(job: BulkJob, model: BulkModel, policy: RoutingPolicy) -> Fingerprint:
    meta = model.scorer.meta
    model_digest = hashlib.sha256()
    for name in ("artifact.json", meta.files.model, meta.files.tokenizer):
        model_digest.update(_sha256_file(model.folder / name).encode())
    # Python mode keeps sets as sets, to be sorted here: in JSON mode they become lists in hash order, which
    # differs from process to process.
    policy_json = json.dumps(policy.model_dump(), sort_keys=True, default=_canonical)
    return Fingerprint(
        input_sha256=_sha256_file(job.input), model=f"{model.name}:{model.version}",
        model_sha256=model_digest.hexdigest(), policy_version=policy.version,
        policy_sha256=hashlib.sha256(policy_json.encode()).hexdigest(), options=job.options(),
    )


class _State:
    """The job's sidecar folder: progress file, lock, Parquet parts."""

    def __init__(self, job: BulkJob) -> None:
        self.job = job
        self.folder = job.state_dir
        self.file = self.folder / "progress.json"
        self.parts = self.folder / "parts"
        self._lock: BinaryIO | None = None

    def lock(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = (self.folder / "lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise BulkError(f"{self.job.output}: another `triage score` is writing this output") from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def read(self) -> Progress | None:
        try:
            return Progress.model_validate_json(self.file.read_bytes())
        except FileNotFoundError:
            return None
        except (ValidationError, ValueError) as exc:
            raise BulkError(f"{self.file}: unreadable job state ({type(exc).__name__}); "
                            "--restart starts the job over") from None

    def commit(self, progress: Progress) -> None:
        progress.updated_at = datetime.now(UTC)
        tmp = self.file.with_name(f"{self.file.name}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write(progress.model_dump_json(indent=1))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.file)

    def part(self, index: int) -> Path:
        return self.parts / f"part-{index:06d}.parquet"

    def discard(self) -> None:
        """Remove an earlier job's output, errors and state (``--restart``); the lock stays held."""
        for path in (self.job.output, self.job.errors_path, self.file):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.parts, ignore_errors=True)


def _fsync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _open_at(path: Path, size: int) -> BinaryIO:
    """``path`` for appending after its first ``size`` bytes (what was committed); anything after is dropped."""
    handle = path.open("r+b" if path.exists() else "w+b")
    actual = handle.seek(0, os.SEEK_END)
    if actual < size:
        handle.close()
        raise BulkError(f"{path}: shorter ({actual} bytes) than the {size} bytes committed; it was changed "
                        "outside this job; --restart starts over")
    handle.truncate(size)
    handle.seek(size)
    return handle


def _encode(rows: Sequence[dict[str, Any]], fmt: Format, columns: Sequence[str]) -> bytes:
    if fmt is Format.JSONL:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if row[c] is None else str(row[c]).lower() if isinstance(row[c], bool) else row[c]
                         for c in columns])
    return buffer.getvalue().encode("utf-8")


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
    state = _State(job)
    state.lock()
    try:
        return _score_locked(job, model, policy, detector, state, progress_bar, notify, after_chunk)
    finally:
        state.unlock()


def _score_locked(job: BulkJob, model: BulkModel, policy: RoutingPolicy, detector: LanguageDetector,
                  state: _State, progress_bar: bool, notify: Callable[[str], None],
                  after_chunk: Callable[[Progress], None] | None) -> Summary:
    started = time.perf_counter()
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
    resumed_after = progress.rows_read

    text_output = job.output_format is not Format.PARQUET
    columns = output_columns()
    scorer = RowScorer(model, policy, detector, batch_size=job.batch_size)
    with contextlib.ExitStack() as stack:
        stack.callback(scorer.close)
        out = stack.enter_context(_open_at(job.output, progress.output_bytes)) if text_output else None
        if out is not None and job.output_format is Format.CSV and progress.output_bytes == 0:
            out.write((",".join(columns) + "\n").encode("utf-8"))
            _fsync(out)
            progress.output_bytes = out.tell()
            state.commit(progress)
        errors = stack.enter_context(_open_at(job.errors_path, progress.errors_bytes)) \
            if job.on_error is OnError.SKIP else None
        if not text_output:
            _drop_uncommitted_parts(state, progress.chunks)

        rows = read_rows(job.input, job.input_format, job.columns)
        stack.callback(getattr(rows, "close", lambda: None))
        deque(islice(rows, progress.rows_read), maxlen=0)  # committed rows: read past, not scored again
        bar = _progress_bar(job, progress.rows_read, progress_bar)
        stack.callback(bar.close)
        try:
            while chunk := list(islice(rows, job.chunk_size)):
                reports, problems = validate_rows(chunk, job.columns)
                if problems and job.on_error is OnError.FAIL:
                    raise RowError(f"{problems[0].describe(str(job.input))} (--on-error skip writes bad rows "
                                   f"to {job.errors_path.name} and goes on; after fixing the file, rerun with "
                                   "--restart)")
                out_rows = for_format(scorer.decide(reports), job.output_format)
                if out is not None:
                    out.write(_encode(out_rows, job.output_format, columns))
                    _fsync(out)
                    progress.output_bytes = out.tell()
                else:
                    _write_part(state, progress.chunks, out_rows, job.output_format)
                if errors is not None and problems:
                    errors.write(_encode([p.as_json() for p in problems], Format.JSONL, ()))
                    _fsync(errors)
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
                _combine_parts(state, progress.chunks, job.output, job.output_format)
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


def _errors_path(job: BulkJob, progress: Progress) -> Path | None:
    return job.errors_path if progress.rows_failed else None


def _progress_bar(job: BulkJob, done: int, enabled: bool) -> Any:
    from tqdm import tqdm

    enabled = enabled and sys.stderr.isatty()
    total = count_rows(job.input, job.input_format) if enabled else None
    return tqdm(total=total, initial=done, unit="rows", file=sys.stderr, disable=not enabled, mininterval=0.5,
                dynamic_ncols=True, desc=job.input.name)


def _drop_uncommitted_parts(state: _State, chunks: int) -> None:
    state.parts.mkdir(parents=True, exist_ok=True)
    for path in state.parts.iterdir():
        stem = path.name.removeprefix("part-").removesuffix(".parquet")
        if not stem.isdigit() or int(stem) >= chunks:
            path.unlink()
    missing = [i for i in range(chunks) if not state.part(i).is_file()]
    if missing:
        raise BulkError(f"{state.parts}: committed part {missing[0]} is missing; --restart starts over")


def _write_part(state: _State, index: int, rows: Sequence[dict[str, Any]], fmt: Format) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = state.part(index)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pylist(list(rows), schema=output_schema(fmt)), tmp)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


#: Rows per row group of the combined Parquet output (parts are a chunk each, often smaller).
_ROW_GROUP_ROWS = 64 * 1024


def _combine_parts(state: _State, chunks: int, output: Path, fmt: Format) -> None:
    """The parts, in order, into one Parquet file that appears complete or not at all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = output_schema(fmt)
    tmp = output.with_name(f".{output.name}.tmp")
    pending: list[Any] = []
    with pq.ParquetWriter(tmp, schema) as writer:
        for index in range(chunks):
            pending.append(pq.read_table(state.part(index), schema=schema))
            if sum(t.num_rows for t in pending) >= _ROW_GROUP_ROWS:
                writer.write_table(pa.concat_tables(pending))
                pending = []
        if pending or chunks == 0:
            writer.write_table(pa.concat_tables(pending) if pending else schema.empty_table())
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, output)


# --- the command ----------------------------------------------------------------------------------------------

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
    from serving.language import LanguageDetector
    from serving.model_loader import ModelLoadError
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
            from serving.bulk_ray import score_on_ray

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
