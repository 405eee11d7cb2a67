"""Where the routing policy sends real reports: a sample of a corpus split scored by an artifact and routed.

Prints the share of each action (automated vs sent to people), of each grey-area rule, and the actions by
the true risk tier, so a policy change can be judged by the workload it creates before it is deployed.

    python -m evaluation.routing_shares --artifact var/models/demo --sample 2000
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from model.artifact import ArtifactMeta
from model.schema import Report
from model.scorer import Score, Scorer
from model.settings import get_settings
from serving.language import LanguageDetector
from serving.pipeline import decide
from serving.policy import RoutingPolicy, load_policy
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    settings = get_settings()
    parser.add_argument("--artifact", type=Path, default=settings.models_dir / "demo")
    parser.add_argument("--corpus", type=Path, default=settings.corpus_dir / "corpus.parquet")
    parser.add_argument("--split", default="test")
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--policy", type=Path, default=settings.routing_policy)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for path, what in ((args.corpus, "--corpus"), (args.artifact / "artifact.json", "--artifact")):
        if not path.is_file():
            parser.error(f"{what} {path}: not found")

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(args.corpus, columns=["text", "split", "risk_tier"])
    table = table.filter(pc.equal(table["split"], args.split))
    rows = random.Random(args.seed).sample(range(table.num_rows), min(args.sample, table.num_rows))
    texts = [table["text"][i].as_py() for i in rows]
    tiers = [table["risk_tier"][i].as_py() for i in rows]
    policy = load_policy(args.policy)
    shares = routing_shares(Scorer(args.artifact), policy, texts, tiers)

    def pct(n: int, of: int) -> str:
        return f"{n / of:6.1%}"

    print(f"{shares.total} {args.split} reports (seed {args.seed}), model {args.artifact}, policy {policy.version}")
    people = sum(shares.actions[a] for a in PEOPLE)
    print(f"automated {pct(shares.total - people, shares.total)}   to people {pct(people, shares.total)}")
    for action, n in shares.actions.most_common():
        print(f"  {action:<12} {pct(n, shares.total)}")
    print("grey-area rules (a report may fire several)")
    for rule, n in shares.grey_rules.most_common():
        print(f"  {rule:<28} {pct(n, shares.total)}")
    print("actions by true tier")
    for tier in ("high", "medium", "low"):
        counts = shares.by_true_tier.get(tier, Counter())
        n = sum(counts.values())
        if n:
            print(f"  {tier:<7} n={n:<5} " + "  ".join(f"{a} {pct(c, n)}" for a, c in sorted(counts.items())))


if __name__ == "__main__":
    main()
