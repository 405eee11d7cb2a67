"""The export-variants and HTTP-cost benchmarks run end to end on the tiny model and print what they should.

A benchmark prints figures; these only check that it runs and reports them, not how fast anything is."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import variants
from model.artifact import ArtifactMeta

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # child processes, and a real server for the HTTP cost


def with_quality(folder: Path, tier_f1: float, ood: dict[str, float]) -> Path:
    """``folder``'s artifact with export metrics, as ``triage export`` writes them."""
    meta = ArtifactMeta.load(folder)
    meta.model_copy(update={"metrics": {
        "test": {"tier_macro_f1": tier_f1, "area_macro_f1": 0.4},
        "ood": {"mean_harm_auroc": sum(ood.values()) / len(ood), "min_harm_auroc": min(ood.values()),
                "sources": [{"source": s, "harm_auroc": a} for s, a in ood.items()]},
    }}).save(folder)
    return folder


def test_variants_compares_each_export_with_the_first(tiny_artifact: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    base = with_quality(shutil.copytree(tiny_artifact, tmp_path / "base"), 0.60, {"xstest": 0.70, "kosbi_ko": 0.58})
    other = with_quality(shutil.copytree(tiny_artifact, tmp_path / "other"), 0.59, {"xstest": 0.69, "kosbi_ko": 0.60})
    assert variants.main([str(base), str(other), "--rows", "8", "--rounds", "1",
                          "--corpus", str(tmp_path / "none.parquet")]) == 0
    out = capsys.readouterr().out
    [base_line] = [line for line in out.splitlines() if line.startswith("base ")]
    [other_line] = [line for line in out.splitlines() if line.startswith("other ")]
    assert "1.00x" in base_line and "100.0%" in base_line
    assert "0.590 (-0.010)" in other_line and "0.645 (+0.005)" in other_line
    assert "xstest" in out and "0.690 (-0.010)" in out


def test_variants_refuses_a_folder_that_is_no_artifact(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        variants.main([str(tmp_path)])


def test_http_cost_reports_server_cpu_per_request(tiny_artifact: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.http_cost", "--model-path", str(tiny_artifact), "--requests", "40",
         "--warmup", "5", "--concurrency", "4", "--corpus", str(tmp_path / "none.parquet")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("new ") and "ms/request" in line and "{200: 40}" in line for line in lines)
    assert any(line.startswith("replay ") and "{200: 40}" in line for line in lines)
