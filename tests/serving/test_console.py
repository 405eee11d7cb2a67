"""The review console through TestClient: sign-in, sessions, CSRF, security headers, audit, errors."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from model.settings import Settings
from serving.auth import revoke_key
from serving.db.engine import transaction
from serving.db.models import AuditRow, ReviewDecisionRow
from serving.model_loader import LoadedModel
from tests.support.api import Keys, start_client

Console = tuple[TestClient, Keys]


@pytest.fixture
def console(settings: Settings, tiny_model: LoadedModel) -> Iterator[Console]:
    client, keys = start_client(settings.model_copy(update={"session_secret": SecretStr("s" * 40)}), tiny_model)
    with client:
        client.post("/v1/reports:score", json={"report_id": "c-1", "text": "a post a journalist asked about",
                                               "reporter_type": "press"}, headers=keys.intake)
        yield client, keys


def token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "every form carries a CSRF token"
    return match.group(1)


def sign_in(client: TestClient, headers: dict[str, str]) -> str:
    key = headers["Authorization"].removeprefix("Bearer ")
    page = client.get("/review/login")
    response = client.post("/review/login", data={"csrf_token": token(page.text), "key": key},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return token(client.get("/review").text)


def test_without_a_session_the_console_asks_to_sign_in(console: Console) -> None:
    client, _ = console
    response = client.get("/review", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("/review/login")


def test_intake_keys_and_wrong_keys_cannot_sign_in(console: Console) -> None:
    client, keys = console
    page = client.get("/review/login")
    for key in (keys.intake["Authorization"].removeprefix("Bearer "), "trg_nope"):
        response = client.post("/review/login", data={"csrf_token": token(page.text), "key": key})
        assert response.status_code == 401 and "not an active reviewer key" in response.text
        assert key not in response.text


def test_a_reviewer_works_an_item_and_every_step_is_audited(console: Console) -> None:
    client, keys = console
    csrf = sign_in(client, keys.reviewer)
    queues = client.get("/review")
    assert "human_escalation" in queues.text
    claimed = client.post("/review/queues/human_escalation/claim", data={"csrf_token": csrf})
    assert claimed.status_code == 200 and "Reported content" in claimed.text
    assert 'class="content blurred"' in claimed.text, "content is blurred until revealed"
    item_id = claimed.url.path.rsplit("/", 1)[1]
    assert client.post(f"/review/items/{item_id}/reveal", data={"csrf_token": csrf}).status_code == 204
    decided = client.post(f"/review/items/{item_id}/decide", data={
        "csrf_token": csrf, "risk_tier": "medium", "policy_areas": ["harassment"], "action": "restrict",
        "note": "borderline"})
    assert decided.status_code == 200 and "Decided item" in decided.text
    overview = client.get("/review").text
    assert "<title>Queues · Triage</title>" in overview
    assert overview.count("Quality: agreement") == 1, "the agreement table appears once, after a decision"
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        actions = list(session.scalars(select(AuditRow.action).where(AuditRow.actor == keys.reviewer_id)))
        assert actions == ["console.signed_in", "item.claimed", "item.viewed", "item.content_revealed",
                           "item.decided"]
        decision = session.scalars(select(ReviewDecisionRow)).one()
        assert (decision.risk_tier, decision.action, decision.note) == ("medium", "restrict", "borderline")


def test_an_invalid_decision_re_renders_the_form_with_the_reason(console: Console) -> None:
    client, keys = console
    csrf = sign_in(client, keys.reviewer)
    item = client.post("/review/queues/human_escalation/claim", data={"csrf_token": csrf})
    item_id = item.url.path.rsplit("/", 1)[1]
    response = client.post(f"/review/items/{item_id}/decide", data={
        "csrf_token": csrf, "risk_tier": "high", "policy_areas": ["none"], "action": "remove"})
    assert response.status_code == 422
    assert "Not decided" in response.text and "policy area &#39;none&#39; means risk tier low" in response.text


def test_forms_without_the_sessions_csrf_token_are_refused(console: Console) -> None:
    client, keys = console
    sign_in(client, keys.reviewer)
    response = client.post("/review/queues/human_escalation/claim", data={"csrf_token": "forged"})
    assert response.status_code == 403 and "CSRF" in response.text


def test_pages_carry_security_headers(console: Console) -> None:
    client, keys = console
    sign_in(client, keys.reviewer)
    headers = client.get("/review").headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    cookie = client.cookies.jar
    assert any(c.name == "triage_review" for c in cookie)


def test_revoking_the_key_signs_the_reviewer_out(console: Console) -> None:
    client, keys = console
    sign_in(client, keys.reviewer)
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        revoke_key(session, keys.reviewer_id)
    response = client.get("/review", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("/review/login")


def test_the_console_is_off_without_a_session_secret(api: tuple[TestClient, Keys]) -> None:
    client, _ = api
    response = client.get("/review/login")
    assert response.status_code == 503 and "TRIAGE_SESSION_SECRET" in response.text


def test_the_trends_page_lists_series(console: Console) -> None:
    client, keys = console
    sign_in(client, keys.reviewer)
    page = client.get("/review/trends?window_minutes=60&windows=24")
    assert page.status_code == 200 and "24 windows of 60 min" in page.text
