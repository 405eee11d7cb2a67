"""Quality assurance: how often reviewers agree with each other (blind second reviews) and with the model.

Reported overall, per queue and per policy area. Tier agreement between reviewers also gets Cohen's kappa
(agreement beyond what the two reviewers' tier frequencies would give by chance). Per policy area, the
agreement on an area is counted over the pairs where at least one side chose it: both chose it / either
chose it (so the many reports where nobody saw that area do not inflate it).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.db.models import QueueItemRow, ReviewDecisionRow, ScoreRow
from serving.queues import SECOND_REVIEW

NONE = "none"


class Agreement(BaseModel):
    n: int
    tier: float | None
    areas: float | None
    tier_kappa: float | None = None


class AreaAgreement(BaseModel):
    n: int
    agreement: float | None


class AgreementSlice(BaseModel):
    overall: Agreement
    by_queue: dict[str, Agreement]
    by_area: dict[str, AreaAgreement]


class AgreementReport(BaseModel):
    reviewer_vs_reviewer: AgreementSlice
    reviewer_vs_model: AgreementSlice


@dataclass(frozen=True, slots=True)
class Pair:
    queue: str
    tier_a: str
    tier_b: str
    areas_a: frozenset[str]
    areas_b: frozenset[str]


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' labels; None when undefined (no pairs, or chance agreement is 1)."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[label] * cb[label] for label in ca) / (n * n)
    return None if expected == 1 else (observed - expected) / (1 - expected)


def _violations(areas: Iterable[str]) -> frozenset[str]:
    return frozenset(a for a in areas if a != NONE)


def _agreement(pairs: Sequence[Pair], kappa: bool) -> Agreement:
    if not pairs:
        return Agreement(n=0, tier=None, areas=None)
    return Agreement(
        n=len(pairs),
        tier=sum(p.tier_a == p.tier_b for p in pairs) / len(pairs),
        areas=sum(p.areas_a == p.areas_b for p in pairs) / len(pairs),
        tier_kappa=cohen_kappa([p.tier_a for p in pairs], [p.tier_b for p in pairs]) if kappa else None,
    )


def summarise(pairs: Sequence[Pair], kappa: bool) -> AgreementSlice:
    by_queue: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        by_queue[p.queue].append(p)
    either: Counter[str] = Counter()
    both: Counter[str] = Counter()
    for p in pairs:
        either.update(p.areas_a | p.areas_b)
        both.update(p.areas_a & p.areas_b)
    return AgreementSlice(
        overall=_agreement(pairs, kappa),
        by_queue={q: _agreement(ps, kappa) for q, ps in sorted(by_queue.items())},
        by_area={a: AreaAgreement(n=either[a], agreement=both[a] / either[a]) for a in sorted(either)},
    )


def agreement_report(session: Session) -> AgreementReport:
    rows = session.execute(
        select(ReviewDecisionRow, QueueItemRow.queue, QueueItemRow.kind, ScoreRow.model_tier, ScoreRow.areas)
        .join(QueueItemRow, QueueItemRow.id == ReviewDecisionRow.queue_item_id)
        .join(ScoreRow, ScoreRow.report_pk == ReviewDecisionRow.report_pk)
        .order_by(ReviewDecisionRow.id)
    ).all()
    first: dict[int, ReviewDecisionRow] = {}
    second: dict[int, ReviewDecisionRow] = {}
    queue_of: dict[int, str] = {}
    model_pairs = []
    for decision, queue, kind, model_tier, model_areas in rows:
        model_pairs.append(Pair(queue, decision.risk_tier, model_tier, _violations(decision.policy_areas),
                                _violations(model_areas)))
        target = second if kind == SECOND_REVIEW else first
        target.setdefault(decision.report_pk, decision)
        queue_of.setdefault(decision.report_pk, queue)
    reviewer_pairs = [
        Pair(queue_of[pk], first[pk].risk_tier, s.risk_tier, _violations(first[pk].policy_areas),
             _violations(s.policy_areas))
        for pk, s in second.items() if pk in first
    ]
    return AgreementReport(reviewer_vs_reviewer=summarise(reviewer_pairs, kappa=True),
                           reviewer_vs_model=summarise(model_pairs, kappa=True))
