"""``triage promote``: champion/challenger with a guard.

Both registry versions score the same rows (a sample of a corpus split, or a decisions export), the guard
(``evaluation.guard``) judges them, and one MLflow run in the experiment ``triage-promotion`` records the
decision and its evidence (``decision.json``). Only when every check holds does the ``champion`` alias move to
the challenger's version, the old champion keeping the alias ``previous_champion``. A server polling the
registry picks the new champion up without a restart.

Exit status: 0 promoted (or a dry run whose guard holds), 1 refused (so CI can gate on it), 2 a usage error.
Heavy imports (MLflow, onnxruntime) happen inside the command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evaluation.cli import SPLITS, load_rows, sample_rows
from model.artifact import REGISTERED_MODEL
from model.cli_support import fail
from model.registry import previous_alias
from model.settings import Settings, get_settings

if TYPE_CHECKING:
    from evaluation.guard import Contender, Verdict
    from serving.model_loader import LoadedModel

PROMOTION_EXPERIMENT = "triage-promotion"
DECISION_FILE = "decision.json"
ALIAS = re.compile(r"^[A-Za-z0-9_-]+$")
#: Model-version tags set on the challenger by a promotion that was not a dry run.
RUN_TAG, DECISION_TAG = "promotion_run_id", "promotion_decision"


@dataclass(frozen=True, slots=True)
class Candidate:
    option: str
    alias: str
    version: str


def _resolve(settings: Settings, option: str, alias: str) -> Candidate | None:
    """The version ``alias`` names now; None when no version has it. A failing registry is a usage error."""
    from model.registry import ModelLoadError, RegistryUnavailable, resolve_alias

    try:
        version, _ = resolve_alias(settings.model_copy(update={"model_path": None, "model_alias": alias,
                                                               "model_fallback_alias": None}))
    except RegistryUnavailable as exc:
        fail(f"{option} {alias}: {exc}")
    except ModelLoadError:
        return None
    return Candidate(option=option, alias=alias, version=version)


def _load(settings: Settings, candidate: Candidate) -> LoadedModel:
    from model.registry import ModelLoadError, redact
    from serving.model_loader import load_registry_version

    where = f"{candidate.option} {candidate.alias} (version {candidate.version})"
    try:
        return load_registry_version(settings, candidate.version, candidate.alias)
    except ModelLoadError as exc:
        fail(f"{where}: {exc}")
    except Exception as exc:  # the download failing: MLflow, storage or network errors
        fail(f"{where}: cannot download it from the MLflow registry: {type(exc).__name__}: {redact(str(exc))}")


def _contender(loaded: LoadedModel, rows: list[dict[str, Any]], option: str) -> Contender:
    from evaluation.guard import Contender, high_risk_hits
    from evaluation.harness import measure, score_rows

    meta = loaded.scorer.meta
    tier_probs, area_probs = score_rows(loaded.scorer, rows)
    try:
        result = measure(meta, rows, tier_probs, area_probs)
    except ValueError as exc:  # a row's label unknown to the model
        fail(f"{option}: the rows do not fit the model's labels: {exc}")
    return Contender(result=result, high_hits=high_risk_hits(meta, rows, tier_probs),
                     taxonomy_version=meta.taxonomy_version)


def _print_checks(decision: Verdict) -> None:
    width = max(len(c.name) for c in decision.checks)
    for check in decision.checks:
        typer.echo(f"  {check.status}  {check.name:<{width}}  {check.detail}")


def _verdict(decision: Verdict, outcome: str) -> str:
    judged = sum(c.judged for c in decision.checks)
    words = {"promoted": "PROMOTED", "refused": "REFUSED",
             "dry_run": "DRY RUN, the guard " + ("holds" if decision.promote else "refuses")}[outcome]
    return f"decision: {words} ({judged - len(decision.failed)} of {judged} checks passed)"


def _record(decision: Verdict, outcome: str, *, champion: Candidate | None, challenger: Candidate,
            loaded: dict[str, LoadedModel], rows: int, source: str) -> dict[str, Any]:
    def model(candidate: Candidate | None) -> dict[str, Any] | None:
        if candidate is None:
            return None
        meta = loaded[candidate.option].scorer.meta
        return {"alias": candidate.alias, "version": candidate.version, "artifact": meta.version,
                "taxonomy_version": meta.taxonomy_version}

    return {"decision": outcome, "guard_passed": decision.promote, "model": REGISTERED_MODEL,
            "champion": model(champion), "challenger": model(challenger), "rows": rows, "evaluated_on": source,
            "checks": [c.model_dump() | {"status": c.status} for c in decision.checks],
            "config": decision.config.model_dump(), "evidence": decision.evidence}


def _log_and_apply(decision: Verdict, *, settings: Settings, champion: Candidate | None, challenger: Candidate,
                   champion_alias: str, loaded: dict[str, LoadedModel], rows: int, split: str, source: str,
                   dry_run: bool) -> tuple[str, str]:
    """Log the promotion run and, when the guard holds and this is no dry run, move the aliases inside it, so
    that an alias never moves without its evidence. Returns (run id, outcome)."""
    import mlflow

    from model import registry

    outcome = "dry_run" if dry_run else "promoted" if decision.promote else "refused"
    try:
        experiment_id = registry.configure(settings, PROMOTION_EXPERIMENT)
    except Exception as exc:  # the tracking store failing: nothing was moved
        fail(f"cannot log the promotion to MLflow ({registry.redact(settings.resolved_mlflow_tracking_uri)}): "
             f"{type(exc).__name__}: {registry.redact(str(exc))}")
    tags = {"champion_version": champion.version if champion else "", "challenger_version": challenger.version,
            "champion_alias": champion_alias, "challenger_alias": challenger.alias,
            "guard_passed": str(decision.promote).lower(), "split": split}
    run_name = f"v{challenger.version}-over-" + (f"v{champion.version}" if champion else "none")
    error = None
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
        run_id = str(run.info.run_id)
        mlflow.log_params({**decision.config.model_dump(), "rows": rows, "split": split, "dry_run": dry_run})
        mlflow.log_metrics(decision.evidence)
        mlflow.log_dict(_record(decision, outcome, champion=champion, challenger=challenger, loaded=loaded, rows=rows,
                                source=source), DECISION_FILE)
        if outcome == "promoted":
            try:
                registry.move_champion(settings, expected=champion.version if champion else None,
                                       version=challenger.version, alias=champion_alias)
            except Exception as exc:  # a conflict, or the registry failing half-way
                error = (str(exc) if isinstance(exc, registry.AliasConflict)
                         else f"{type(exc).__name__}: {registry.redact(str(exc))}")
                outcome = "error"
                mlflow.set_tag("error", error)
        mlflow.set_tag("decision", outcome)  # decision.json holds the guard's verdict; this tag what happened
    if error is not None:
        fail(f"--champion {champion_alias}: the guard held but the alias was not moved: {error} "
             f"(MLflow run {run_id})")
    if not dry_run:
        try:  # where the decision is also visible from the registry; the run above is the record
            registry.tag_version(settings, challenger.version, RUN_TAG, run_id)
            registry.tag_version(settings, challenger.version, DECISION_TAG, outcome)
        except Exception as exc:
            typer.echo(f"warning: could not tag version {challenger.version} with the decision: "
                       f"{type(exc).__name__}: {registry.redact(str(exc))}", err=True)
    return run_id, outcome


def promote_command(
    challenger: Annotated[str, typer.Option(help="Registry alias of the version that may be promoted.")]
    = "challenger",
    champion: Annotated[str, typer.Option(
        help="Registry alias of the version being served; moved to the challenger when the guard holds.")]
    = "champion",
    split: Annotated[str, typer.Option(help="Corpus split both models are evaluated on.")] = "test",
    sample: Annotated[int, typer.Option(min=0, help="Evaluate a random sample of this many rows (0: every row).")]
    = 4000,
    seed: Annotated[int, typer.Option(help="Seed of the sample and of the bootstrap.")] = 0,
    decisions: Annotated[Path | None, typer.Option(
        help="Evaluate on a decisions export (generic JSON Lines rows) instead of a corpus split.")] = None,
    corpus: Annotated[Path | None, typer.Option(
        help="The corpus (default: $TRIAGE_WORK_DIR/corpus/corpus.parquet).")] = None,
    f1_tolerance: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="How much lower the challenger's tier and area macro-F1 may be.")] = 0.0,
    language_margin: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="How much lower the challenger's tier macro-F1 may be on one language.")] = 0.02,
    min_language_rows: Annotated[int, typer.Option(
        min=1, help="Language slices with fewer rows are reported, not judged.")] = 200,
    confidence: Annotated[float, typer.Option(
        help="Confidence of the bootstrap interval of the high-risk recall difference.")] = 0.95,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Judge and log the decision, but never move an alias.")] = False,
) -> None:
    """Promote the challenger to champion if the guard holds: high-risk recall not lower beyond its confidence
    interval, macro-F1 not lower, no language regressing beyond the margin. Exit 0 promoted, 1 refused."""
    from evaluation.guard import GuardConfig

    settings = get_settings()
    for option, alias in (("--challenger", challenger), ("--champion", champion)):
        if not ALIAS.match(alias):
            fail(f"{option} {alias!r}: an alias is letters, digits, '_' and '-'")
    if challenger == champion:
        fail(f"--challenger and --champion: both are {champion!r}; name two aliases")
    if split not in SPLITS:
        fail(f"--split {split!r}: not one of {', '.join(SPLITS)}")
    if not 0.5 < confidence < 1.0:
        fail(f"--confidence {confidence}: must be strictly between 0.5 and 1")
    config = GuardConfig(confidence=confidence, seed=seed, f1_tolerance=f1_tolerance,
                         language_margin=language_margin, min_language_rows=min_language_rows)

    every_row = load_rows(settings, decisions=decisions, corpus=corpus, split=split)
    rows = sample_rows(every_row, sample or None, seed)
    split_name = "decisions" if decisions is not None else split
    source = f"decisions {decisions.name}" if decisions is not None else f"split {split}"

    chall = _resolve(settings, "--challenger", challenger)
    if chall is None:
        fail(f"--challenger {challenger}: no version of {REGISTERED_MODEL} has this alias; "
             "`triage export` registers one as challenger")
    champ = _resolve(settings, "--champion", champion)
    if champ is not None and champ.version == chall.version:
        fail(f"--challenger {challenger} and --champion {champion} both name version {chall.version}: "
             "nothing to promote")

    from evaluation.guard import judge

    loaded = {"--challenger": _load(settings, chall)}
    if champ is not None:
        loaded["--champion"] = _load(settings, champ)
    against = f"over version {champ.version} ({champion})" if champ else f"with no {champion} yet"
    typer.echo(f"judging {REGISTERED_MODEL} version {chall.version} ({challenger}) {against} on {len(rows):,} rows "
               f"of {source}" + (f" (sample, seed {seed})" if len(rows) < len(every_row) else ""))
    contenders = {option: _contender(model, rows, option) for option, model in loaded.items()}
    decision = judge(contenders.get("--champion"), contenders["--challenger"], config)
    _print_checks(decision)

    run_id, outcome = _log_and_apply(decision, settings=settings, champion=champ, challenger=chall,
                                     champion_alias=champion, loaded=loaded, rows=len(rows), split=split_name,
                                     source=source, dry_run=dry_run)
    typer.echo(_verdict(decision, outcome))
    if outcome == "promoted":
        moved = f"; {previous_alias(champion)} -> version {champ.version}" if champ else ""
        typer.echo(f"{champion} -> version {chall.version}{moved}")
    typer.echo(f"MLflow run {run_id} in experiment {PROMOTION_EXPERIMENT} ({DECISION_FILE})")
    if not decision.promote:
        raise typer.Exit(1)


def rollback_command(
    reason: Annotated[str, typer.Option(help="Why: recorded in the MLflow run (an incident id, a sentence).")],
    champion: Annotated[str, typer.Option(help="The alias to roll back.")] = "champion",
) -> None:
    """Point the champion back at the version it replaced (``previous_champion``), without the guard: the
    emergency path when a promoted model misbehaves in production. The two aliases swap, so running it
    again undoes it; the run in ``triage-promotion`` records who asked why."""
    import mlflow

    from model import registry

    settings = get_settings()
    if not ALIAS.match(champion):
        fail(f"--champion {champion!r}: an alias is letters, digits, '_' and '-'")
    if not reason.strip():
        fail("--reason: say why (it is recorded with the rollback)")
    previous = _resolve(settings, "--champion", previous_alias(champion))
    if previous is None:
        fail(f"--champion {champion}: no version has the alias {previous_alias(champion)}; nothing to roll back to")
    current = _resolve(settings, "--champion", champion)
    try:
        experiment_id = registry.configure(settings, PROMOTION_EXPERIMENT)
        tags = {"decision": "rollback", "champion_alias": champion, "champion_version": previous.version,
                "rolled_back_version": current.version if current else "", "reason": reason.strip()}
        run_name = f"rollback-to-v{previous.version}"
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
            registry.swap_back(settings, alias=champion, previous=previous.version,
                               current=current.version if current else None)
            run_id = str(run.info.run_id)
    except Exception as exc:  # the registry or tracking store failing
        fail(f"--champion {champion}: rollback failed: {type(exc).__name__}: {registry.redact(str(exc))}")
    moved = f"; {previous_alias(champion)} -> version {current.version}" if current else ""
    typer.echo(f"{champion} -> version {previous.version}{moved}")
    typer.echo(f"MLflow run {run_id} in experiment {PROMOTION_EXPERIMENT}")
