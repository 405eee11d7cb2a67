"""The scoring benchmark runs end to end on the tiny model: all four paths, a real server, the report.

A benchmark prints figures; this only checks that it runs and says what it should, not how fast anything is."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.common import FALLBACK_TEXTS

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # the benchmark as a process, with a real server: about a minute


def write_run_dir(model: Any, folder: Path) -> Path:
    """A training-run folder for ``model`` as the benchmark reads it: summary, weights, encoder config."""
    from safetensors.torch import save_file

    from model.taxonomy import get_taxonomy
    from training.encoder import TOKENIZER_FILE, TOKENIZER_PACKAGE, package_file
    from training.summary import TrainingSummary

    taxonomy = get_taxonomy()
    encoder_dir = folder / "encoder"
    encoder_dir.mkdir(parents=True)
    model.encoder.config.to_json_file(str(encoder_dir / "config.json"))
    shutil.copyfile(package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE), encoder_dir / "tokenizer.json")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    TrainingSummary(
        run_name="tiny", mlflow_run_id=None, profile="quick",
        config={"encoder_layers": model.encoder.config.num_hidden_layers}, taxonomy_version=taxonomy.version,
        tier_labels=taxonomy.tier_names, area_labels=taxonomy.area_names, text_prefix="", max_length=64, pad_id=1,
        corpus_fingerprint="sha256:tiny", encoder={}, encoder_dir=encoder_dir, rows={"train": 0}, validation={},
        history=[], stop_reason="completed", steps=0, train_seconds=0.0, total_seconds=0.0,
    ).save(folder)
    return folder


def write_corpus(path: Path) -> Path:
    """A corpus file with the two columns the benchmark reads, test rows and others."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = FALLBACK_TEXTS * 3
    pq.write_table(pa.table({"text": [*texts, "not a test row"], "split": ["test"] * len(texts) + ["train"]}), path)
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny artifact and a run folder holding the same torch model's weights."""
    from tests.factories import make_tiny_artifact

    root = tmp_path_factory.mktemp("bench")
    artifact, model = make_tiny_artifact(root / "artifact")
    return artifact, write_run_dir(model, root / "run")


def test_the_scoring_benchmark_runs_every_path_and_prints_the_report(tiny_run: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    artifact, run_dir = tiny_run
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.scoring", "--artifact", str(artifact), "--run-dir", str(run_dir),
         "--corpus", str(write_corpus(tmp_path / "corpus.parquet")), "--rows", "24", "--latency-rows", "6",
         "--concurrency", "4", "--batch-size", "8", "--open-loop-rate", "50", "--open-loop-requests", "10",
         "--warmup", "2", "--work-dir", str(tmp_path / "server"), "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    stdout = result.stdout
    for label in ("(a) transformers pipeline", "(b) onnxruntime fp32", "(c) int8 scorer", "(d) HTTP :score",
                  "(d) HTTP :batchScore", "open loop 50/s"):
        assert label in stdout
    assert "reports/s" in stdout and "p99 ms" in stdout and "peak RSS MiB" in stdout
    assert "(c)/(a) pipeline default batching" in stdout and "(d)/(c) batchScore requests of 8" in stdout
    assert "targets:" in stdout and "WARNING" not in stdout

    figures = json.loads(out.read_text())
    assert [row["key"] for row in figures["rows"]] == ["a", "a_batched", "b", "c", "d", "d_batched", "d_open"]
    assert all(row["reports_per_s"] > 0 and row["peak_rss_mib"] > 0 for row in figures["rows"])
    assert figures["rows"][-1]["statuses"] == {"200": 10}
    # The same model three ways: torch and onnxruntime fp32 agree to rounding.
    assert figures["agreement"]["top_tier_a_b"] == 1.0
    assert figures["agreement"]["max_prob_diff_a_b"] < 1e-4


def test_paths_can_be_skipped(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    artifact, _ = tiny_run
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.scoring", "--artifact", str(artifact), "--run-dir", str(tmp_path),
         "--corpus", str(tmp_path / "none.parquet"), "--rows", "8", "--latency-rows", "2", "--skip", "torch,http"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(c) int8 scorer" in result.stdout and "(a) transformers" not in result.stdout
    assert "n/a" in result.stdout  # targets that need a skipped path
