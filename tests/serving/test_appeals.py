"""Appeals (DSA Art. 20): an appeal of a report's latest decision goes to its own queue with its own SLA, is decided
by another reviewer than the contested decision's, and its outcome is stored, audited, exported and counted."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from serving.appeals import AUTO_CLOSE, outcome
from serving.db.engine import transaction
from serving.db.models import AppealRow, AuditRow, QueueItemRow, ReportRow, RouteRow
from serving.decisions import export_decisions
from tests.support.api import Keys, press_reports

API = tuple[TestClient, Keys]
REMOVE = {"risk_tier": "high", "policy_areas": ["violence_incitement"], "action": "remove", "note": "credible"}
NO_VIOLATION = {"risk_tier": "low", "policy_areas": ["none"], "action": "no_violation"}
APPEAL = {"appeal_id": "ap-1", "appellant": "affected_user", "reason": "It was a quote from a film."}


def sessions(client: TestClient) -> Any:
    return client.app.state.triage.sessions  # type: ignore[attr-defined]


def decided_report(client: TestClient, keys: Keys, decision: dict[str, Any] = REMOVE, prefix: str = "p") -> str:
    """A press report (always reviewed by a person), claimed and decided by the reviewer key; its report_id."""
    press_reports(client, keys.intake, 1, prefix=prefix)
    item = client.post("/v1/queues/human_escalation:claim", headers=keys.reviewer).json()
    assert client.post(f"/v1/items/{item['id']}:decide", json=decision, headers=keys.reviewer).status_code == 200
    report_id: str = item["report"]["report_id"]
    return report_id


def appeal(client: TestClient, keys: Keys, report_id: str, **fields: Any) -> Any:
    return client.post(f"/v1/reports/{report_id}:appeal", json={**APPEAL, **fields}, headers=keys.intake)


def decide_appeal(client: TestClient, keys: Keys, decision: dict[str, Any]) -> Any:
    """The admin key (not the contested decision's reviewer) claims the appeal and decides it."""
    item = client.post("/v1/queues/appeals:claim", headers=keys.admin).json()
    assert item["kind"] == "appeal"
    return client.post(f"/v1/items/{item['id']}:decide", json=decision, headers=keys.admin)


def test_an_appeal_opens_an_item_in_the_appeals_queue_with_its_own_sla(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    report_id = decided_report(client, keys)
    response = appeal(client, keys, report_id)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["outcome"], body["queue"], body["appellant"]) == (
        "open", None, "appeals", "affected_user")
    assert body["contested"]["action"] == "remove" and not body["contested"]["automated"]
    assert body["contested"]["decision"]["reviewer"] == keys.reviewer_id
    policy = client.app.state.triage.policy  # type: ignore[attr-defined]
    from datetime import datetime

    due = datetime.fromisoformat(body["due_at"]) - datetime.fromisoformat(body["received_at"])
    assert due == timedelta(minutes=policy.appeals.sla_minutes)
    [queue] = [q for q in client.get("/v1/queues", headers=keys.reviewer).json()["queues"] if q["queue"] == "appeals"]
    assert queue["open"] == 1


def test_the_reviewer_of_the_contested_decision_may_not_take_the_appeal(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    appeal(client, keys, decided_report(client, keys))
    assert client.post("/v1/queues/appeals:claim", headers=keys.reviewer).status_code == 204
    item = client.post("/v1/queues/appeals:claim", headers=keys.admin).json()
    refused = client.post(f"/v1/items/{item['id']}:reassign", json={"to": keys.reviewer_id}, headers=keys.admin)
    assert refused.status_code == 422 and "an appeal goes to another reviewer" in refused.json()["message"]


def test_an_appeal_keeping_the_action_is_upheld_and_one_changing_it_is_reversed(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    kept, changed = decided_report(client, keys, prefix="kept"), decided_report(client, keys, prefix="changed")
    appeal(client, keys, kept, appeal_id="ap-kept")
    assert decide_appeal(client, keys, REMOVE).status_code == 200
    appeal(client, keys, changed, appeal_id="ap-changed", appellant="affected_user")
    assert decide_appeal(client, keys, NO_VIOLATION).status_code == 200

    upheld = client.get("/v1/appeals/ap-kept", headers=keys.intake).json()
    reversed_ = client.get("/v1/appeals/ap-changed", headers=keys.intake).json()
    assert (upheld["status"], upheld["outcome"]) == ("decided", "upheld")
    assert (reversed_["outcome"], reversed_["decision"]["action"], reversed_["contested"]["action"]) == (
        "reversed", "no_violation", "remove")
    assert reversed_["decision"]["reviewer"] == keys.admin_id
    with sessions(client)() as session:
        audited = session.execute(select(AuditRow.action, AuditRow.details).where(
            AuditRow.subject_type == "appeal").order_by(AuditRow.id)).all()
    assert [(a, d.get("outcome")) for a, d in audited] == [
        ("appeal.filed", None), ("appeal.decided", "upheld"), ("appeal.filed", None), ("appeal.decided", "reversed")]
    metrics = client.get("/metrics", headers=keys.admin).text
    assert 'triage_appeals_decided_total{outcome="reversed"} 1.0' in metrics
    assert 'triage_appeals_filed_total{appellant="affected_user"} 2.0' in metrics


def test_a_report_auto_closed_by_routing_is_appealed_as_an_automated_decision(api: API) -> None:
    client, keys = api
    report_id = "auto-1"
    client.post("/v1/reports:score", json={"report_id": report_id, "text": "my neighbour's cat sleeps all day"},
                headers=keys.intake)
    with transaction(sessions(client)) as session:  # as routing stores a low-risk report it auto-closes
        pk = session.scalar(select(ReportRow.id).where(ReportRow.report_id == report_id))
        session.execute(delete(QueueItemRow).where(QueueItemRow.report_pk == pk))
        session.scalars(select(RouteRow).where(RouteRow.report_pk == pk)).one().action = AUTO_CLOSE
    body = appeal(client, keys, report_id, appellant="reporter").json()
    contested = body["contested"]
    assert (contested["action"], contested["automated"], contested["decision"]) == ("auto_close", True, None)
    assert contested["decided_at"] <= body["received_at"]
    # Nobody made the contested decision, so any reviewer may take the appeal; finding no violation upholds it.
    item = client.post("/v1/queues/appeals:claim", headers=keys.reviewer).json()
    client.post(f"/v1/items/{item['id']}:decide", json=NO_VIOLATION, headers=keys.reviewer)
    assert client.get(f"/v1/appeals/{APPEAL['appeal_id']}", headers=keys.reviewer).json()["outcome"] == "upheld"


def test_a_report_still_waiting_for_review_has_nothing_to_appeal(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    response = appeal(client, keys, "p-0")
    assert response.status_code == 409
    assert "no decision to appeal yet" in response.json()["message"]
    assert response.json()["fields"][0]["field"] == "report_id"


def test_one_open_appeal_per_report(api: API) -> None:
    client, keys = api
    report_id = decided_report(client, keys)
    appeal(client, keys, report_id)
    second = appeal(client, keys, report_id, appeal_id="ap-2", appellant="reporter")
    assert second.status_code == 409 and "has an open appeal already" in second.json()["message"]


def test_of_two_appeals_of_one_report_sent_at_once_one_opens_and_the_other_is_refused(
        api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    report_id = decided_report(client, keys)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda i: appeal(client, keys, report_id, appeal_id=f"ap-race-{i}"), range(2)))
    assert sorted(a.status_code for a in answers) == [201, 409]
    with sessions(client)() as session:
        assert len(session.scalars(select(AppealRow).where(AppealRow.status == "open")).all()) == 1


def test_the_same_appeal_sent_twice_is_stored_once_and_other_content_under_its_id_conflicts(api: API) -> None:
    client, keys = api
    report_id = decided_report(client, keys)
    first, again = appeal(client, keys, report_id), appeal(client, keys, report_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["replayed"]
    assert again.json()["queue_item_id"] == first.json()["queue_item_id"]
    conflict = appeal(client, keys, report_id, reason="something else")
    assert conflict.status_code == 409 and conflict.json()["fields"][0]["field"] == "appeal_id"
    with sessions(client)() as session:
        assert len(session.scalars(select(AppealRow)).all()) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"appellant": "lawyer"}, "appellant"),
    ({"appeal_id": ""}, "appeal_id"),
    ({"reason": "x" * 2001}, "reason"),
    ({"reason": "nul \x00"}, "reason"),
])
def test_an_invalid_appeal_is_refused_naming_the_field(api: API, body: dict[str, Any], field: str) -> None:
    client, keys = api
    response = appeal(client, keys, decided_report(client, keys), **body)
    assert response.status_code == 422
    assert any(f["field"].endswith(field) for f in response.json()["fields"])


def test_who_may_file_and_read_appeals(api: API) -> None:
    client, keys = api
    report_id = decided_report(client, keys)
    assert client.post(f"/v1/reports/{report_id}:appeal", json=APPEAL, headers=keys.reviewer).status_code == 403
    assert appeal(client, keys, "no-such-report").status_code == 404
    assert client.get("/v1/appeals/ap-unknown", headers=keys.intake).status_code == 404


def test_the_appeal_decision_is_training_data_and_the_decision_it_reversed_is_not(api: API, tmp_path: Path) -> None:
    client, keys = api
    report_id = decided_report(client, keys)
    appeal(client, keys, report_id)
    decide_appeal(client, keys, NO_VIOLATION)
    summary = export_decisions(sessions(client), tmp_path / "decisions.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert (summary.written, summary.skipped_reversed, summary.disagreements) == (1, 1, 0)
    [row] = rows
    assert (row["report_id"], row["item_kind"], row["appeal_outcome"], row["risk_tier"], row["label_confidence"]) == (
        report_id, "appeal", "reversed", "low", 1.0)


def test_retention_clears_the_appellants_reason_with_the_report_text(api: API) -> None:
    from serving import retention

    client, keys = api
    appeal(client, keys, decided_report(client, keys))
    decide_appeal(client, keys, REMOVE)
    later = retention.utcnow() + timedelta(days=40)
    done = retention.apply(sessions(client), 30, now=later)
    assert done.reports_redacted == 1
    with sessions(client)() as session:
        assert session.scalars(select(AppealRow.reason)).one() is None


@pytest.mark.parametrize(("contested", "action", "expected"), [
    ("remove", "remove", "upheld"),
    ("remove", "restrict", "reversed"),
    ("remove", "no_violation", "reversed"),
    ("auto_close", "no_violation", "upheld"),
    ("auto_close", "remove", "reversed"),
    ("no_violation", "remove", "reversed"),
])
def test_the_outcome_compares_the_appeals_action_with_the_contested_one(contested: str, action: str,
                                                                        expected: str) -> None:
    assert outcome(contested, action) == expected
