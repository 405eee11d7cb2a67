"""The run folder's ``training.json`` (``training.summary.TrainingSummary``): its keys, and clear errors."""

import json
from pathlib import Path
from typing import Any

import pytest

from training.summary import SUMMARY_FILE, SummaryError, TrainingSummary

#: A summary as ``triage train`` writes it, keys in file order (trimmed reports).
WRITTEN: dict[str, Any] = {
    "run_name": "quick-1", "mlflow_run_id": "abc123", "profile": "quick",
    "config": {"profile": "quick", "encoder_layers": 8, "max_length": 64}, "taxonomy_version": "1",
    "tier_labels": ["low", "medium", "high"], "area_labels": ["spam", "fraud"],
    "text_prefix": "query: ", "max_length": 64, "pad_id": 1, "corpus_fingerprint": "sha256:0f",
    "encoder": {"encoder": "e5-base"}, "encoder_dir": "var/cache/encoder",
    "rows": {"train": 48, "validation": 24}, "validation": {"tier_macro_f1": 0.5, "area_macro_f1": float("nan")},
    "ood": None,
    "history": [{"step": 3, "epoch": 1.0, "loss": 1.25, "val_tier_macro_f1": 0.5, "val_area_macro_f1": 0.25,
                 "val_score": 0.375}],
    "probe": [{"probe_epoch": 1, "probe_val_tier_macro_f1": 0.5, "probe_val_area_macro_f1": 0.5,
               "probe_val_score": 0.5}],
    "probe_embeddings": {"rows": 48, "hits": 40, "computed": 8, "compute_seconds": 0.4},
    "stop_reason": "completed", "steps": 3, "train_seconds": 12.3, "total_seconds": 20.0,
}


def write(folder: Path, data: dict[str, Any]) -> Path:
    (folder / SUMMARY_FILE).write_text(json.dumps(data, indent=2) + "\n")
    return folder


def test_a_written_summary_loads_and_saves_back_the_same_file(tmp_path: Path) -> None:
    original = write(tmp_path, WRITTEN) / SUMMARY_FILE
    summary = TrainingSummary.load(tmp_path)
    assert summary.encoder_dir == Path("var/cache/encoder") and summary.history[0].step == 3
    text = original.read_text()
    out = tmp_path / "again"
    out.mkdir()
    assert summary.save(out).read_text() == text  # same keys, same order, NaN kept as the run wrote it


def test_an_older_run_without_probe_or_held_out_sources_loads(tmp_path: Path) -> None:
    older = {k: v for k, v in WRITTEN.items() if k not in ("probe", "ood", "probe_embeddings")}
    summary = TrainingSummary.load(write(tmp_path, older))
    assert summary.probe == [] and summary.ood is None and summary.probe_embeddings is None


def test_the_artifact_gets_the_training_fields_in_their_order() -> None:
    training = TrainingSummary.model_validate(WRITTEN).artifact_training()
    assert list(training) == ["run_name", "mlflow_run_id", "profile", "config", "rows", "steps", "stop_reason",
                              "train_seconds"]
    assert training["config"] == WRITTEN["config"]


def test_a_missing_summary_is_named(tmp_path: Path) -> None:
    with pytest.raises(SummaryError, match=f"{tmp_path / SUMMARY_FILE}: no training summary"):
        TrainingSummary.load(tmp_path)


def test_an_invalid_summary_is_named_with_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / SUMMARY_FILE).write_text("{not json")
    with pytest.raises(SummaryError, match=f"{tmp_path / SUMMARY_FILE}: not JSON"):
        TrainingSummary.load(tmp_path)
    write(tmp_path, {k: v for k, v in WRITTEN.items() if k != "tier_labels"} | {"stop_reason": "bored"})
    with pytest.raises(SummaryError, match=f"{tmp_path / SUMMARY_FILE}: not a valid training summary: "
                                           r"tier_labels: Field required; stop_reason: Input should be"):
        TrainingSummary.load(tmp_path)
