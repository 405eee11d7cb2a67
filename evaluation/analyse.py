"""``triage analyse``: what a model and a routing policy do, measured without a server.

    triage analyse routing-shares   where the routing policy sends a sample of real reports
    triage analyse capacity         how the review queues keep up with that work (a discrete-event simulation)
    triage analyse functional       the HateCheck-style functional suite, per functionality and language
    triage analyse strict           the cases a model must never get wrong (threats and suicide plans in 15 languages)
    triage analyse fairness         benign text naming an identity group flagged no more than text naming none
    triage analyse perturbation     how often a disguised threat or slur flips the tier decision

The commands (registered in ``triage.cli``) check their options before any model is loaded, and a bad one
stops them with one line naming the option (and the file) and exit status 2. The analyses themselves live in
``evaluation.routing_shares``, ``evaluation.capacity``, ``evaluation.functional.suite`` and
``evaluation.perturbation``, imported inside the commands: numpy and the model runtime load only when one runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from evaluation.functional.suite import CASES_PATH
from model.cli_support import fail

if TYPE_CHECKING:
    from model.corpus import CorpusRow

analyse_app = typer.Typer(
    help="Analyse a model and a routing policy: routing shares, review capacity, the functional suite and "
    "adversarial perturbations.",
    no_args_is_help=True,
)

#: ``analyse perturbation``'s defaults, spelled out so the command line need not import the perturbation module
#: (numpy, the scorer) to show its help; a test checks that they are ``evaluation.perturbation``'s.
PERTURBATION_KINDS = "zero_width,homoglyph,mixed_script,leetspeak,spaced,fullwidth,elongation"
PERTURBED_FUNCTIONALITIES = "threat,threat_polite,slur_hate"

# "(default: ...)", not "[default: ...]": rich would read the brackets as markup and drop them
_ARTIFACT_HELP = "Model artifact folder (default: $TRIAGE_WORK_DIR/models/demo)."
_CORPUS_HELP = "The corpus (default: $TRIAGE_WORK_DIR/corpus/corpus.parquet)."
_CASES_DEFAULT = "evaluation/functional/cases.jsonl"


def _reason(exc: Exception) -> str:
    """An exception's message on one line (a pydantic error as ``field: message; ...``)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors())
    return " ".join(str(exc).split())


def _fail_on(option: str, path: Path, exc: Exception) -> NoReturn:
    """``option path: reason``, the path given once when the reason already starts with it."""
    reason = _reason(exc)
    fail(f"{option} {reason}" if reason.startswith(f"{path}:") else f"{option} {path}: {reason}")


def _artifact(artifact: Path | None, missing: str = "not found") -> Path:
    """The artifact folder (``--artifact`` or the demo model's); an error unless it holds an artifact.json."""
    from model.settings import get_settings

    folder = artifact or get_settings().models_dir / "demo"
    if not (folder / "artifact.json").is_file():
        fail(f"--artifact {folder}: {missing}")
    return folder


def _sample(corpus: Path, split: str, sample: int, seed: int, columns: list[str]) -> list[CorpusRow]:
    """A seeded sample of ``sample`` rows of a corpus split (all of them when it has fewer)."""
    import random

    from model.corpus import read_corpus

    try:
        rows = read_corpus(corpus, split=split, columns=columns)
    except (OSError, ValueError) as exc:
        _fail_on("--corpus", corpus, exc)
    if not rows:
        fail(f"--split {split}: no rows in {corpus}")
    picks = random.Random(seed).sample(range(len(rows)), min(sample, len(rows)))
    return [rows[i] for i in picks]


@analyse_app.command("routing-shares")
def routing_shares_command(
    artifact: Annotated[Path | None, typer.Option(help=_ARTIFACT_HELP)] = None,
    corpus: Annotated[Path | None, typer.Option(help=_CORPUS_HELP)] = None,
    split: Annotated[str, typer.Option(help="Corpus split to sample.")] = "test",
    sample: Annotated[int, typer.Option(help="Reports sampled from the split.")] = 2000,
    policy: Annotated[Path | None, typer.Option(
        help="Routing policy file (default: TRIAGE_ROUTING_POLICY).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
) -> None:
    """Where the routing policy sends real reports: a sample of a corpus split scored by an artifact and routed."""
    from model.corpus import corpus_file
    from model.settings import get_settings

    settings = get_settings()
    corpus = corpus or corpus_file(settings.corpus_dir)
    policy = policy or settings.routing_policy
    if not corpus.is_file():
        fail(f"--corpus {corpus}: not found")
    folder = _artifact(artifact)
    if sample < 1:
        fail(f"--sample {sample}: out of range")
    from serving.policy import PolicyError, load_policy

    try:
        routing_policy = load_policy(policy)
    except PolicyError as exc:
        fail(f"--policy {exc}")
    rows = _sample(corpus, split, sample, seed, ["text", "risk_tier"])

    from evaluation.routing_shares import format_shares, routing_shares
    from model.scorer import ArtifactError, Scorer

    try:
        scorer = Scorer(folder)
    except (ArtifactError, ValueError) as exc:
        _fail_on("--artifact", folder, exc)
    shares = routing_shares(scorer, routing_policy, [r["text"] for r in rows], [r["risk_tier"] for r in rows])
    typer.echo(f"{shares.total} {split} reports (seed {seed}), model {folder}, policy {routing_policy.version}")
    typer.echo(format_shares(shares))


@analyse_app.command("capacity")
def capacity_command(
    artifact: Annotated[Path | None, typer.Option(help=_ARTIFACT_HELP)] = None,
    corpus: Annotated[Path | None, typer.Option(help=_CORPUS_HELP)] = None,
    split: Annotated[str, typer.Option(help="Corpus split to sample.")] = "test",
    sample: Annotated[int, typer.Option(help="Reports sampled from the split and routed.")] = 2000,
    policy: Annotated[list[Path] | None, typer.Option(
        help="routing policy file; repeat to compare policies (default: the configured one)")] = None,
    rate: Annotated[float, typer.Option(help="reports per hour reaching routing")] = 300.0,
    specialists: Annotated[list[str] | None, typer.Option(
        metavar="QUEUE=N", help="people per queue (repeat); '*=N' is one pool for every queue not named")] = None,
    handling: Annotated[list[str] | None, typer.Option(
        metavar="QUEUE=SECONDS", help="mean handling time per queue (repeat); '*=S' is the default")] = None,
    sigma: Annotated[float, typer.Option(help="lognormal sigma of handling times (0: fixed)")] = 0.5,
    hours: Annotated[float, typer.Option(help="length of the shift simulated")] = 8.0,
    seed: Annotated[int, typer.Option(help="Seed of the sample, the arrivals and the handling times.")] = 0,
) -> None:
    """Review capacity: how the people behind the review queues keep up with the work routing sends them."""
    from evaluation.capacity import SHARED, Staffing, parse_pairs, validate
    from model.corpus import corpus_file
    from model.settings import get_settings

    settings = get_settings()
    corpus = corpus or corpus_file(settings.corpus_dir)
    policies = policy or [settings.routing_policy]
    try:
        people = {q: int(n) for q, n in parse_pairs(specialists or [], "--specialists", int).items()}
        means = parse_pairs(handling or [], "--handling", float)
    except ValueError as exc:
        fail(str(exc))
    if not people:
        fail("--specialists: give at least one QUEUE=N")
    for what, value, ok in (("--sample", sample, sample > 0), ("--rate", rate, rate > 0),
                            ("--hours", hours, hours > 0), ("--sigma", sigma, sigma >= 0)):
        if not ok or not math.isfinite(value):
            fail(f"{what} {value}: out of range")
    for queue in people:
        if queue not in means and SHARED not in means:
            fail(f"--handling: no handling time for queue {queue!r}")
    staffing = Staffing(people, means, sigma=sigma, shift_seconds=hours * 3600)
    try:
        validate([], staffing)
    except ValueError as exc:
        fail(str(exc))
    if not corpus.is_file():
        fail(f"--corpus {corpus}: not found")
    folder = _artifact(artifact)
    for path in policies:
        if not path.is_file():
            fail(f"--policy {path}: not found")
    from serving.policy import PolicyError, load_policy

    try:
        routing_policies = [load_policy(p) for p in policies]
    except PolicyError as exc:
        fail(f"--policy {exc}")
    texts = [row["text"] for row in _sample(corpus, split, sample, seed, ["text"])]

    from collections import Counter
    from datetime import UTC, datetime

    from evaluation.capacity import arrivals_from_routes, format_report, routed_sample, simulate
    from model.scorer import ArtifactError

    now = datetime.now(UTC)
    try:
        routed = routed_sample(texts, folder, routing_policies, now)
    except ArtifactError as exc:
        _fail_on("--artifact", folder, exc)
    for path, routing_policy, routes in zip(policies, routing_policies, routed, strict=True):
        arrivals = arrivals_from_routes(routes, rate, seed, received_at=now, duration_seconds=staffing.shift_seconds)
        staffed = [a for a in arrivals if staffing.pool(a.queue) is not None]
        unstaffed = Counter(a.queue for a in arrivals if staffing.pool(a.queue) is None)
        typer.echo(f"\npolicy {routing_policy.version} ({path}): {len(texts)} {split} reports routed, "
                   f"{rate:g} reports/h for {hours:g} h: {len(arrivals)} reach a queue, {len(staffed)} staffed")
        typer.echo(format_report(simulate(staffed, staffing, seed)))
        if unstaffed:
            typer.echo("not simulated (no specialists): "
                       + ", ".join(f"{q} {n}" for q, n in sorted(unstaffed.items())))


@analyse_app.command("functional")
def functional_command(
    artifact: Annotated[Path | None, typer.Option(help=_ARTIFACT_HELP)] = None,
    cases: Annotated[Path, typer.Option(help="The cases, JSON Lines.", show_default=_CASES_DEFAULT)] = CASES_PATH,
    failures: Annotated[bool, typer.Option("--failures", help="also list every failing case")] = False,
) -> None:
    """A functional test suite in the manner of HateCheck: pass rates per functionality and language."""
    from evaluation.functional.suite import CaseError, format_failures, format_report, load_cases, run_suite, scorer_fn
    from model.scorer import ArtifactError

    folder = _artifact(artifact, "no artifact.json")
    try:
        loaded = load_cases(cases)
    except CaseError as exc:
        _fail_on("--cases", cases, exc)
    try:
        score = scorer_fn(folder)
    except (ArtifactError, ValueError) as exc:
        _fail_on("--artifact", folder, exc)
    report = run_suite(score, loaded)
    typer.echo(format_report(report))
    if failures and report.failures:
        typer.echo()
        typer.echo(format_failures(report))


@analyse_app.command("strict")
def strict_command(
    artifact: Annotated[Path | None, typer.Option(help=_ARTIFACT_HELP)] = None,
) -> None:
    """The strict test: a threat and a suicide plan tier high in 15 languages, their look-alikes low.
    Exits 1 when any case fails."""
    from evaluation.functional.suite import scorer_fn
    from evaluation.strict import run_strict
    from model.scorer import ArtifactError

    folder = _artifact(artifact, "no artifact.json")
    try:
        score = scorer_fn(folder)
    except (ArtifactError, ValueError) as exc:
        _fail_on("--artifact", folder, exc)
    report = run_strict(lambda texts: [tier for tier, _ in score(texts)])
    typer.echo(report.format())
    if report.failures:
        raise typer.Exit(1)


@analyse_app.command("fairness")
def fairness_command(
    artifact: Annotated[Path | None, typer.Option(help=_ARTIFACT_HELP)] = None,
    corpus: Annotated[Path | None, typer.Option(help=_CORPUS_HELP)] = None,
    cases: Annotated[Path, typer.Option(help="The functional suite's cases, JSON Lines.",
                                        show_default=_CASES_DEFAULT)] = CASES_PATH,
    sample: Annotated[int, typer.Option(help="Held-out rows sampled.")] = 6000,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 0,
) -> None:
    """Benign text naming an identity group against benign text naming none: flag rates and their gap, on the
    functional suite and the held-out sources (target: a gap of at most 5 points). Exits 1 when missed."""
    from evaluation.fairness import functional_gap, held_out_gap
    from evaluation.functional.suite import CaseError, load_cases, scorer_fn
    from model.corpus import corpus_file
    from model.scorer import ArtifactError
    from model.settings import get_settings

    corpus = corpus or corpus_file(get_settings().corpus_dir)
    if not corpus.is_file():
        fail(f"--corpus {corpus}: not found")
    folder = _artifact(artifact, "no artifact.json")
    try:
        loaded = load_cases(cases)
    except CaseError as exc:
        _fail_on("--cases", cases, exc)
    rows = _sample(corpus, "ood", sample, seed, ["text", "risk_tier", "source"])
    try:
        score = scorer_fn(folder)
    except (ArtifactError, ValueError) as exc:
        _fail_on("--artifact", folder, exc)

    def tiers(texts: Sequence[str]) -> list[str]:
        return [tier for tier, _ in score(texts)]

    gaps = [functional_gap([(c.functionality, c.expected_tier.value, c.text) for c in loaded], tiers),
            held_out_gap([(r["source"], r["risk_tier"], r["text"]) for r in rows], tiers)]
    for found in gaps:
        typer.echo(found.format())
    if not all(g.met for g in gaps):
        raise typer.Exit(1)


@analyse_app.command("perturbation")
def perturbation_command(
    artifact: Annotated[Path | None, typer.Option(help=_ARTIFACT_HELP)] = None,
    cases: Annotated[Path, typer.Option(
        help="The functional suite's cases, JSON Lines.", show_default=_CASES_DEFAULT)] = CASES_PATH,
    functionalities: Annotated[str, typer.Option(
        help="comma-separated functionalities whose cases are perturbed")] = PERTURBED_FUNCTIONALITIES,
    kinds: Annotated[str, typer.Option(help="comma-separated perturbation kinds")] = PERTURBATION_KINDS,
    variants: Annotated[int, typer.Option(help="variants per case and kind")] = 2,
    words: Annotated[int, typer.Option(help="words disguised per variant")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the perturbations.")] = 0,
    threads: Annotated[int | None, typer.Option(help="onnxruntime threads (default: all cores)")] = None,
    batch_size: Annotated[int, typer.Option(
        help="texts per model call (1: each scored alone, as a single report is)")] = 1,
) -> None:
    """Adversarial perturbations: does the tier decision hold when a threat or slur is disguised?"""
    folder = _artifact(artifact, "no artifact.json")
    from evaluation.functional.suite import CaseError, load_cases
    from evaluation.perturbation import PERTURBATIONS

    chosen = [k for k in kinds.split(",") if k]
    unknown = sorted(set(chosen) - set(PERTURBATIONS))
    if unknown:
        fail(f"--kinds: unknown {', '.join(unknown)} (known: {', '.join(PERTURBATIONS)})")
    if not chosen:
        fail(f"--kinds: give at least one of {', '.join(PERTURBATIONS)}")
    if variants < 1 or words < 1:
        fail("--variants and --words must be at least 1")
    if threads is not None and threads < 1:
        fail(f"--threads {threads}: must be at least 1")
    if batch_size < 1:
        fail(f"--batch-size {batch_size}: must be at least 1")
    wanted = {f for f in functionalities.split(",") if f}
    try:
        perturbed = [c for c in load_cases(cases) if c.functionality in wanted]
    except CaseError as exc:
        _fail_on("--cases", cases, exc)
    if not perturbed:
        fail(f"--functionalities {functionalities}: no such cases in {cases}")

    from functools import partial

    from evaluation.perturbation import (
        NormalizerScorer,
        flip_rates,
        format_table,
        make_variants,
        summary,
        tier_fn,
        undone_table,
    )
    from model.scorer import ArtifactError
    from model.text import normalize_text

    disguised = make_variants(perturbed, chosen, variants, words, seed)
    try:
        scorer = NormalizerScorer(folder, threads=threads)
    except (ArtifactError, ValueError) as exc:
        _fail_on("--artifact", folder, exc)
    raw = partial(normalize_text, deobfuscate=False)
    with_normaliser = flip_rates(disguised, tier_fn(scorer, normalize_text, batch_size), normalize_text)
    baseline = flip_rates(disguised, tier_fn(scorer, raw, batch_size), raw)

    typer.echo(f"Tier flip rate under perturbation: {len(perturbed)} cases ({', '.join(sorted(wanted))}), "
               f"{variants} variant(s) per kind, {words} word(s) disguised, seed {seed}, artifact {folder}")
    typer.echo()
    typer.echo(format_table(with_normaliser.flips, "With the normaliser (normalize_text)", chosen))
    typer.echo(summary(with_normaliser))
    typer.echo()
    typer.echo(format_table(baseline.flips, "Raw baseline (normalize_text(deobfuscate=False))", chosen))
    typer.echo(summary(baseline))
    typer.echo()
    typer.echo(format_table(undone_table(disguised), "Undone: normalised variant == normalised original (no model)",
                            chosen))
    typer.echo()
    typer.echo(format_table(undone_table(disguised, nearly=True),
                            "Nearly undone: equal but for spaces lost and repeated letters (no model)", chosen))
