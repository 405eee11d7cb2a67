"""Review queues: exclusive claims under leases, release, reassign, decisions, blind second reviews, audit."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from model.schema import ReviewDecision
from model.settings import Settings
from serving import queues
from serving.auth import Principal, Role, create_key
from serving.db.engine import transaction
from serving.db.models import AuditRow, QueueItemRow, ReviewDecisionRow, utcnow
from serving.deps import AppState
from serving.model_loader import LoadedModel
from tests.support.api import Keys, press_reports, start_client

API = tuple[TestClient, Keys]
REMOVE = {"risk_tier": "high", "policy_areas": ["violence_incitement"], "action": "remove", "note": "credible"}


def claim(client: TestClient, headers: dict[str, str], queue: str = "human_escalation") -> Any:
    return client.post(f"/v1/queues/{queue}:claim", headers=headers)


def audit_actions(client: TestClient) -> list[str]:
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(AuditRow.action).order_by(AuditRow.id)))


def test_queues_list_counts_and_sla_status(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 3)
    claim(client, keys.reviewer)
    body = client.get("/v1/queues", headers=keys.reviewer).json()
    [queue] = [q for q in body["queues"] if q["queue"] == "human_escalation"]
    assert (queue["open"], queue["claimed"], queue["overdue"]) == (2, 1, 0)
    assert queue["oldest_open_age_seconds"] >= 0
    assert queue["sla_status"] == "ok"  # due in 4 hours


def test_claim_gives_the_most_urgent_item_with_its_report_and_scores(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 2)
    item = claim(client, keys.reviewer).json()
    assert item["status"] == "claimed" and item["claimed_by"] == keys.reviewer_id
    assert item["report"]["text"].startswith("article number")
    assert item["decision"]["route"]["queue"] == "human_escalation"
    assert item["lease_expires_at"] > item["created_at"]
    assert "item.claimed" in audit_actions(client)


def test_an_empty_queue_answers_204(api: API) -> None:
    client, keys = api
    assert claim(client, keys.reviewer, "specialist_review").status_code == 204


def test_two_reviewers_never_hold_the_same_item(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    assert claim(client, keys.reviewer).status_code == 200
    assert claim(client, keys.admin).status_code == 204


def test_an_expired_lease_makes_the_item_claimable_again(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    item = claim(client, keys.reviewer).json()
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        session.get(QueueItemRow, item["id"]).lease_expires_at = utcnow() - timedelta(seconds=1)
    again = claim(client, keys.admin).json()
    assert again["id"] == item["id"] and again["claimed_by"] == keys.admin_id
    late = client.post(f"/v1/items/{item['id']}:decide", json=REMOVE, headers=keys.reviewer)
    assert late.status_code == 409 and "claimed by another reviewer" in late.json()["message"]


def test_release_puts_the_item_back(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    item = claim(client, keys.reviewer).json()
    released = client.post(f"/v1/items/{item['id']}:release", headers=keys.reviewer).json()
    assert released["status"] == "open" and released["claimed_by"] is None
    assert claim(client, keys.reviewer).json()["id"] == item["id"]


def test_reassign_hands_the_item_to_another_reviewer(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    item = claim(client, keys.reviewer).json()
    moved = client.post(f"/v1/items/{item['id']}:reassign", json={"to": keys.admin_id}, headers=keys.reviewer)
    assert moved.status_code == 200 and moved.json()["claimed_by"] == keys.admin_id
    not_a_reviewer = client.post(f"/v1/items/{item['id']}:reassign", json={"to": keys.intake_id},
                                 headers=keys.admin)
    assert not_a_reviewer.status_code == 422 and "not an active reviewer key" in not_a_reviewer.json()["message"]


def test_a_decision_is_stored_and_closes_the_item(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    item = claim(client, keys.reviewer).json()
    decided = client.post(f"/v1/items/{item['id']}:decide", json=REMOVE, headers=keys.reviewer)
    assert decided.status_code == 200
    body = decided.json()
    assert (body["risk_tier"], body["policy_areas"], body["action"]) == ("high", ["violence_incitement"], "remove")
    assert body["reviewer"] == keys.reviewer_id and body["model_version"] == "triage-classifier:tiny"
    assert client.get(f"/v1/items/{item['id']}", headers=keys.reviewer).json()["status"] == "done"
    again = client.post(f"/v1/items/{item['id']}:decide", json=REMOVE, headers=keys.reviewer)
    assert again.status_code == 409 and "already decided" in again.json()["message"]
    assert {"item.claimed", "item.decided", "item.viewed"} <= set(audit_actions(client))


def test_deciding_without_a_claim_is_refused(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        item_id = session.scalars(select(QueueItemRow.id)).one()
    response = client.post(f"/v1/items/{item_id}:decide", json=REMOVE, headers=keys.reviewer)
    assert response.status_code == 409 and "claim item" in response.json()["message"]


@pytest.mark.parametrize(("decision", "field"), [
    ({**REMOVE, "risk_tier": "severe"}, "risk_tier"),
    ({**REMOVE, "policy_areas": []}, "policy_areas"),
    ({**REMOVE, "policy_areas": ["none"]}, "body"),
    ({**REMOVE, "action": "nuke"}, "action"),
    ({**REMOVE, "note": "x" * 2001}, "note"),
])
def test_an_invalid_decision_is_refused_naming_the_field(api: API, decision: dict[str, Any], field: str) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    item = claim(client, keys.reviewer).json()
    response = client.post(f"/v1/items/{item['id']}:decide", json=decision, headers=keys.reviewer)
    assert response.status_code == 422
    assert field in [f["field"] for f in response.json()["fields"]]


def test_intake_keys_cannot_review(api: API) -> None:
    client, keys = api
    assert client.get("/v1/queues", headers=keys.intake).status_code == 403
    assert claim(client, keys.intake).status_code == 403


def test_a_second_review_is_blind_to_the_first_reviewer(settings: Settings, tiny_model: LoadedModel) -> None:
    policy_file = settings.work_dir.parent / "policy.toml"
    policy_file.write_text(settings.routing_policy.read_text().replace("second_review_rate = 0.10",
                                                                       "second_review_rate = 1.0"))
    client, keys = start_client(settings.model_copy(update={"routing_policy": policy_file}), tiny_model)
    with client:
        press_reports(client, keys.intake, 1)
        first = claim(client, keys.reviewer).json()
        client.post(f"/v1/items/{first['id']}:decide", json=REMOVE, headers=keys.reviewer)
        assert claim(client, keys.reviewer).status_code == 204, "the first reviewer never sees the second review"
        second = claim(client, keys.admin).json()
        assert second["kind"] == "second_review" and second["report"]["report_id"] == first["report"]["report_id"]


def test_second_reviews_are_drawn_at_the_configured_rate() -> None:
    drawn = sum(queues.second_review_drawn(i, 0.1) for i in range(10_000))
    assert 850 < drawn < 1150


# --- concurrency, on SQLite and PostgreSQL --------------------------------------------------------

def test_many_parallel_claims_never_claim_an_item_twice(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    state: AppState = client.app.state.triage  # type: ignore[attr-defined]
    press_reports(client, keys.intake, 30)
    with transaction(state.sessions) as session:
        reviewers = [create_key(session, f"r{i}", Role.REVIEWER) for i in range(8)]
    principals = [Principal(key_id=k.key_id, name=k.name, role=k.role) for k in reviewers]
    start = threading.Barrier(len(principals), timeout=30)

    def work(reviewer: Principal) -> list[int]:
        start.wait()
        got = []
        while True:
            with transaction(state.sessions) as session:
                item = queues.claim_next(session, "human_escalation", reviewer, state.policy)
                if item is None:
                    return got
                got.append(item.id)

    with ThreadPoolExecutor(len(principals)) as pool:
        claimed = [ids for ids in pool.map(work, principals)]
    everything = [i for ids in claimed for i in ids]
    assert len(everything) == 30 and len(set(everything)) == 30, "each item claimed exactly once"
    with state.sessions() as session:
        holders = session.execute(select(QueueItemRow.id, QueueItemRow.claimed_by)).all()
        assert len({holder for _, holder in holders}) > 1, "the work was shared"
        audited = session.scalars(select(AuditRow.subject_id).where(AuditRow.action == "item.claimed")).all()
        assert sorted(map(int, audited)) == sorted(everything)
        assert session.scalars(select(ReviewDecisionRow)).all() == []


def test_review_decision_schema_matches_corpus_rules() -> None:
    with pytest.raises(ValueError, match="no_violation"):
        ReviewDecision.model_validate({"risk_tier": "medium", "policy_areas": ["hate_speech"],
                                       "action": "no_violation"})
    ok = ReviewDecision.model_validate({"risk_tier": "low", "policy_areas": ["none"], "action": "no_violation"})
    assert ok.note is None
