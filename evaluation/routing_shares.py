"""Where the routing policy sends real reports: a sample of a corpus split scored by an artifact and routed.

Prints the share of each action (automated vs sent to people), of each grey-area rule, and the actions by
the true risk tier, so a policy change can be judged by the workload it creates before it is deployed.

    triage analyse routing-shares --artifact var/models/demo --sample 2000

The command is ``evaluation.analyse.routing_shares_command``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from model.artifact import ArtifactMeta
from model.schema import Report
from model.scorer import Score, Scorer
from serving.language import LanguageDetector
from serving.pipeline import decide
from serving.policy import RoutingPolicy
from serving.routing import Action, Route


@dataclass
class Shares:
    total: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    grey_rules: Counter[str] = field(default_factory=Counter)
    by_true_tier: dict[str, Counter[str]] = field(default_factory=dict)


PEOPLE = frozenset({Action.ESCALATE.value, Action.REVIEW.value})


def route_scores(meta: ArtifactMeta, texts: Sequence[str], scores: Sequence[Score], policy: RoutingPolicy,
                 detector: LanguageDetector | None = None) -> list[Route]:
    """Route already scored reports as the service would (``serving.pipeline.decide``): no report signals
    (the corpus has none), one receive time."""
    reports = [Report(report_id=f"sample-{i}", text=text) for i, text in enumerate(texts)]
    return decide(reports, scores, meta, detector or LanguageDetector(), policy, datetime.now(UTC))


def shares_of(routes: Sequence[Route], true_tiers: Sequence[str]) -> Shares:
    shares = Shares(total=len(routes))
    for decided, true in zip(routes, true_tiers, strict=True):
        shares.actions[decided.action.value] += 1
        shares.grey_rules.update(rule.name for rule in decided.grey_area)
        shares.by_true_tier.setdefault(true, Counter())[decided.action.value] += 1
    return shares


def routing_shares(scorer: Scorer, policy: RoutingPolicy, texts: Sequence[str], true_tiers: Sequence[str]) -> Shares:
    return shares_of(route_scores(scorer.meta, texts, scorer.score(texts), policy), true_tiers)


def format_shares(shares: Shares) -> str:
    """The shares as plain text: automated vs to people, each action, each grey-area rule (a report may fire
    several), and the actions by true tier."""

    def pct(n: int, of: int) -> str:
        return f"{n / of:6.1%}" if of else f"{'-':>6}"

    people = sum(shares.actions[a] for a in PEOPLE)
    lines = [f"automated {pct(shares.total - people, shares.total)}   to people {pct(people, shares.total)}"]
    for action, n in shares.actions.most_common():
        lines.append(f"  {action:<12} {pct(n, shares.total)}")
    lines.append("grey-area rules (a report may fire several)")
    for rule, n in shares.grey_rules.most_common():
        lines.append(f"  {rule:<28} {pct(n, shares.total)}")
    lines.append("actions by true tier")
    for tier in ("high", "medium", "low"):
        counts = shares.by_true_tier.get(tier, Counter())
        n = sum(counts.values())
        if n:
            lines.append(f"  {tier:<7} n={n:<5} " + "  ".join(f"{a} {pct(c, n)}" for a, c in sorted(counts.items())))
    return "\n".join(lines)
