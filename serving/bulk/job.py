"""A bulk job: what was asked (``BulkJob``), what it gave (``Summary``), and what lets a rerun continue it.

The job's state lives beside the output, in ``<output>.progress/`` (``JobState``): ``progress.json`` (the
committed ``Progress``, written to a temporary file, fsynced, renamed), a lock file that stops two processes
writing one output, and the Parquet part files.

The state holds a fingerprint: the sha256 of the input file and of the model files, the routing policy, and the
options that change the output (columns, format, batch and chunk size, error mode). A rerun with the same
fingerprint continues after the last committed chunk; a rerun with another fingerprint is refused, naming what
changed (``--restart`` starts over).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from pydantic import BaseModel, ConfigDict, ValidationError

from serving.bulk.errors import BulkError
from serving.bulk.formats import Format
from serving.bulk.inputs import Columns

if TYPE_CHECKING:
    from serving.bulk.scoring import BulkModel
    from serving.policy import RoutingPolicy


class OnError(StrEnum):
    FAIL = "fail"
    SKIP = "skip"


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


class JobState:
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

    def drop_uncommitted_parts(self, chunks: int) -> None:
        """Delete part files past the last commit (a kill between writing a part and committing it); refuse to go
        on when a committed part is gone."""
        self.parts.mkdir(parents=True, exist_ok=True)
        for path in self.parts.iterdir():
            stem = path.name.removeprefix("part-").removesuffix(".parquet")
            if not stem.isdigit() or int(stem) >= chunks:
                path.unlink()
        missing = [i for i in range(chunks) if not self.part(i).is_file()]
        if missing:
            raise BulkError(f"{self.parts}: committed part {missing[0]} is missing; --restart starts over")
