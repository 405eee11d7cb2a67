"""The routing-shares report: every sampled report is routed once and counted once."""

from __future__ import annotations

from pathlib import Path

from evaluation.routing_shares import routing_shares
from model.scorer import Scorer
from model.settings import DEFAULT_ROUTING_POLICY
from serving.policy import load_policy


def test_every_report_is_counted_once_per_view(tiny_artifact: Path) -> None:
    texts = ["you are wonderful", "I will find you", "win a free phone now", "Ceci est un message normal", "ok"]
    tiers = ["low", "high", "medium", "low", "low"]
    shares = routing_shares(Scorer(tiny_artifact), load_policy(DEFAULT_ROUTING_POLICY), texts, tiers)
    assert shares.total == 5
    assert sum(shares.actions.values()) == 5
    assert sum(sum(c.values()) for c in shares.by_true_tier.values()) == 5
    assert shares.grey_rules["grey.language_undetected"] >= 1  # "ok" has too few letters to tell
