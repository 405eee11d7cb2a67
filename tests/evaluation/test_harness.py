"""The evaluation harness, its report and ``triage evaluate``, on a tiny random model and synthetic rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evaluation.harness import EvaluationResult, evaluate
from evaluation.report import CONFUSION_PNG, INDEX_HTML, PR_CURVE_PNG, RELIABILITY_PNG, RESULT_JSON, write_report
from model.scorer import Scorer
from triage.cli import app

TIERS = ("low", "medium", "high")
AREAS = {"low": ["none"], "medium": ["harassment"], "high": ["violence_incitement", "hate_speech"]}
LANGUAGES = ("en", "de", "fr")
SOURCES = ("alpha", "beta")


def make_rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    rows = []
    for i in range(offset, offset + n):
        tier = TIERS[i % 3]
        source = SOURCES[(i // 9) % len(SOURCES)]
        rows.append({
            "text": f"report number {i}: {'you will regret this' if tier == 'high' else 'nice weather'} {i * 7}",
            "language": LANGUAGES[(i // 3) % len(LANGUAGES)],
            "source": source,
            "risk_tier": tier,
            "policy_areas": AREAS[tier],
            # the "alpha" source does not judge hate speech: it must count nowhere for its rows
            "unknown_areas": ["hate_speech"] if source == "alpha" and tier != "low" else [],
        })
    return rows


@pytest.fixture(scope="module")
def scorer(tiny_artifact: Path) -> Scorer:
    return Scorer(tiny_artifact, threads=1)


@pytest.fixture(scope="module")
def result(scorer: Scorer) -> EvaluationResult:
    return evaluate(scorer, make_rows(60), alpha=0.1, calibration_rows=make_rows(90, offset=1000))


def test_result_structure(result: EvaluationResult) -> None:
    assert result.n == 60
    assert result.tier_labels == list(TIERS)
    assert set(result.tier_per_class) == set(TIERS)
    assert sum(c.support for c in result.tier_per_class.values()) == 60
    assert 0.0 <= result.tier_macro_f1 <= 1.0 and 0.0 <= result.area_macro_f1 <= 1.0
    assert sum(map(sum, result.confusion)) == 60
    assert [sum(row) for row in result.confusion] == [20, 20, 20]
    assert result.high_risk.n_high == 20 and 0.0 <= result.high_risk.recall <= 1.0
    assert result.high_risk.threshold == 0.5  # the tiny artifact's deployed threshold
    assert sum(b.n for b in result.reliability) == 60
    assert result.pr_curve and all(0.0 <= p.precision <= 1.0 and 0.0 <= p.recall <= 1.0 for p in result.pr_curve)
    assert result.area_f1["self_harm"] is None  # no known positive row
    # JSON round trip
    assert EvaluationResult.model_validate_json(result.model_dump_json()) == result


def test_slices_partition_the_rows(result: EvaluationResult) -> None:
    for kind, names in (("language", LANGUAGES), ("source", SOURCES)):
        slices = result.slices[kind]
        assert {s.name for s in slices} == set(names)
        assert sum(s.n for s in slices) == result.n
    areas = {s.name: s for s in result.slices["policy_area"]}
    assert areas["none"].n == 20 and areas["none"].high_risk_recall is None
    assert areas["violence_incitement"].n_high == 20 and areas["violence_incitement"].high_risk_recall is not None


def test_conformal_fields_with_calibration_rows(result: EvaluationResult) -> None:
    c = result.conformal
    assert c is not None
    assert c.alpha == 0.1 and c.n_calibration == 90 and c.n_calibration_high == 30 and c.n_high == 20
    assert not c.pooled_degenerate  # 30 high-risk rows give k = floor(0.1 * 31) = 3
    for outcome in (c.pooled, c.mondrian_outcome, c.deployed):
        assert 0.0 <= outcome.miss_rate <= 1.0 and 0.0 <= outcome.workload <= 1.0
    assert c.deployed.threshold == 0.5
    assert set(c.mondrian) == {"*", *LANGUAGES}
    # 10 high-risk calibration rows per language, at least the 9 that alpha 0.1 needs: each is fitted on its own
    assert not any(g.pooled_fallback or g.degenerate for g in c.mondrian.values())
    assert sum(g.n_high for name, g in c.mondrian.items() if name != "*") == c.n_high


def test_mondrian_falls_back_to_pooled_for_thin_languages(scorer: Scorer) -> None:
    c = evaluate(scorer, make_rows(30), alpha=0.1, calibration_rows=make_rows(45, offset=1000)).conformal
    assert c is not None  # 15 high-risk calibration rows, 5 per language: too few for a language of its own
    assert all(g.pooled_fallback and g.threshold == c.pooled.threshold for n, g in c.mondrian.items() if n != "*")
    assert c.mondrian_outcome.miss_rate == c.pooled.miss_rate and c.mondrian_outcome.workload == c.pooled.workload


def test_no_conformal_without_calibration_rows(scorer: Scorer) -> None:
    assert evaluate(scorer, make_rows(9)).conformal is None


def test_unknown_areas_are_ignored(scorer: Scorer) -> None:
    rows = make_rows(30)
    for row in rows:
        if "hate_speech" in row["policy_areas"]:
            row["unknown_areas"] = ["hate_speech"]
    assert evaluate(scorer, rows).area_f1["hate_speech"] is None


def test_bad_tier_is_an_error(scorer: Scorer) -> None:
    rows = make_rows(3)
    rows[1]["risk_tier"] = "extreme"
    with pytest.raises(ValueError, match="row 1: risk_tier 'extreme'"):
        evaluate(scorer, rows)


def test_report_folder(result: EvaluationResult, tmp_path: Path) -> None:
    index = write_report(result, tmp_path / "report", context=[("model", "<tiny & random>")])
    folder = index.parent
    for name in (INDEX_HTML, RELIABILITY_PNG, PR_CURVE_PNG, CONFUSION_PNG, RESULT_JSON):
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    assert (folder / RELIABILITY_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = index.read_text(encoding="utf-8")
    assert "&lt;tiny &amp; random&gt;" in page  # escaped
    assert "Conformal high-risk threshold" in page and "miss rate" in page
    assert json.loads((folder / RESULT_JSON).read_text())["n"] == 60


def write_corpus(path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{**r, "split": "test"} for r in make_rows(24)] + [{**r, "split": "calibration"}
                                                              for r in make_rows(30, offset=500)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


runner = CliRunner()


def test_cli_writes_the_report(tiny_artifact: Path, tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.parquet")
    out = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--artifact", str(tiny_artifact), "--corpus", str(corpus),
                                 "--split", "test", "--sample", "20", "--alpha", "0.1", "--out", str(out),
                                 "--no-mlflow"])
    assert result.exit_code == 0, result.output
    assert "tier_macro_f1" in result.output and "conformal (alpha 0.1)" in result.output
    assert (out / INDEX_HTML).is_file() and (out / PR_CURVE_PNG).is_file()
    saved = json.loads((out / RESULT_JSON).read_text())
    assert saved["n"] == 20 and saved["conformal"]["n_calibration"] == 30
    assert "routing (policy " in result.output and "automated" in result.output
    assert saved["routing"]["automated"] + saved["routing"]["to_people"] == pytest.approx(1.0)
    assert "<h2>Routing</h2>" in (out / INDEX_HTML).read_text()


def test_cli_evaluates_a_decisions_export(tiny_artifact: Path, tmp_path: Path) -> None:
    export = tmp_path / "decisions.jsonl"
    export.write_text("".join(json.dumps({k: v for k, v in r.items() if k not in ("source", "unknown_areas")}) + "\n"
                              for r in make_rows(6)), encoding="utf-8")
    out = tmp_path / "eval"
    result = runner.invoke(app, ["evaluate", "--artifact", str(tiny_artifact), "--decisions", str(export),
                                 "--out", str(out), "--no-mlflow"])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / RESULT_JSON).read_text())
    assert saved["n"] == 6 and saved["conformal"] is None  # no corpus, so no calibration rows
    assert [s["name"] for s in saved["slices"]["source"]] == ["reviewer_decision"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "nope"], "--split 'nope'"),
        (["--alpha", "1.5"], "--alpha"),
        (["--corpus", "/nonexistent/corpus.parquet"], "--corpus /nonexistent/corpus.parquet: not found"),
        (["--decisions", "/nonexistent/d.jsonl"], "--decisions /nonexistent/d.jsonl: not found"),
    ],
)
def test_cli_user_mistakes_exit_2(tiny_artifact: Path, tmp_path: Path, args: list[str], message: str) -> None:
    corpus = write_corpus(tmp_path / "corpus.parquet")
    result = runner.invoke(app, ["evaluate", "--artifact", str(tiny_artifact), "--corpus", str(corpus),
                                 "--no-mlflow", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_cli_missing_artifact_names_the_option(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.parquet")
    result = runner.invoke(app, ["evaluate", "--artifact", str(tmp_path / "none"), "--corpus", str(corpus),
                                 "--no-mlflow"])
    assert result.exit_code == 2
    assert "--artifact" in result.output and "no artifact.json" in result.output


def test_cli_logs_an_evaluation_run_to_mlflow(tiny_artifact: Path, tmp_path: Path) -> None:
    import mlflow

    from model import registry
    from model.settings import get_settings

    corpus = write_corpus(tmp_path / "corpus.parquet")
    result = runner.invoke(app, ["evaluate", "--artifact", str(tiny_artifact), "--corpus", str(corpus),
                                 "--alpha", "0.1", "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    registry.configure(get_settings(), "triage-evaluation")
    runs = mlflow.search_runs(experiment_names=["triage-evaluation"], output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["model_version"] == "tiny" and run.data.tags["split"] == "test"
    assert run.data.metrics["tier_macro_f1"] >= 0.0 and "conformal.pooled.miss_rate" in run.data.metrics
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "report")}
    assert "report/index.html" in artifacts


def test_routing_counts_the_automated_share_and_the_high_risk_reports_that_reach_a_person(
        tiny_artifact: Path) -> None:
    import numpy as np

    from evaluation.harness import measure
    from model.artifact import ArtifactMeta, Conformal
    from model.settings import DEFAULT_ROUTING_POLICY
    from serving.policy import load_policy

    base = ArtifactMeta.load(tiny_artifact)
    areas = base.area_labels

    def area_probs(**hits: float) -> list[float]:
        return [hits.get(a, 0.01) for a in areas]

    sentence = "I saw this post on the main page yesterday and I think somebody should look at it carefully."
    rows = [{"text": f"{sentence} Number {i}.", "language": "en", "risk_tier": tier, "policy_areas": labels}
            for i, (tier, labels) in enumerate([("high", ["violence_incitement"]), ("high", ["violence_incitement"]),
                                                ("low", ["none"]), ("medium", ["harassment"])])]
    tier_probs = np.array([[0.05, 0.05, 0.90],   # decided high: escalated
                           [0.85, 0.05, 0.10],   # decided low, but P(high) 0.10 reaches the conformal 0.08
                           [0.95, 0.04, 0.01],   # low: auto-closed
                           [0.05, 0.90, 0.05]])  # medium harassment: its team's queue
    area = np.array([area_probs(violence_incitement=0.9), area_probs(none=0.9), area_probs(none=0.95),
                     area_probs(harassment=0.95)])
    policy = load_policy(DEFAULT_ROUTING_POLICY)
    with_conformal = base.model_copy(update={"languages": ["en"],
                                             "conformal": Conformal(alpha=0.1, high_risk={"*": 0.08})})

    measured = measure(with_conformal, rows, tier_probs, area, policy=policy)
    routed = measured.routing
    assert routed is not None
    assert routed.actions == {"escalate": 0.25, "review": 0.25, "auto_close": 0.25, "auto_route": 0.25}
    assert (routed.automated, routed.to_people) == (0.5, 0.5)
    assert routed.n_high == 2 and routed.high_risk_to_people == 1.0
    assert routed.grey_rules == {"grey.high_risk_possible": 0.25}
    assert routed.policy_version == policy.version
    # The artifact's own thresholds: both high-risk rows reach 0.08, and half of all rows do.
    assert measured.artifact_conformal is not None
    assert (measured.artifact_conformal.miss_rate, measured.artifact_conformal.workload) == (0.0, 0.5)

    without = measure(with_conformal.model_copy(update={"conformal": None}), rows, tier_probs, area, policy=policy)
    assert without.routing is not None and without.routing.high_risk_to_people == 0.5
    assert measure(with_conformal, rows, tier_probs, area).routing is None
