"""A functional test suite in the manner of HateCheck (Röttger et al. 2021).

Hand-written cases (``cases.jsonl``), each testing one functionality (an explicit threat, a negated hateful
statement, counter-speech, ...) in one language, with the tier and policy area a correct model gives. A
case passes when the predicted tier equals the expected one; the area is tracked separately: it passes when
the expected area is among the predicted areas, or, for ``none``, when the model predicts exactly
``["none"]``. Pass rates are reported per functionality x language, per functionality, per language and
overall, so a weakness (say, negation in Arabic) shows up as a cell rather than vanishing into an average.

    triage analyse functional --artifact var/models/demo [--failures]

The command is ``evaluation.analyse.functional_command``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from model.taxonomy import PolicyArea, RiskTier

CASES_PATH = Path(__file__).with_name("cases.jsonl")

#: The functionalities, in report order.
FUNCTIONALITIES: tuple[str, ...] = (
    "threat",
    "threat_polite",
    "slur_hate",
    "spelling_variants",
    "reclaimed_slur",
    "negation",
    "counter_speech",
    "quoting",
    "neutral_identity",
    "non_protected_target",
    "self_harm",
    "scam",
)
#: The languages every functionality is written in (ISO 639-1), in report order. The taxonomy names no
#: languages, so the suite's own list is the one cases are checked against.
LANGUAGES: tuple[str, ...] = ("en", "fr", "de", "es", "hi", "ar")

Functionality = Literal[
    "threat", "threat_polite", "slur_hate", "spelling_variants", "reclaimed_slur", "negation",
    "counter_speech", "quoting", "neutral_identity", "non_protected_target", "self_harm", "scam",
]
Language = Literal["en", "fr", "de", "es", "hi", "ar"]
Script = Literal["latn", "deva", "arab"]

_SCRIPT_CHARS: dict[str, re.Pattern[str]] = {
    "deva": re.compile(r"[\u0900-\u097F]"),
    "arab": re.compile(r"[\u0600-\u06FF]"),
}

#: What a scoring function returns for each text: the predicted tier and the predicted areas (``["none"]``
#: when no violation area applies), as ``model.scorer.Score`` gives them.
Prediction = tuple[str, Sequence[str]]
ScoreFn = Callable[[Sequence[str]], Sequence[Prediction]]


class CaseError(ValueError):
    """The cases file is missing or holds an invalid row."""


class Case(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]+(-[a-z0-9_]+)*$")]
    functionality: Functionality
    language: Language
    script: Script
    text: Annotated[str, Field(min_length=1)]
    expected_tier: RiskTier
    expected_area: PolicyArea

    @model_validator(mode="after")
    def _script_matches_text(self) -> Case:
        for script, chars in _SCRIPT_CHARS.items():
            has = chars.search(self.text) is not None
            if script == self.script and not has:
                raise ValueError(f"script is {self.script!r} but the text has no {script} characters")
            if script != self.script and has:
                raise ValueError(f"script is {self.script!r} but the text has {script} characters")
        return self


def load_cases(path: Path = CASES_PATH) -> list[Case]:
    """The cases of a JSON-lines file, validated; blank lines are skipped. Raises ``CaseError`` naming the
    file and line of the first bad row (invalid JSON, a field that fails validation, a repeated id)."""
    from model.datafiles import CorpusError, iter_jsonl

    cases: list[Case] = []
    seen: dict[str, int] = {}
    try:
        records = list(iter_jsonl(path))
    except CorpusError as exc:  # unreadable file, bad encoding or invalid JSON: names the file and line
        raise CaseError(str(exc)) from exc
    for number, raw in records:
        try:
            case = Case.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['msg']}" for err in exc.errors()
            )
            raise CaseError(f"{path}:{number}: invalid case: {problems}") from exc
        if case.id in seen:
            raise CaseError(f"{path}:{number}: duplicate id {case.id!r} (first on line {seen[case.id]})")
        seen[case.id] = number
        cases.append(case)
    if not cases:
        raise CaseError(f"{path}: no cases")
    return cases


@dataclass
class Tally:
    total: int = 0
    tier_passed: int = 0
    area_passed: int = 0

    @property
    def tier_rate(self) -> float:
        return self.tier_passed / self.total if self.total else 0.0

    @property
    def area_rate(self) -> float:
        return self.area_passed / self.total if self.total else 0.0

    def add(self, tier_ok: bool, area_ok: bool) -> None:
        self.total += 1
        self.tier_passed += tier_ok
        self.area_passed += area_ok


@dataclass(frozen=True)
class CaseResult:
    case: Case
    predicted_tier: str
    predicted_areas: tuple[str, ...]

    @property
    def tier_passed(self) -> bool:
        return self.predicted_tier == self.case.expected_tier.value

    @property
    def area_passed(self) -> bool:
        if self.case.expected_area is PolicyArea.NONE:
            return self.predicted_areas == (PolicyArea.NONE.value,)
        return self.case.expected_area.value in self.predicted_areas


@dataclass
class SuiteReport:
    results: list[CaseResult]
    cells: dict[tuple[str, str], Tally] = field(default_factory=dict)
    by_functionality: dict[str, Tally] = field(default_factory=dict)
    by_language: dict[str, Tally] = field(default_factory=dict)
    overall: Tally = field(default_factory=Tally)

    @property
    def failures(self) -> list[CaseResult]:
        """Cases whose tier or area is wrong."""
        return [r for r in self.results if not (r.tier_passed and r.area_passed)]


def _ordered(keys: Iterable[str], order: Sequence[str]) -> list[str]:
    present = set(keys)
    return [k for k in order if k in present] + sorted(present - set(order))


def run_suite(score_fn: ScoreFn, cases: Sequence[Case]) -> SuiteReport:
    """Score every case's text in one call to ``score_fn`` and tally the passes."""
    predictions = list(score_fn([c.text for c in cases]))
    if len(predictions) != len(cases):
        raise ValueError(f"score_fn returned {len(predictions)} predictions for {len(cases)} texts")
    report = SuiteReport(results=[])
    for case, (tier, areas) in zip(cases, predictions, strict=True):
        result = CaseResult(case, str(tier), tuple(str(a) for a in areas))
        report.results.append(result)
        ok = (result.tier_passed, result.area_passed)
        report.cells.setdefault((case.functionality, case.language), Tally()).add(*ok)
        report.by_functionality.setdefault(case.functionality, Tally()).add(*ok)
        report.by_language.setdefault(case.language, Tally()).add(*ok)
        report.overall.add(*ok)
    return report


def _table(report: SuiteReport, rate: Callable[[Tally], float], title: str) -> list[str]:
    functionalities = _ordered(report.by_functionality, FUNCTIONALITIES)
    languages = _ordered(report.by_language, LANGUAGES)
    first = max([len("functionality"), len("all"), *(len(f) for f in functionalities)])
    width = 6

    def cell(tally: Tally | None) -> str:
        return "-".rjust(width) if tally is None or not tally.total else f"{rate(tally):{width}.0%}"

    header = "functionality".ljust(first) + "".join(lang.rjust(width) for lang in languages) + "all".rjust(width)
    header += "     n"
    lines = [title, header, "-" * len(header)]
    for func in functionalities:
        row = func.ljust(first) + "".join(cell(report.cells.get((func, lang))) for lang in languages)
        by_func = report.by_functionality[func]
        lines.append(row + cell(by_func) + f"{by_func.total:6d}")
    lines.append("-" * len(header))
    row = "all".ljust(first) + "".join(cell(report.by_language[lang]) for lang in languages)
    lines.append(row + cell(report.overall) + f"{report.overall.total:6d}")
    return lines


def format_report(report: SuiteReport) -> str:
    """Two plain-text tables (tier pass rate, area pass rate), functionality by language, and a summary."""
    lines = _table(report, lambda t: t.tier_rate, "Tier pass rate (predicted tier == expected tier)")
    lines.append("")
    lines += _table(report, lambda t: t.area_rate, "Area pass rate (expected area predicted; 'none' alone)")
    o = report.overall
    lines.append("")
    lines.append(
        f"overall: tier {o.tier_passed}/{o.total} ({o.tier_rate:.1%}), area {o.area_passed}/{o.total} "
        f"({o.area_rate:.1%})"
    )
    return "\n".join(lines)


def format_failures(report: SuiteReport) -> str:
    """One line per failing case: id, expected and predicted tier and areas, text."""
    lines = []
    for r in report.failures:
        c = r.case
        lines.append(
            f"{c.id}: expected {c.expected_tier.value}/{c.expected_area.value}, "
            f"got {r.predicted_tier}/{','.join(r.predicted_areas)}: {c.text}"
        )
    return "\n".join(lines)


def scorer_fn(artifact: Path) -> ScoreFn:
    """A scoring function over an exported artifact (``model.scorer.Scorer``)."""
    from model.scorer import Scorer

    scorer = Scorer(artifact)

    def score(texts: Sequence[str]) -> list[Prediction]:
        return [(s.tier, s.areas) for s in scorer.score(texts)]

    return score
