"""QA agreement: reviewer vs reviewer (blind second reviews) and reviewer vs model, by queue and area."""

from __future__ import annotations

import pytest

from model.settings import Settings
from serving.model_loader import LoadedModel
from serving.qa import Pair, cohen_kappa, summarise
from tests.support.api import start_client


def test_cohen_kappa_matches_a_hand_computed_value() -> None:
    # 10 pairs, observed agreement 0.7; rater a: 5 high 5 low, rater b: 6 high 4 low
    # chance agreement = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = ["high"] * 5 + ["low"] * 5
    b = ["high", "high", "high", "high", "low", "high", "high", "low", "low", "low"]
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["low"] * 3, ["low"] * 3) is None, "undefined when chance agreement is certain"
    assert cohen_kappa([], []) is None


def test_area_agreement_counts_only_pairs_where_someone_chose_the_area() -> None:
    pairs = [Pair("q", "high", "high", frozenset({"hate_speech"}), frozenset({"hate_speech"})),
             Pair("q", "high", "medium", frozenset({"hate_speech"}), frozenset({"harassment"})),
             Pair("r", "low", "low", frozenset(), frozenset())]
    report = summarise(pairs, kappa=True)
    assert report.overall.n == 3 and report.overall.tier == pytest.approx(2 / 3)
    assert report.overall.areas == pytest.approx(2 / 3)
    assert report.by_area["hate_speech"].n == 2 and report.by_area["hate_speech"].agreement == 0.5
    assert report.by_area["harassment"].agreement == 0.0
    assert set(report.by_queue) == {"q", "r"}


def test_the_agreement_endpoint_reports_second_reviews_and_the_model(settings: Settings,
                                                                   tiny_model: LoadedModel) -> None:
    policy = settings.work_dir.parent / "policy.toml"
    policy.write_text(settings.routing_policy.read_text().replace("second_review_rate = 0.10",
                                                                  "second_review_rate = 1.0"))
    client, keys = start_client(settings.model_copy(update={"routing_policy": policy}), tiny_model)
    with client:
        client.post("/v1/reports:score", json={"report_id": "qa-1", "text": "a press enquiry about this post",
                                               "reporter_type": "press"}, headers=keys.intake)
        first = client.post("/v1/queues/human_escalation:claim", headers=keys.reviewer).json()
        client.post(f"/v1/items/{first['id']}:decide", headers=keys.reviewer,
                    json={"risk_tier": "high", "policy_areas": ["harassment"], "action": "remove"})
        second = client.post("/v1/queues/human_escalation:claim", headers=keys.admin).json()
        client.post(f"/v1/items/{second['id']}:decide", headers=keys.admin,
                    json={"risk_tier": "medium", "policy_areas": ["harassment"], "action": "restrict"})
        report = client.get("/v1/qa/agreement", headers=keys.reviewer).json()
    pairs = report["reviewer_vs_reviewer"]
    assert pairs["overall"]["n"] == 1 and pairs["overall"]["tier"] == 0.0 and pairs["overall"]["areas"] == 1.0
    assert pairs["by_queue"]["human_escalation"]["n"] == 1
    assert pairs["by_area"]["harassment"] == {"n": 1, "agreement": 1.0}
    assert report["reviewer_vs_model"]["overall"]["n"] == 2
