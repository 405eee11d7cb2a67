"""The scoring API through FastAPI's TestClient: answers, idempotency, bad input, keys and roles, metrics."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from serving.db.models import AuditRow, QueueItemRow, ReportRow
from tests.support.api import Keys

API = tuple[TestClient, Keys]
SECRET_TEXT = "Meet me behind the old mill at nine, Jonas, come alone"


def report(report_id: str = "r-1", **fields: Any) -> dict[str, Any]:
    return {"report_id": report_id, "text": "you are a wonderful person", **fields}


def count(client: TestClient, table: Any) -> int:
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


# --- answers --------------------------------------------------------------------------------------

def test_a_scored_report_carries_tier_areas_language_route_and_versions(api: API) -> None:
    client, keys = api
    response = client.post("/v1/reports:score", json=report(language="en"), headers=keys.intake)
    assert response.status_code == 200
    body = response.json()
    assert body["report_id"] == "r-1"
    assert set(body["risk"]["probabilities"]) == {"low", "medium", "high"}
    assert sum(body["risk"]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["risk"]["tier"] in {"low", "medium", "high"}
    areas = body["policy_areas"]
    strength = [(a["predicted"], a["probability"] - a["threshold"]) for a in areas]
    assert len(areas) == 13 and strength == sorted(strength, reverse=True), "predicted first, then nearest"
    assert all(a["predicted"] == (a["probability"] >= a["threshold"]) for a in areas if a["area"] != "none")
    assert body["language"] == {"code": "en", "detected": "en", "confidence": pytest.approx(1.0, abs=0.2),
                                "hint": "en", "supported": True}
    assert body["route"]["action"] in {"escalate", "review", "auto_route", "auto_close"}
    assert body["route"]["reasons"], "every decision lists the rules that fired"
    assert body["grey_area"]["is_grey_area"] == bool(body["grey_area"]["reasons"])
    assert body["model"] == {"name": "triage-classifier", "version": "tiny"}
    assert body["policy_version"] == "2026-12-07.1"
    assert body["replayed"] is False
    assert response.headers["x-request-id"]


def test_the_text_is_stored_as_sent_for_reviewers(api: API) -> None:
    client, keys = api
    sent = "buy followers at https://cheap.example/now — ask @dealer"
    assert client.post("/v1/reports:score", json=report(text=sent), headers=keys.intake).status_code == 200
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(ReportRow.text)).one() == sent


def test_press_reports_always_go_to_human_escalation(api: API) -> None:
    client, keys = api
    body = client.post("/v1/reports:score", json=report(reporter_type="press"), headers=keys.intake).json()
    assert body["route"]["action"] == "escalate"
    assert body["route"]["queue"] == "human_escalation"
    assert body["route"]["reasons"][-1]["name"] == "reporter.sensitive"
    assert body["route"]["sla_deadline"] is not None
    assert count(client, QueueItemRow) == 1


def test_an_unsupported_language_is_a_grey_area(api: API) -> None:
    client, keys = api  # the tiny model was evaluated on English only
    body = client.post("/v1/reports:score", json=report(text="Ceci est un message parfaitement normal et gentil."),
                       headers=keys.intake).json()
    assert body["language"]["code"] == "fr" and body["language"]["supported"] is False
    assert "grey.language_unsupported" in [r["name"] for r in body["grey_area"]["reasons"]]
    assert body["route"]["queue"] in {"specialist_review", "human_escalation"}


def test_batch_answers_in_request_order(api: API) -> None:
    client, keys = api
    reports = [report(f"b-{i}", text=f"message number {i} about the weather") for i in range(5)]
    response = client.post("/v1/reports:batchScore", json={"reports": reports}, headers=keys.intake)
    assert response.status_code == 200
    assert [r["report_id"] for r in response.json()["results"]] == [f"b-{i}" for i in range(5)]
    assert count(client, ReportRow) == 5


def test_a_stored_decision_can_be_read_back(api: API) -> None:
    client, keys = api
    scored = client.post("/v1/reports:score", json=report(), headers=keys.intake).json()
    read = client.get("/v1/reports/r-1", headers=keys.reviewer).json()
    assert read == {**scored, "replayed": True}
    missing = client.get("/v1/reports/nope", headers=keys.reviewer)
    assert missing.status_code == 404 and "nope" in missing.json()["message"]


# --- idempotency ----------------------------------------------------------------------------------

def test_sending_a_report_again_returns_the_stored_decision_and_stores_nothing(api: API) -> None:
    client, keys = api
    first = client.post("/v1/reports:score", json=report(), headers=keys.intake)
    again = client.post("/v1/reports:score", json=report(), headers=keys.intake)
    assert again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == {**first.json(), "replayed": True}
    assert count(client, ReportRow) == 1
    assert count(client, AuditRow) == 3 + 1  # three keys created, one report scored


def test_a_report_in_a_batch_that_was_scored_alone_is_replayed(api: API) -> None:
    client, keys = api
    client.post("/v1/reports:score", json=report("x-1"), headers=keys.intake)
    body = client.post("/v1/reports:batchScore", json={"reports": [report("x-1"), report("x-2")]},
                       headers=keys.intake).json()
    assert [r["replayed"] for r in body["results"]] == [True, False]
    assert count(client, ReportRow) == 2


def test_the_same_report_twice_in_one_batch_is_stored_once(api: API) -> None:
    client, keys = api
    body = client.post("/v1/reports:batchScore", json={"reports": [report("d-1"), report("d-1")]},
                       headers=keys.intake).json()
    assert body["results"][0] == body["results"][1]
    assert count(client, ReportRow) == 1


def test_the_same_report_id_with_other_content_is_a_conflict(api: API) -> None:
    client, keys = api
    client.post("/v1/reports:score", json=report(), headers=keys.intake)
    response = client.post("/v1/reports:score", json=report(text="something else"), headers=keys.intake)
    assert response.status_code == 409
    assert response.json()["fields"][0]["field"] == "report_id"
    batch = client.post("/v1/reports:batchScore", json={"reports": [report("new"), report(text="other")]},
                        headers=keys.intake)
    assert batch.status_code == 409
    assert batch.json()["fields"][0]["field"] == "reports[1].report_id"
    assert count(client, ReportRow) == 1, "a failed batch stores nothing"


def test_omitting_a_default_field_or_sending_it_is_the_same_report(api: API) -> None:
    client, keys = api
    client.post("/v1/reports:score", json=report(), headers=keys.intake)
    again = client.post("/v1/reports:score", json=report(language=None, channel="in_app", report_count=1),
                        headers=keys.intake)
    assert again.status_code == 200 and again.json()["replayed"] is True


# --- bad input ------------------------------------------------------------------------------------

BAD_REPORTS = [
    pytest.param({"text": "hello"}, "report_id", id="missing report_id"),
    pytest.param({"report_id": "r"}, "text", id="missing text"),
    pytest.param(report(text=""), "text", id="empty text"),
    pytest.param(report(text="\u200b\u200b  \n"), "text", id="text empty after normalisation"),
    pytest.param(report(text="x" * 10_001), "text", id="text over the limit"),
    pytest.param(report(text=42), "text", id="text of the wrong type"),
    pytest.param(report(report_count="many"), "report_count", id="wrong-typed number"),
    pytest.param(report(report_count=0), "report_count", id="number out of range"),
    pytest.param(report(reporter_type="journalist"), "reporter_type", id="unknown enum value"),
    pytest.param(report(reporter_reason="rudeness"), "reporter_reason", id="unknown policy area"),
    pytest.param(report(account={"followers": -1}), "account.followers", id="nested field"),
    pytest.param(report(created_at="2026-11-22T10:00:00"), "created_at", id="timestamp without timezone"),
    pytest.param(report(language="English"), "language", id="malformed language tag"),
    pytest.param(report(report_id="has space"), "report_id", id="malformed report_id"),
    pytest.param(report(colour="red"), "colour", id="unknown field"),
    pytest.param([report()], "body", id="a list instead of an object"),
]


@pytest.mark.parametrize(("body", "field"), BAD_REPORTS)
def test_bad_reports_are_refused_with_422_naming_the_field(api: API, body: Any, field: str) -> None:
    client, keys = api
    response = client.post("/v1/reports:score", json=body, headers=keys.intake)
    assert response.status_code == 422
    error = response.json()
    assert error["error"] == "invalid_request"
    assert field in [f["field"] for f in error["fields"]]
    assert field in error["message"]
    assert count(client, ReportRow) == 0


def test_validation_errors_do_not_echo_the_text(api: API) -> None:
    client, keys = api
    response = client.post("/v1/reports:score", json=report(text=SECRET_TEXT, colour=1), headers=keys.intake)
    assert response.status_code == 422
    assert SECRET_TEXT not in response.text


@pytest.mark.parametrize(("content", "status"), [
    pytest.param(b'{"report_id": "r", "text": ', 422, id="invalid JSON"),
    pytest.param(b'{"report_id": "r", "text": "caf\xe9"}', 400, id="invalid UTF-8"),
    pytest.param(b"", 422, id="empty body"),
])
def test_undecodable_bodies_are_refused_naming_the_body(api: API, content: bytes, status: int) -> None:
    client, keys = api
    response = client.post("/v1/reports:score", content=content,
                           headers={**keys.intake, "content-type": "application/json"})
    assert response.status_code == status
    assert response.json()["fields"][0]["field"] == "body"


def test_a_batch_over_the_limit_is_refused(api: API) -> None:
    client, keys = api
    reports = [report(f"r-{i}") for i in range(257)]
    response = client.post("/v1/reports:batchScore", json={"reports": reports}, headers=keys.intake)
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "reports"
    assert "256" in response.json()["message"]
    empty = client.post("/v1/reports:batchScore", json={"reports": []}, headers=keys.intake)
    assert empty.status_code == 422


def test_one_bad_report_fails_the_whole_batch_and_stores_nothing(api: API) -> None:
    client, keys = api
    reports = [report("ok-1"), report("bad", text=""), report("ok-2")]
    response = client.post("/v1/reports:batchScore", json={"reports": reports}, headers=keys.intake)
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "reports[1].text"
    assert count(client, ReportRow) == 0


def test_a_body_over_the_size_limit_is_refused_with_413(api: API) -> None:
    client, keys = api
    limit = client.app.state.triage.settings.max_request_bytes  # type: ignore[attr-defined]
    response = client.post("/v1/reports:score", content=b"{" + b" " * limit + b"}",
                           headers={**keys.intake, "content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


# --- keys and roles -------------------------------------------------------------------------------

def test_no_key_gets_401_with_how_to_send_one(api: API) -> None:
    client, _ = api
    response = client.post("/v1/reports:score", json=report())
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["message"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", [{"Authorization": "Bearer trg_000000000000_" + "x" * 43},
                                    {"Authorization": "Bearer not-a-key"}, {"X-API-Key": "nope"},
                                    {"Authorization": "Basic dXNlcjpwYXNz"}])
def test_a_wrong_key_gets_401(api: API, header: dict[str, str]) -> None:
    client, _ = api
    assert client.post("/v1/reports:score", json=report(), headers=header).status_code == 401


def test_the_key_can_also_be_sent_as_x_api_key(api: API) -> None:
    client, keys = api
    key = keys.intake["Authorization"].removeprefix("Bearer ")
    assert client.post("/v1/reports:score", json=report(), headers={"X-API-Key": key}).status_code == 200


@pytest.mark.parametrize(("method", "path", "role", "status"), [
    ("POST", "/v1/reports:score", "reviewer", 403),
    ("POST", "/v1/reports:score", "intake", 200),
    ("POST", "/v1/reports:score", "admin", 200),
    ("GET", "/v1/reports/r-1", "intake", 404),
    ("GET", "/v1/reports/r-1", "reviewer", 404),
    ("GET", "/metrics", "intake", 403),
    ("GET", "/metrics", "reviewer", 403),
    ("GET", "/metrics", "admin", 200),
])
def test_roles(api: API, method: str, path: str, role: str, status: int) -> None:
    client, keys = api
    response = client.request(method, path, headers=getattr(keys, role),
                              json=report() if method == "POST" else None)
    assert response.status_code == status
    if status == 403:
        assert f"role '{role}'" in response.json()["message"]


def test_a_revoked_key_is_refused(api: API) -> None:
    from serving.auth import revoke_key
    from serving.db.engine import transaction

    client, keys = api
    key_id = keys.intake["Authorization"].split("_")[1]
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        assert revoke_key(session, key_id)
    assert client.post("/v1/reports:score", json=report(), headers=keys.intake).status_code == 401


# --- health, readiness, metrics, logs -------------------------------------------------------------

def test_health_and_ready_need_no_key(api: API) -> None:
    client, _ = api
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready"
    assert ready["model"]["version"] == "tiny" and ready["database"] == "ok"


def test_not_ready_until_a_model_loads(settings: Any) -> None:
    from serving.app import create_app

    broken = settings.model_copy(update={"model_path": settings.work_dir / "no-such-model"})
    with TestClient(create_app(broken)) as client:
        for _ in range(100):
            body = client.get("/ready").json()
            if body["model"]["status"] == "error":
                break
        assert client.get("/ready").status_code == 503
        assert "no-such-model" in body["model"]["error"]
        assert client.get("/health").status_code == 200


def test_metrics_count_requests_reports_and_the_model(api: API) -> None:
    client, keys = api
    client.post("/v1/reports:score", json=report(reporter_type="press"), headers=keys.intake)
    client.post("/v1/reports:score", json=report(reporter_type="press"), headers=keys.intake)
    text = client.get("/metrics", headers=keys.admin).text
    assert 'triage_http_requests_total{method="POST",route="/v1/reports:score",status="200"} 2.0' in text
    assert 'triage_http_request_duration_seconds_bucket{le="0.05",method="POST",route="/v1/reports:score"}' in text
    assert 'queue="human_escalation"' in text and "triage_reports_scored_total" in text
    assert "triage_idempotent_replays_total 1.0" in text
    assert 'triage_model_info{name="triage-classifier",source=' in text
    assert 'triage_routing_policy_info{version="2026-12-07.1"} 1.0' in text


def test_logs_never_contain_report_text_or_keys(api: API, caplog: pytest.LogCaptureFixture) -> None:
    client, keys = api
    caplog.set_level(logging.DEBUG)
    client.post("/v1/reports:score", json=report(text=SECRET_TEXT), headers=keys.intake)
    client.post("/v1/reports:score", json=report(text=SECRET_TEXT, colour=1), headers=keys.intake)
    client.post("/v1/reports:score", json=report("other", text=SECRET_TEXT), headers=keys.reviewer)
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "serving.access" in {r.name for r in caplog.records}
    secret = keys.intake["Authorization"].removeprefix("Bearer ")
    assert SECRET_TEXT not in logged and "Jonas" not in logged
    assert secret not in logged and secret.split("_", 2)[2] not in logged
    assert secret.split("_")[1] in logged, "the access log names the key by its public id"
