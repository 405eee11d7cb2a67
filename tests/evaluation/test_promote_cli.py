"""``triage promote`` end to end: a real MLflow SQLite registry holding two copies of the tiny model, one that
catches every high-risk report and one that catches none, judged on a synthetic corpus."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from model.artifact import REGISTERED_MODEL, ArtifactMeta
from model.settings import Settings, get_settings
from tests.factories import generic_record, write_jsonl
from triage.cli import app

runner = CliRunner()
GOOD, BAD = "1", "2"


@pytest.fixture(scope="module", autouse=True)
def _no_global_tracking_uri() -> Iterator[None]:
    """Registering models and logging runs set MLflow's process-wide tracking URI (and MLFLOW_TRACKING_URI):
    put both back as they were for the other tests."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    import mlflow

    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets it and unsets MLFLOW_TRACKING_URI
    if before is not None:
        os.environ["MLFLOW_TRACKING_URI"] = before


def _copy(tiny_artifact: Path, folder: Path, threshold: float) -> Path:
    """The tiny artifact with every threshold at ``threshold``: 0.0 decides every report high and every area
    present, 1.0 never does (a calibrated probability never reaches 1.0). No fp32 model: serving never reads it."""
    shutil.copytree(tiny_artifact, folder, ignore=shutil.ignore_patterns("model.fp32.onnx"))
    meta = ArtifactMeta.load(folder)
    thresholds = meta.thresholds.model_copy(update={"high_risk": threshold,
                                                    "areas": dict.fromkeys(meta.thresholds.areas, threshold)})
    meta.model_copy(update={"thresholds": thresholds}).save(folder)
    return folder


@pytest.fixture(scope="module")
def registry(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Version 1 catches every high-risk report (recall 1.0), version 2 none (recall 0.0)."""
    import mlflow

    from model import registry


    root = tmp_path_factory.mktemp("promotion")
    settings = Settings(work_dir=root / "var", mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = registry.configure(settings)
    versions = []
    for name, threshold in (("good", 0.0), ("bad", 1.0)):
        with mlflow.start_run(experiment_id=experiment):
            versions.append(registry.register_artifact(_copy(tiny_artifact, root / name, threshold)))
    assert versions == [GOOD, BAD]
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    return settings


@pytest.fixture
def client(registry: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The command reads the registry's settings from the environment; the work folder (and its download
    cache) is shared by this module's tests."""
    from mlflow import MlflowClient

    monkeypatch.setenv("TRIAGE_MLFLOW_TRACKING_URI", registry.resolved_mlflow_tracking_uri)
    monkeypatch.setenv("TRIAGE_WORK_DIR", str(registry.work_dir))
    get_settings.cache_clear()
    uri = registry.resolved_mlflow_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def set_aliases(client: Any, **aliases: str) -> None:
    """Exactly these aliases on the registered model."""
    for alias in client.get_registered_model(REGISTERED_MODEL).aliases:
        client.delete_registered_model_alias(REGISTERED_MODEL, alias)
    for alias, version in aliases.items():
        client.set_registered_model_alias(REGISTERED_MODEL, alias, version)


def aliases(client: Any) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(REGISTERED_MODEL).aliases.items()}


def write_corpus(path: Path) -> Path:
    """Truly high-risk test rows only, so that the tier and area F1 of both copies are fixed (1.0 and 0.0)
    whatever the random model scores: 200 English rows (judged) and 40 German (too few, reported only); a
    few train rows that must not be evaluated."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"text": f"I know where you live, number {i}, and you will regret it", "language": language,
             "source": "synthetic", "split": split, "risk_tier": "high", "policy_areas": ["violence_incitement"],
             "unknown_areas": []}
            for i, (language, split) in enumerate([("en", "test")] * 200 + [("de", "test")] * 40
                                                  + [("en", "train")] * 10)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def promote(corpus: Path, *args: str) -> tuple[Result, str | None]:
    result = runner.invoke(app, ["promote", "--corpus", str(corpus), *args])
    found = re.search(r"MLflow run (\w+) in experiment triage-promotion", result.output)
    return result, found.group(1) if found else None


def decision_json(client: Any, run_id: str, tmp_path: Path) -> dict[str, Any]:
    local = client.download_artifacts(run_id, "decision.json", str(tmp_path))
    record: dict[str, Any] = json.loads(Path(local).read_text())
    return record


def test_a_worse_challenger_is_refused(client: Any, tmp_path: Path) -> None:
    set_aliases(client, champion=GOOD, challenger=BAD)
    result, run_id = promote(write_corpus(tmp_path / "corpus.parquet"))
    assert result.exit_code == 1, result.output
    assert "on 240 rows of split test" in result.output
    assert re.search(r"FAIL\s+high_risk_recall\s+challenger 0\.000 vs champion 1\.000 on 240", result.output)
    assert "decision: REFUSED" in result.output
    assert aliases(client) == {"champion": GOOD, "challenger": BAD}  # nothing moved

    assert run_id is not None
    run = client.get_run(run_id)
    assert run.data.tags["decision"] == "refused"
    assert (run.data.tags["champion_version"], run.data.tags["challenger_version"]) == (GOOD, BAD)
    assert run.data.params["rows"] == "240" and run.data.params["split"] == "test"
    assert run.data.params["language_margin"] == "0.02"
    assert run.data.metrics["champion.high_risk_recall"] == 1.0
    assert run.data.metrics["challenger.high_risk_recall"] == 0.0
    assert run.data.metrics["diff.high_risk_recall"] == -1.0
    assert run.data.metrics["high_risk_recall.ci_high"] == -1.0

    record = decision_json(client, run_id, tmp_path)
    status = {c["name"]: c["status"] for c in record["checks"]}
    assert status == {"taxonomy": "PASS", "high_risk_recall": "FAIL", "tier_macro_f1": "FAIL",
                      "area_macro_f1": "FAIL", "language.en": "FAIL", "language.de": "SKIP"}
    assert record["decision"] == "refused" and record["guard_passed"] is False
    assert record["champion"]["version"] == GOOD and record["challenger"]["alias"] == "challenger"
    assert all(c["detail"] for c in record["checks"])
    tags = client.get_model_version(REGISTERED_MODEL, BAD).tags
    assert tags["promotion_decision"] == "refused" and tags["promotion_run_id"] == run_id


def test_a_better_challenger_is_promoted(client: Any, tmp_path: Path) -> None:
    set_aliases(client, champion=BAD, challenger=GOOD)
    result, run_id = promote(write_corpus(tmp_path / "corpus.parquet"))
    assert result.exit_code == 0, result.output
    assert "decision: PROMOTED (5 of 5 checks passed)" in result.output
    assert f"champion -> version {GOOD}; previous_champion -> version {BAD}" in result.output
    assert aliases(client) == {"champion": GOOD, "challenger": GOOD, "previous_champion": BAD}

    run = client.get_run(run_id)
    assert run.data.tags["decision"] == "promoted"
    assert run.data.metrics["challenger.tier_macro_f1"] == 1.0 and run.data.metrics["champion.tier_macro_f1"] == 0.0
    tags = client.get_model_version(REGISTERED_MODEL, GOOD).tags
    assert tags["promotion_decision"] == "promoted" and tags["promotion_run_id"] == run_id

    # Nothing new to judge until the next export moves the challenger alias.
    again, _ = promote(tmp_path / "corpus.parquet")
    assert again.exit_code == 2
    assert f"both name version {GOOD}: nothing to promote" in again.output


def test_a_dry_run_on_a_decisions_export_never_moves_an_alias(client: Any, tmp_path: Path) -> None:
    set_aliases(client, champion=BAD, challenger=GOOD)
    export = write_jsonl(tmp_path / "decisions.jsonl", [generic_record(f"threat number {i}") for i in range(30)])
    result, run_id = promote(tmp_path / "no-corpus-needed.parquet", "--decisions", str(export), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "on 30 rows of decisions decisions.jsonl" in result.output
    assert "DRY RUN, the guard holds" in result.output
    assert aliases(client) == {"champion": BAD, "challenger": GOOD}
    run = client.get_run(run_id)
    assert run.data.tags["decision"] == "dry_run" and run.data.params["split"] == "decisions"
    assert client.get_model_version(REGISTERED_MODEL, GOOD).tags.get("promotion_run_id") != run_id


def test_the_first_promotion_has_no_champion_to_beat(client: Any, tmp_path: Path) -> None:
    set_aliases(client, challenger=BAD)
    result, run_id = promote(write_corpus(tmp_path / "corpus.parquet"))
    assert result.exit_code == 0, result.output
    assert "PASS  no_champion" in result.output and "with no champion yet" in result.output
    assert aliases(client) == {"champion": BAD, "challenger": BAD}
    run = client.get_run(run_id)
    assert run.data.tags["decision"] == "promoted" and run.data.tags["champion_version"] == ""
    assert run.data.metrics["challenger.high_risk_recall"] == 0.0


def test_a_champion_moved_while_judging_is_not_overwritten(client: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from evaluation import guard

    judge = guard.judge

    def judge_while_another_promotion_runs(*args: Any, **kwargs: Any) -> guard.Verdict:
        client.delete_registered_model_alias(REGISTERED_MODEL, "champion")
        return judge(*args, **kwargs)

    monkeypatch.setattr(guard, "judge", judge_while_another_promotion_runs)
    set_aliases(client, champion=BAD, challenger=GOOD)
    result, _ = promote(write_corpus(tmp_path / "corpus.parquet"))
    assert result.exit_code == 2, result.output
    assert "the champion alias moved while the guard was judging (version 2 then, None now)" in result.output
    assert aliases(client) == {"challenger": GOOD}
    found = re.search(r"MLflow run (\w+)\)", result.output)
    assert found is not None
    assert client.get_run(found.group(1)).data.tags["decision"] == "error"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corpus", "/nonexistent/corpus.parquet"], "--corpus /nonexistent/corpus.parquet: not found"),
        (["--decisions", "/nonexistent/d.jsonl"], "--decisions /nonexistent/d.jsonl: not found"),
        (["--split", "nope"], "--split 'nope'"),
        (["--confidence", "1.5"], "--confidence 1.5"),
        (["--champion", "challenger"], "--challenger and --champion: both are 'challenger'"),
        (["--challenger", "staging"], "--challenger staging: no version of triage-classifier has this alias"),
    ],
)
def test_usage_errors_name_the_option(client: Any, tmp_path: Path, args: list[str], message: str) -> None:
    set_aliases(client, champion=GOOD, challenger=BAD)
    result = runner.invoke(app, ["promote", "--corpus", str(write_corpus(tmp_path / "corpus.parquet")), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert aliases(client) == {"champion": GOOD, "challenger": BAD}


def test_an_unreachable_registry_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("not a folder")  # MLflow creates missing folders, but not inside a file
    monkeypatch.setenv("TRIAGE_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'a-file' / 'mlflow.db'}")
    get_settings.cache_clear()
    result = runner.invoke(app, ["promote", "--corpus", str(write_corpus(tmp_path / "corpus.parquet"))])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --challenger challenger: the MLflow registry at sqlite:///")
    assert "did not answer" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_rollback_swaps_champion_and_previous_champion_and_records_why(client: Any) -> None:
    set_aliases(client, champion=BAD, previous_champion=GOOD, challenger=BAD)
    result = runner.invoke(app, ["rollback", "--reason", "INC-42: threats auto-closed"])
    assert result.exit_code == 0, result.output
    assert f"champion -> version {GOOD}; previous_champion -> version {BAD}" in result.output
    assert aliases(client) == {"champion": GOOD, "previous_champion": BAD, "challenger": BAD}
    run_id = re.search(r"MLflow run (\w+)", result.output).group(1)  # type: ignore[union-attr]
    tags = client.get_run(run_id).data.tags
    assert tags["decision"] == "rollback" and tags["reason"] == "INC-42: threats auto-closed"
    assert (tags["champion_version"], tags["rolled_back_version"]) == (GOOD, BAD)


def test_a_rollback_needs_a_previous_champion_and_a_reason(client: Any) -> None:
    set_aliases(client, champion=GOOD)
    result = runner.invoke(app, ["rollback", "--reason", "INC-43"])
    assert result.exit_code == 2
    assert "no version has the alias previous_champion; nothing to roll back to" in result.output
    assert aliases(client) == {"champion": GOOD}
    assert runner.invoke(app, ["rollback", "--reason", " "]).exit_code == 2
