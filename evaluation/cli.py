"""``triage evaluate``: score a corpus split (or a reviewer-decisions export) with a model and write the
evaluation report; log it to MLflow as an evaluation run. Heavy imports happen inside the command."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from model.artifact import DEFAULT_CONFORMAL_ALPHA
from model.cli_support import fail
from model.corpus import LABEL_COLUMNS, corpus_file, read_corpus
from model.datafiles import CorpusError
from model.schema import LABELLED_RECORD_FIELDS
from model.settings import Settings, get_settings

if TYPE_CHECKING:
    from evaluation.harness import EvaluationResult
    from evaluation.ood import OODReport
    from serving.model_loader import LoadedModel
    from serving.policy import RoutingPolicy

EVALUATION_EXPERIMENT = "triage-evaluation"
SPLITS = ("train", "validation", "calibration", "test", "ood")
#: ``--ood``: rows of each held-out source scored [default]; the figures are per source.
OOD_ROWS_PER_SOURCE = 1000
CALIBRATION_SPLIT = "calibration"


def sample_rows(rows: list[dict[str, Any]], n: int | None, seed: int) -> list[dict[str, Any]]:
    if n is None or n >= len(rows):
        return rows
    return [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), n))]


def read_corpus_split(corpus: Path, split: str) -> list[dict[str, Any]]:
    """The rows of one split with what scoring and measuring a model needs."""
    return [dict(row) for row in read_corpus(corpus, split=split, columns=LABEL_COLUMNS)]


def load_rows(settings: Settings, *, decisions: Path | None, corpus: Path | None,
              split: str) -> list[dict[str, Any]]:
    """The rows to evaluate: a decisions export when given, else the corpus split. A missing or bad file, or
    no rows, stops the command with an error naming the option and the file (and the line, for decisions)."""
    if decisions is not None:
        if not decisions.is_file():
            fail(f"--decisions {decisions}: not found")
        try:
            rows = read_decisions(decisions)
        except (CorpusError, ValueError) as exc:
            fail(f"--decisions {decisions}: {exc}")
        if not rows:
            fail(f"--decisions {decisions}: no rows")
        return rows
    path = corpus or corpus_file(settings.corpus_dir)
    if not path.is_file():
        fail(f"--corpus {path}: not found; build it with `triage data build`")
    try:
        rows = read_corpus_split(path, split)
    except (OSError, ValueError) as exc:
        fail(f"--corpus {path}: {exc}")
    if not rows:
        fail(f"--split {split}: no rows in {path}")
    return rows


def read_decisions(path: Path) -> list[dict[str, Any]]:
    """Rows of a decisions export (the corpus's generic JSON Lines format). Errors name the line."""
    from model.datafiles import iter_jsonl

    rows = []
    for number, record in iter_jsonl(path):
        missing = [k for k in LABELLED_RECORD_FIELDS if k not in record]
        if missing:
            raise ValueError(f"line {number}: missing {', '.join(missing)}")
        record.setdefault("source", "reviewer_decision")
        record.setdefault("unknown_areas", [])
        rows.append(record)
    return rows


def _load(artifact: Path | None, alias: str | None, settings: Settings) -> tuple[LoadedModel, str | None]:
    from model.registry import ModelLoadError
    from serving.model_loader import load_model

    if artifact is not None:
        if not (artifact / "artifact.json").is_file():
            fail(f"--artifact {artifact}: not a model artifact (no artifact.json)")
        try:
            return load_model(settings.model_copy(update={"model_path": artifact})), None
        except ModelLoadError as exc:
            fail(f"--artifact {artifact}: {exc}")
    chosen = alias or settings.model_alias
    try:
        return load_model(settings.model_copy(update={"model_path": None, "model_alias": chosen,
                                                      "model_fallback_alias": None})), chosen
    except ModelLoadError as exc:
        fail(f"--alias {chosen}: {exc}")
    except Exception as exc:  # the registry itself failing (bad URI, unreachable server)
        fail(f"--alias {chosen}: cannot read the MLflow registry: {type(exc).__name__}: {exc}")


def _ood(loaded: LoadedModel, rows: list[dict[str, Any]], policy: RoutingPolicy, folder: Path) -> OODReport:
    """The per-source figures of the held-out sources, routed by ``policy``; printed and written to the
    report folder as ``ood.md`` and ``ood.json``."""
    from evaluation.ood import format_table, routed_report

    report = routed_report(loaded.scorer, rows, policy)
    table = format_table(report)
    typer.echo("held-out sources (never trained on):\n" + table)
    (folder / "ood.md").write_text(f"# Held-out sources: {loaded.name} {loaded.version}\n\n{table}\n")
    (folder / "ood.json").write_text(report.model_dump_json(indent=2) + "\n")
    return report


def _log_to_mlflow(result: EvaluationResult, out: Path, settings: Settings, *, loaded: LoadedModel,
                   alias: str | None, split: str, run_name: str, extra: dict[str, float] | None = None) -> str:
    import mlflow

    from evaluation.harness import metrics_for_tracking
    from model import registry

    experiment_id = registry.configure(settings, EVALUATION_EXPERIMENT)
    tags = {"model_name": loaded.name, "model_version": loaded.version, "split": split,
            "model_source": loaded.source, "model_alias": alias or ""}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        mlflow.log_params({"rows": result.n, "alpha": result.conformal.alpha if result.conformal else None,
                           "split": split})
        if alias is not None:
            mlflow.log_param("model_version", loaded.version)
        mlflow.log_metrics(registry.flatten(metrics_for_tracking(result)))
        if extra:
            mlflow.log_metrics(extra)
        mlflow.log_artifacts(str(out), artifact_path="report")
        run_id = str(run.info.run_id)
    if alias is not None:  # a registry version: the version points back at its latest evaluation per split
        registry.tag_version(settings, loaded.version, f"evaluation_run.{split}", run_id)
    return run_id


def evaluate_command(
    artifact: Annotated[Path | None, typer.Option(help="Artifact folder to evaluate.")] = None,
    alias: Annotated[str | None, typer.Option(
        help="Registry alias of triage-classifier to evaluate [default: champion, or TRIAGE_MODEL_PATH].")] = None,
    split: Annotated[str, typer.Option(help="Corpus split to evaluate on.")] = "test",
    sample: Annotated[int | None, typer.Option(min=1, help="Evaluate a random sample of this many rows.")] = None,
    calibration_sample: Annotated[int | None, typer.Option(
        min=1, help="Fit the conformal threshold on a sample of this many calibration rows [default: all].")] = None,
    decisions: Annotated[Path | None, typer.Option(
        help="Evaluate on a decisions export (generic JSON Lines rows) instead of a corpus split.")] = None,
    corpus: Annotated[Path | None, typer.Option(
        help="The corpus [default: $TRIAGE_WORK_DIR/corpus/corpus.parquet].")] = None,
    alpha: Annotated[float, typer.Option(
        help="Target miss rate of the conformal high-risk threshold.")] = DEFAULT_CONFORMAL_ALPHA,
    out: Annotated[Path | None, typer.Option(
        help="Report folder [default: $TRIAGE_WORK_DIR/evaluations/<model>-<version>-<split>-<time>].")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the samples.")] = 0,
    policy: Annotated[Path | None, typer.Option(
        help="Routing policy to measure the automated share with [default: TRIAGE_ROUTING_POLICY].")] = None,
    mlflow_log: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log an evaluation run to MLflow.")]
    = True,
    ood: Annotated[bool, typer.Option(
        "--ood", help="Evaluate on the held-out sources (the `ood` split): per source, harm AUROC, high-risk "
        "recall and where routing sends benign and harmful rows (evaluation/ood.py).")] = False,
    per_source: Annotated[int | None, typer.Option(
        min=1, help=f"With --ood: score a sample of this many rows of each held-out source [default: "
        f"{OOD_ROWS_PER_SOURCE}].")] = None,
) -> None:
    """Evaluate a model: metrics, slices, calibration, the conformal high-risk threshold, an HTML report."""
    settings = get_settings()
    if artifact is not None and alias is not None:
        fail("--artifact and --alias: give one of them")
    if ood:
        if decisions is not None:
            fail("--ood and --decisions: give one of them")
        split = "ood"
    elif per_source is not None:
        fail("--per-source needs --ood")
    if split not in SPLITS:
        fail(f"--split {split!r}: not one of {', '.join(SPLITS)}")
    if not 0.0 < alpha < 1.0:
        fail(f"--alpha {alpha}: must be strictly between 0 and 1")
    corpus_path = corpus or corpus_file(settings.corpus_dir)
    if artifact is None and alias is None and settings.model_path is not None:
        artifact = settings.model_path

    rows, source, split_name = _rows_to_evaluate(settings, decisions=decisions, corpus=corpus_path, split=split,
                                                 per_source=per_source, sample=sample, seed=seed)
    calibration = _calibration_rows(corpus_path, split_name, calibration_sample, seed)
    routing_policy = _policy(policy or settings.routing_policy)
    loaded, used_alias = _load(artifact, alias, settings)
    from evaluation.harness import evaluate
    from evaluation.report import write_report

    typer.echo(f"evaluating {loaded.name} {loaded.version} ({loaded.source}) on {len(rows):,} rows of {source}"
               + (f", conformal fit on {len(calibration):,} calibration rows" if calibration else ""))
    try:
        result = evaluate(loaded.scorer, rows, alpha=alpha, calibration_rows=calibration or None,
                          policy=routing_policy)
    except ValueError as exc:
        fail(f"--decisions {decisions}: {exc}" if decisions is not None else f"--corpus {corpus_path}: {exc}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{loaded.name}-{loaded.version}-{split_name}-{stamp}")
    folder = out or settings.work_dir / "evaluations" / name
    context = [("model", f"{loaded.name} {loaded.version}"), ("source", loaded.source),
               ("evaluated on", f"{len(rows):,} rows of {source}" + (f" (sample, seed {seed})" if sample else "")),
               ("created", stamp)]
    index = write_report(result, folder, title=f"Evaluation of {loaded.name} {loaded.version} on {split_name}",
                         context=context)

    _print_result(result)
    ood_report = None
    if split_name == "ood":
        ood_report = _ood(loaded, rows, routing_policy, folder)
    typer.echo(f"report: {index}")
    if mlflow_log:
        run_id = _log_to_mlflow(result, folder, settings, loaded=loaded, alias=used_alias, split=split_name,
                                run_name=name, extra=ood_report.flat() if ood_report else None)
        typer.echo(f"MLflow run {run_id} in experiment {EVALUATION_EXPERIMENT}")


def _rows_to_evaluate(settings: Settings, *, decisions: Path | None, corpus: Path, split: str,
                      per_source: int | None, sample: int | None, seed: int) -> tuple[list[dict[str, Any]], str, str]:
    """(rows, what they are for the report, the split's name) of the command's options."""
    rows = load_rows(settings, decisions=decisions, corpus=corpus, split=split)
    if decisions is not None:
        source, split_name = f"decisions {decisions.name}", "decisions"
    else:
        source, split_name = f"split {split}", split
    if split == "ood":
        from evaluation.ood import sample_per_source

        rows = [dict(r) for r in sample_per_source(rows, per_source or OOD_ROWS_PER_SOURCE, seed)]
    return sample_rows(rows, sample, seed), source, split_name


def _calibration_rows(corpus: Path, split_name: str, sample: int | None, seed: int) -> list[dict[str, Any]]:
    """The calibration split the conformal threshold is fitted on; none when evaluating on it, or no corpus."""
    if not corpus.is_file() or split_name == CALIBRATION_SPLIT:
        return []
    try:
        return sample_rows(read_corpus_split(corpus, CALIBRATION_SPLIT), sample, seed)
    except (OSError, ValueError) as exc:
        fail(f"--corpus {corpus}: {exc}")


def _policy(path: Path) -> RoutingPolicy:
    from serving.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        fail(f"--policy: {exc}")


def _print_result(result: EvaluationResult) -> None:
    for key, value in result.headline().items():
        typer.echo(f"  {key:<22} {value:.4f}" if key != "rows" else f"  {key:<22} {int(value):,}")
    if result.conformal is not None:
        c = result.conformal
        typer.echo(f"conformal (alpha {c.alpha:g}): pooled threshold {c.pooled.threshold:.4f} misses "
                   f"{c.pooled.miss_rate:.2%} of {c.n_high:,} high-risk rows, workload {c.pooled.workload:.1%}; "
                   f"per language misses {c.mondrian_outcome.miss_rate:.2%}, workload "
                   f"{c.mondrian_outcome.workload:.1%}; deployed threshold {c.deployed.threshold:.4f} misses "
                   f"{c.deployed.miss_rate:.2%}, workload {c.deployed.workload:.1%}")
    if result.artifact_conformal is not None:
        own = result.artifact_conformal
        typer.echo(f"the artifact's conformal thresholds (routing): miss {own.miss_rate:.2%} of high-risk rows, "
                   f"workload {own.workload:.1%}")
    if result.routing is not None:
        r = result.routing
        typer.echo(f"routing (policy {r.policy_version}): automated {r.automated:.1%}, to people {r.to_people:.1%}"
                   + (f"; {r.high_risk_to_people:.1%} of {r.n_high:,} high-risk reports reach a person"
                      if r.high_risk_to_people is not None else ""))
