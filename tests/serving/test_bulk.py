"""Bulk scoring (`triage score`): CSV, JSON Lines and Parquet in and out on the tiny model, the same decisions
as the API, bad rows, resuming after Ctrl-C and after a kill, refusing another job's output, usage errors."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from model.settings import DEFAULT_ROUTING_POLICY, Settings
from serving.bulk.errors import BulkError, InputRowError, JobInterrupted
from serving.bulk.formats import Format
from serving.bulk.inputs import Columns
from serving.bulk.job import BulkJob, OnError, Progress, Summary
from serving.bulk.local_engine import score_file
from serving.bulk.scoring import BulkModel, resolve_model
from serving.language import LanguageDetector
from serving.model_loader import LoadedModel
from serving.policy import RoutingPolicy, load_policy
from tests.support import REPO
from tests.support.api import Keys
from tests.support.bulk import SECRET, bad_reports, make_reports, read_output, write_input
from tests.support.cli import triage


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    detector = LanguageDetector()
    detector.load()
    return detector


@pytest.fixture(scope="module")
def policy() -> RoutingPolicy:
    return load_policy(DEFAULT_ROUTING_POLICY)


@pytest.fixture
def bulk_model(tiny_model: LoadedModel, tiny_artifact: Path) -> BulkModel:
    return BulkModel(tiny_model.scorer, tiny_model.name, tiny_model.version, tiny_artifact)


def job(input: Path, output: Path, **options: Any) -> BulkJob:
    return BulkJob(input=input, output=output, input_format=Format(input.suffix.lstrip(".")),
                   output_format=Format(output.suffix.lstrip(".")), **options)


def run(job: BulkJob, model: BulkModel, policy: RoutingPolicy, detector: LanguageDetector, **kw: Any) -> Summary:
    return score_file(job, model, policy, detector, **kw)


# --- formats ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "target"), [("csv", "csv"), ("jsonl", "jsonl"), ("parquet", "parquet"),
                                                ("csv", "parquet"), ("parquet", "jsonl")])
def test_each_format_in_and_out_gives_one_decision_per_row_in_order(
        source: str, target: str, tmp_path: Path, bulk_model: BulkModel, policy: RoutingPolicy,
        detector: LanguageDetector) -> None:
    reports = make_reports(12)
    summary = run(job(write_input(tmp_path / f"in.{source}", reports), tmp_path / f"out.{target}", chunk_size=5),
                  bulk_model, policy, detector)
    assert (summary.rows_read, summary.rows_written, summary.rows_failed) == (12, 12, 0)
    rows = read_output(tmp_path / f"out.{target}")
    assert [r["report_id"] for r in rows] == [r["report_id"] for r in reports]
    first = rows[0]
    assert set(first) >= {"tier", "model_tier", "p_low", "p_medium", "p_high", "areas", "area_hate_speech",
                          "area_none", "language", "detected_language", "language_confidence", "action", "queue",
                          "priority", "grey_area", "grey_reasons", "model_name", "model_version", "policy_version"}
    for row in rows:
        assert row["p_low"] + row["p_medium"] + row["p_high"] == pytest.approx(1.0, abs=1e-5)
        assert row["action"] in {"escalate", "review", "auto_route", "auto_close"}
        assert row["grey_area"] == bool(row["grey_reasons"])
        assert (row["model_name"], row["model_version"], row["policy_version"]) == (
            "triage-classifier", "tiny", policy.version)
    press = [row for row, report in zip(rows, reports, strict=True) if report.get("reporter_type") == "press"]
    assert press and all(r["action"] == "escalate" and "reporter.sensitive" in r["rules"] for r in press)
    assert not (tmp_path / f"out.{target}.progress" / "parts").exists(), "Parquet parts are removed at the end"
    assert not (tmp_path / f"out.{target}.errors.jsonl").exists()


def test_the_decisions_are_the_apis_for_the_same_reports(
        api: tuple[TestClient, Keys], tmp_path: Path, bulk_model: BulkModel, policy: RoutingPolicy,
        detector: LanguageDetector) -> None:
    """The same reports in one API batch and in one bulk chunk: one model call each, the same decisions."""
    client, keys = api
    reports = make_reports(10, prefix="api")
    response = client.post("/v1/reports:batchScore", json={"reports": reports}, headers=keys.intake)
    assert response.status_code == 200
    answers = response.json()["results"]
    run(job(write_input(tmp_path / "in.jsonl", reports), tmp_path / "out.jsonl"), bulk_model, policy, detector)
    rows = read_output(tmp_path / "out.jsonl")
    assert len(answers) == len(rows) == 10
    for answer, row in zip(answers, rows, strict=True):
        assert row["report_id"] == answer["report_id"]
        risk = answer["risk"]
        assert (row["tier"], row["model_tier"]) == (risk["tier"], risk["model_tier"])
        assert {t: row[f"p_{t}"] for t in risk["probabilities"]} == pytest.approx(risk["probabilities"], abs=1e-9)
        areas = {a["area"]: a for a in answer["policy_areas"]}
        assert {a: row[f"area_{a}"] for a in areas} == pytest.approx(
            {a: v["probability"] for a, v in areas.items()}, abs=1e-9)
        predicted = {a for a, v in areas.items() if v["predicted"]} or {"none"}
        assert set(row["areas"]) == predicted
        language = answer["language"]
        assert (row["language"], row["detected_language"]) == (language["code"], language["detected"])
        assert row["language_confidence"] == pytest.approx(language["confidence"])
        route = answer["route"]
        assert (row["action"], row["queue"], row["priority"]) == (route["action"], route["queue"], route["priority"])
        assert row["rules"] == list(dict.fromkeys(r["name"] for r in route["reasons"]))
        grey = answer["grey_area"]
        assert row["grey_area"] == grey["is_grey_area"]
        assert row["grey_reasons"] == list(dict.fromkeys(r["name"] for r in grey["reasons"]))
        assert (row["model_name"], row["model_version"]) == (answer["model"]["name"], answer["model"]["version"])
        assert row["policy_version"] == answer["policy_version"]


def test_model_calls_are_length_bucketed_as_the_apis() -> None:
    from serving import deps
    from serving.bulk import scoring as bulk

    assert bulk.MODEL_CALL_MAX_PADDING == deps.MODEL_CALL_MAX_PADDING


def test_other_column_names_are_mapped_and_errors_use_them(
        tmp_path: Path, bulk_model: BulkModel, policy: RoutingPolicy, detector: LanguageDetector) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,body\nx-1,hello there friend\nx-2,\n", encoding="utf-8")
    columns = Columns(id_column="id", text_column="body")
    with pytest.raises(InputRowError, match=r"in\.csv:3: body: String should have at least 1 character"):
        run(job(source, tmp_path / "out.csv", columns=columns), bulk_model, policy, detector)
    summary = run(job(source, tmp_path / "skipped.csv", columns=columns, on_error=OnError.SKIP), bulk_model,
                  policy, detector)
    assert summary.rows_written == 1
    assert [r["report_id"] for r in read_output(tmp_path / "skipped.csv")] == ["x-1"]


# --- bad rows ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("suffix", "where"), [("csv", ":4: text: "), ("jsonl", ":3: text: "),
                                                ("parquet", ": row 3: text: ")])
def test_a_bad_row_stops_the_job_naming_file_line_and_field(
        suffix: str, where: str, tmp_path: Path, bulk_model: BulkModel, policy: RoutingPolicy,
        detector: LanguageDetector) -> None:
    source = write_input(tmp_path / f"in.{suffix}", bad_reports())
    with pytest.raises(InputRowError) as caught:
        run(job(source, tmp_path / "out.jsonl", chunk_size=100), bulk_model, policy, detector)
    assert f"{source}{where}" in str(caught.value)
    assert "empty after normalisation" in str(caught.value)
    assert not read_output(tmp_path / "out.jsonl"), "the chunk holding the bad row is not written"


def test_skip_writes_bad_rows_to_the_errors_file_and_goes_on(
        tmp_path: Path, bulk_model: BulkModel, policy: RoutingPolicy, detector: LanguageDetector) -> None:
    source = write_input(tmp_path / "in.jsonl", bad_reports())
    with source.open("a", encoding="utf-8") as f:
        f.write('{"report_id": "b-8", "text": \n\n[1, 2]\n')
    summary = run(job(source, tmp_path / "out.csv", on_error=OnError.SKIP, chunk_size=3), bulk_model, policy,
                  detector)
    assert (summary.rows_read, summary.rows_written, summary.rows_failed) == (10, 5, 5)
    assert summary.errors_path == tmp_path / "out.csv.errors.jsonl"
    assert [r["report_id"] for r in read_output(tmp_path / "out.csv")] == ["b-0", "b-1", "b-3", "b-5", "b-7"]
    errors = [json.loads(line) for line in summary.errors_path.read_text().splitlines()]
    assert [(e["line"], e["report_id"], e["field"]) for e in errors] == [
        (3, "b-2", "text"), (5, "b-4", "reporter_type"), (7, "b-6", "report_count"), (9, None, None),
        (11, None, None)]
    assert "greater than or equal to 1" in errors[2]["message"]
    assert errors[3]["message"].startswith("not valid JSON")
    assert errors[4]["message"] == "a JSON list, not an object"
    assert SECRET not in summary.errors_path.read_text(), "report text never goes into the errors file"


# --- resuming -----------------------------------------------------------------------------------------------

def interrupt_after(chunks: int) -> Any:
    def hook(progress: Progress) -> None:
        if progress.chunks == chunks:
            raise KeyboardInterrupt

    return hook


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_an_interrupted_job_continues_where_it_stopped_and_writes_each_row_once(
        suffix: str, tmp_path: Path, bulk_model: BulkModel, policy: RoutingPolicy,
        detector: LanguageDetector) -> None:
    source = write_input(tmp_path / "in.jsonl", make_reports(14))
    whole = run(job(source, tmp_path / f"whole.{suffix}", chunk_size=4), bulk_model, policy, detector)
    output = tmp_path / f"out.{suffix}"
    with pytest.raises(JobInterrupted, match="4 rows are committed"):
        run(job(source, output, chunk_size=4), bulk_model, policy, detector, after_chunk=interrupt_after(1))
    if suffix == "parquet":
        assert not output.exists(), "a Parquet output appears only complete"
    else:
        assert len(read_output(output)) == 4
    notes: list[str] = []
    summary = run(job(source, output, chunk_size=4), bulk_model, policy, detector, notify=notes.append)
    assert notes == [f"{output}: resuming after row 4 (1 chunks committed)"]
    assert (summary.resumed_after, summary.rows_read, summary.rows_written) == (4, 14, 14)
    assert read_output(output) == read_output(tmp_path / f"whole.{suffix}")
    assert whole.rows_written == 14


def test_a_kill_between_writing_and_committing_a_chunk_loses_nothing_and_repeats_nothing(
        tmp_path: Path, bulk_model: BulkModel, policy: RoutingPolicy, detector: LanguageDetector) -> None:
    source = write_input(tmp_path / "in.csv", make_reports(9))
    output = tmp_path / "out.jsonl"
    with pytest.raises(JobInterrupted):
        run(job(source, output, chunk_size=3), bulk_model, policy, detector, after_chunk=interrupt_after(2))
    with output.open("a", encoding="utf-8") as f:  # what a kill in the middle of the third chunk leaves
        f.write('{"report_id": "r-6", "tier": "lo')
    run(job(source, output, chunk_size=3), bulk_model, policy, detector)
    assert [r["report_id"] for r in read_output(output)] == [f"r-{i}" for i in range(9)]


@pytest.fixture
def cli_env(tmp_path: Path, tiny_artifact: Path) -> dict[str, str]:
    return {**os.environ, "TRIAGE_WORK_DIR": str(tmp_path / "var"), "TRIAGE_MODEL_PATH": str(tiny_artifact)}


def committed_chunks(progress_file: Path) -> int:
    try:
        return int(json.loads(progress_file.read_text())["chunks"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def _default_sigint() -> None:
    """Ctrl-C as a terminal gives it: a job that a shell started in the background (``make test &``) ignores
    SIGINT, and Python started with SIGINT ignored never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_and_stop(args: list[str], env: dict[str, str], progress_file: Path, sig: signal.Signals,
                   after: int) -> subprocess.CompletedProcess[str]:
    """Run `triage score`, send ``sig`` once more than ``after`` chunks are committed, and wait for it."""
    process = subprocess.Popen([sys.executable, "-m", "triage", "score", *args], env=env, cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_default_sigint)
    deadline = time.monotonic() + 90
    while committed_chunks(progress_file) <= after:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no chunk committed in 90 s"
        time.sleep(0.02)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.slow  # `triage score` processes, interrupted and killed: about 20 s
def test_ctrl_c_then_a_kill_then_a_rerun_writes_every_row_exactly_once(
        tmp_path: Path, cli_env: dict[str, str]) -> None:
    reports = make_reports(160)
    source = write_input(tmp_path / "in.csv", reports)
    output = tmp_path / "out.csv"
    progress_file = tmp_path / "out.csv.progress" / "progress.json"
    args = ["--input", str(source), "--output", str(output), "--chunk-size", "4"]

    stopped = start_and_stop(args, cli_env, progress_file, signal.SIGINT, after=0)
    assert stopped.returncode == 130, stopped.stderr
    assert "rerun the same command to continue" in stopped.stderr
    first = committed_chunks(progress_file)
    assert 1 <= first < 40

    killed = start_and_stop(args, cli_env, progress_file, signal.SIGKILL, after=first)
    assert killed.returncode == -signal.SIGKILL
    assert f"resuming after row {first * 4}" in killed.stderr
    assert committed_chunks(progress_file) < 40, "the kill came before the end"

    finished = triage("score", *args, env=cli_env, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "wrote 160 decisions" in finished.stderr
    ids = [r["report_id"] for r in read_output(output)]
    assert ids == [r["report_id"] for r in reports], "every row once, in input order"

    again = triage("score", *args, env=cli_env, timeout=300)
    assert again.returncode == 0
    assert "this job already finished (160 rows written, 0 skipped); nothing to do" in again.stderr
    assert not (tmp_path / "var" / "triage.db").exists(), "nothing is stored in the service database"


def test_a_rerun_with_another_input_model_or_option_is_refused(
        tmp_path: Path, tiny_artifact: Path, bulk_model: BulkModel, policy: RoutingPolicy,
        detector: LanguageDetector) -> None:
    source = write_input(tmp_path / "in.jsonl", make_reports(6))
    output = tmp_path / "out.jsonl"
    run(job(source, output, chunk_size=3), bulk_model, policy, detector)
    before = output.read_bytes()

    with pytest.raises(BulkError, match="another chunk_size \\(3 -> 2\\)"):
        run(job(source, output, chunk_size=2), bulk_model, policy, detector)

    other = tmp_path / "other-model"
    other.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (other / name).symlink_to(tiny_artifact / name)
    meta = json.loads((tiny_artifact / "artifact.json").read_text())
    meta["version"] = "tiny-2"
    (other / "artifact.json").write_text(json.dumps(meta))
    other_model = resolve_model(Settings(model_path=other, work_dir=tmp_path / "var"))
    with pytest.raises(BulkError, match="the model \\(triage-classifier:tiny -> triage-classifier:tiny-2\\)"):
        run(job(source, output, chunk_size=3), other_model, policy, detector)

    other_policy = policy.model_copy(update={"version": "test-other"})
    with pytest.raises(BulkError, match=rf"the routing policy \({policy.version} -> test-other\)"):
        run(job(source, output, chunk_size=3), bulk_model, other_policy, detector)

    write_input(source, make_reports(7))
    with pytest.raises(BulkError, match=r"the input file's content.*--restart"):
        run(job(source, output, chunk_size=3), bulk_model, policy, detector)
    assert output.read_bytes() == before, "a refused rerun leaves the output alone"

    summary = run(job(source, output, chunk_size=3, restart=True), bulk_model, policy, detector)
    assert summary.rows_written == 7 and len(read_output(output)) == 7


def test_an_existing_file_that_is_no_jobs_output_is_not_overwritten(
        tmp_path: Path, bulk_model: BulkModel, policy: RoutingPolicy, detector: LanguageDetector) -> None:
    source = write_input(tmp_path / "in.jsonl", make_reports(2))
    output = tmp_path / "out.csv"
    output.write_text("precious\n")
    with pytest.raises(BulkError, match="not the output of an unfinished `triage score` job"):
        run(job(source, output), bulk_model, policy, detector)
    assert output.read_text() == "precious\n"


# --- the command's usage errors ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ran:
    exit_code: int
    #: stdout and stderr, with the lines and borders of typer's error box undone.
    output: str


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tiny_artifact: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("TRIAGE_MODEL_PATH", str(tiny_artifact))
    yield CliRunner()


def invoke(runner: CliRunner, *args: str) -> Ran:
    from triage.cli import app

    result = runner.invoke(app, ["score", *args])
    return Ran(result.exit_code, " ".join(result.output.replace("\u2502", " ").split()))


def test_usage_errors_exit_2_naming_the_option(runner: CliRunner, tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.csv", make_reports(2))
    missing = invoke(runner, "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.csv"))
    assert missing.exit_code == 2 and "--input" in missing.output and "no such file" in missing.output

    (tmp_path / "in.txt").write_text("report_id,text\n")
    unknown = invoke(runner, "--input", str(tmp_path / "in.txt"), "--output", str(tmp_path / "o.csv"))
    assert unknown.exit_code == 2 and "unknown format '.txt'" in unknown.output

    bad_output = invoke(runner, "--input", str(source), "--output", str(tmp_path / "o.xlsx"))
    assert bad_output.exit_code == 2 and "--output" in bad_output.output

    no_text = invoke(runner, "--input", str(source), "--output", str(tmp_path / "o.csv"), "--text-column", "body")
    assert no_text.exit_code == 2 and "no column 'body'" in no_text.output and "--text-column" in no_text.output

    (tmp_path / "extra.csv").write_text("report_id,text,notes\nr-1,hello,x\n")
    extra = invoke(runner, "--input", str(tmp_path / "extra.csv"), "--output", str(tmp_path / "o.csv"))
    assert extra.exit_code == 2 and "unknown column 'notes'" in extra.output

    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"id": "r-1", "text": "hello"}\n')
    no_id = invoke(runner, "--input", str(jsonl), "--output", str(tmp_path / "o.csv"))
    assert no_id.exit_code == 2 and "no field 'report_id'" in no_id.output and "--id-column" in no_id.output
    assert not (tmp_path / "o.csv").exists()


@pytest.mark.slow  # loads the model twice through the CLI: about 7 s
def test_the_command_scores_with_ignored_columns_and_reports_a_bad_row_without_its_text(
        runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", newline="") as f:
        csv.writer(f).writerows([["report_id", "text", "notes", "reporter_type"], ["r-1", "hello there", "x", "user"],
                                 ["r-2", SECRET, "y", "neighbour"]])
    failed = invoke(runner, "--input", str(source), "--output", str(tmp_path / "o.jsonl"),
                    "--ignore-unknown-columns", "--no-progress")
    assert failed.exit_code == 2
    assert f"{source}:3: reporter_type: Input should be" in failed.output
    assert SECRET not in failed.output

    skipped = invoke(runner, "--input", str(source), "--output", str(tmp_path / "s.jsonl"),
                     "--ignore-unknown-columns", "--on-error", "skip")
    assert skipped.exit_code == 0, skipped.output
    assert "wrote 1 decisions" in skipped.output and "1 bad rows in" in skipped.output
    assert [r["report_id"] for r in read_output(tmp_path / "s.jsonl")] == ["r-1"]
