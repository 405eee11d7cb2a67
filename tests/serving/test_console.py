"""The review console through TestClient: sign-in, sessions, CSRF, security headers, audit, errors, language
markets on the queue page, appeals side by side with the decision they contest."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from model.settings import Settings
from serving.auth import revoke_key, set_languages
from serving.db.engine import transaction
from serving.db.models import AuditRow, QueueItemRow, ReviewDecisionRow
from serving.model_loader import LoadedModel
from tests.support.api import Keys, press_reports, start_client

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


#: Press reports in clear German and French (the fixture's and press_reports' are English): human_escalation is
#: split by language market, so these land in its dach and france markets.
IN_GERMAN = "Dieser Artikel zitiert einen Beitrag, über den die Zeitung gestern berichtet hat."
IN_FRENCH = "Cet article cite une publication dont le journal a parlé hier soir."


def score_in_markets(client: TestClient, keys: Keys) -> None:
    """Two more English press reports (three in all), one German, one French: all in human_escalation."""
    press_reports(client, keys.intake, 2)
    reports = [{"report_id": f"m-{i}", "text": text, "reporter_type": "press"}
               for i, text in enumerate((IN_GERMAN, IN_FRENCH))]
    assert client.post("/v1/reports:batchScore", json={"reports": reports}, headers=keys.intake).status_code == 200


def market_row(html: str, queue: str, market: str) -> list[str]:
    """The cells of a market's sub-row on the queue page, tags stripped."""
    match = re.search(rf'<tr class="market" data-market="{queue}/{market}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {queue}/{market}"
    cells = re.findall(r"<td>(.*?)</td>", match.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def test_the_queue_page_shows_a_split_queues_backlog_per_market(console: Console) -> None:
    client, keys = console
    score_in_markets(client, keys)
    sign_in(client, keys.reviewer)
    html = client.get("/review").text
    assert "Your key lists no languages" in html and f"triage keys languages {keys.reviewer_id} de,fr" in html
    for market, open_ in (("english", "3"), ("dach", "1"), ("france", "1")):
        cells = market_row(html, "human_escalation", market)
        assert cells[1:4] == [open_, "0", "0"], cells  # open, claimed, overdue
        assert cells[4] == "0 min" and cells[6] == "ok", cells  # oldest open, SLA
        assert f'data-claim-market="human_escalation/{market}"' in html
        assert f'<input type="hidden" name="market" value="{market}">' in html
    assert 'data-claim="human_escalation"' in html, "the whole queue keeps its own claim button"
    assert market_row(html, "human_escalation", "dach")[0] == "dach de", "a market's languages are named"

    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        assert set_languages(session, keys.reviewer_id, ["de", "fr"])
    html = client.get("/review").text
    assert "Your languages: <strong>de, fr</strong>" in html and "markets dach, france" in html
    assert "yours" in market_row(html, "human_escalation", "dach")[0]
    assert "yours" not in market_row(html, "human_escalation", "english")[0]


def item_market(client: TestClient, item_id: str) -> tuple[str | None, str | None]:
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        item = session.get(QueueItemRow, int(item_id))
        assert item is not None
        return item.market, item.language


def test_claiming_next_in_a_market_gives_an_item_of_that_market(console: Console) -> None:
    client, keys = console
    score_in_markets(client, keys)
    csrf = sign_in(client, keys.reviewer)
    claimed = client.post("/review/queues/human_escalation/claim", data={"csrf_token": csrf, "market": "france"})
    assert claimed.status_code == 200 and "Reported content" in claimed.text
    item_id = claimed.url.path.rsplit("/", 1)[1]
    assert item_market(client, item_id) == ("france", "fr")
    assert "<dt>Market</dt><dd><strong>france</strong> · item language fr</dd>" in claimed.text

    nothing = client.post("/review/queues/human_escalation/claim", data={"csrf_token": csrf, "market": "france"})
    assert nothing.url.path == "/review" and "Nothing to claim in human_escalation · france." in nothing.text
    assert f"item {item_id}</a> in human_escalation · france" in nothing.text, "listed under Claimed by you"

    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        set_languages(session, keys.reviewer_id, ["de"])
    anywhere = client.post("/review/queues/human_escalation/claim", data={"csrf_token": csrf})
    assert item_market(client, anywhere.url.path.rsplit("/", 1)[1]) == ("dach", "de"), "the reviewer's language first"
    assert "item language de (one of yours)" in anywhere.text


@pytest.mark.parametrize("market", ["France", "dach;drop", "x" * 40, "de\x00", "_en"])
def test_a_bad_market_is_an_error_page_not_a_500(console: Console, market: str) -> None:
    client, keys = console
    csrf = sign_in(client, keys.reviewer)
    response = client.post("/review/queues/human_escalation/claim", data={"csrf_token": csrf, "market": market})
    assert response.status_code == 422 and "No such language market" in response.text
    assert "<title>422 · Triage</title>" in response.text
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalars(select(QueueItemRow).where(QueueItemRow.status == "claimed")).first() is None


def test_a_bad_queue_name_is_an_error_page(console: Console) -> None:
    client, keys = console
    csrf = sign_in(client, keys.reviewer)
    response = client.post("/review/queues/Human%20Escalation/claim", data={"csrf_token": csrf})
    assert response.status_code == 422 and "No such queue" in response.text


def test_an_appeal_shows_the_contested_decision_and_the_appeal_side_by_side(console: Console) -> None:
    client, keys = console
    csrf = sign_in(client, keys.reviewer)
    claimed = client.post("/review/queues/human_escalation/claim", data={"csrf_token": csrf})
    item_id = claimed.url.path.rsplit("/", 1)[1]
    decided = client.post(f"/review/items/{item_id}/decide", data={
        "csrf_token": csrf, "risk_tier": "high", "policy_areas": ["violence_incitement"], "action": "remove",
        "note": "reads as a threat, removed"})
    assert decided.status_code == 200 and "The appeal is" not in decided.text
    appeal = {"appeal_id": "ap-1", "appellant": "affected_user", "reason": "I was quoting a news article."}
    filed = client.post("/v1/reports/c-1:appeal", json=appeal, headers=keys.intake)
    assert filed.status_code == 201, filed.text

    assert "appeals" in client.get("/review").text
    blind = client.post("/review/queues/appeals/claim", data={"csrf_token": csrf, "market": "english"})
    assert "Nothing to claim in appeals · english." in blind.text, "the contested decision's reviewer may not claim it"

    csrf = sign_in(client, keys.admin)
    html = client.get("/review").text
    assert market_row(html, "appeals", "english")[1:4] == ["1", "0", "0"]
    page = client.post("/review/queues/appeals/claim", data={"csrf_token": csrf, "market": "english"})
    assert page.status_code == 200 and "· appeals · appeal" in page.text
    contested = page.text[page.text.index('id="contested"'):page.text.index('id="appeal-side"')]
    appealed = page.text[page.text.index('id="appeal-side"'):page.text.index('<div class="grid">')]
    for shown in ("Contested decision", "<strong>remove</strong>", "tier-high", "violence incitement",
                  f"key <code>{keys.reviewer_id}</code>", "reads as a threat, removed"):
        assert shown in contested, shown
    for shown in ("<h2>Appeal</h2>", "<strong>affected user</strong>", "<code>ap-1</code>",
                  "<dt>Status</dt><dd>open</dd>", 'class="countdown"'):
        assert shown in appealed, shown
    reason = re.search(r'<div class="content blurred" id="appeal-reason">\s*<div class="text">([^<]*)</div>', appealed)
    assert reason and reason.group(1) == "I was quoting a news article.", "the reason is blurred like report text"
    assert "<dt>Market</dt><dd><strong>english</strong> · item language en</dd>" in page.text
    form = page.text[page.text.index('id="decision"'):]
    assert 'value="high" checked' in form and 'value="violence_incitement" checked' in form, \
        "the form starts from the contested decision's labels"

    appeal_item = page.url.path.rsplit("/", 1)[1]
    reversed_ = client.post(f"/review/items/{appeal_item}/decide", data={
        "csrf_token": csrf, "risk_tier": "low", "policy_areas": ["none"], "action": "no_violation"})
    assert f"Decided item {appeal_item}: no violation. The appeal is reversed." in reversed_.text
    done = client.get(f"/review/items/{appeal_item}").text
    assert '<span class="badge outcome-reversed">reversed</span>' in done and "decided: reversed (no violation" in done


def test_an_appeal_of_an_automated_decision_says_routing_closed_the_report(console: Console) -> None:
    from sqlalchemy import delete, select

    from serving.db.engine import transaction
    from serving.db.models import QueueItemRow, ReportRow, RouteRow

    client, keys = console
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        pk = session.scalar(select(ReportRow.id).where(ReportRow.report_id == "c-1"))
        session.execute(delete(QueueItemRow).where(QueueItemRow.report_pk == pk))  # as routing stores an auto-close
        session.scalars(select(RouteRow).where(RouteRow.report_pk == pk)).one().action = "auto_close"
    appeal = {"appeal_id": "ap-auto", "appellant": "reporter", "reason": "This is a threat against me."}
    assert client.post("/v1/reports/c-1:appeal", json=appeal, headers=keys.intake).status_code == 201
    csrf = sign_in(client, keys.reviewer)
    page = client.post("/review/queues/appeals/claim", data={"csrf_token": csrf})
    contested = page.text[page.text.index('id="contested"'):page.text.index('id="appeal-side"')]
    assert "<strong>auto close</strong>" in contested
    assert "routing, automatically: no reviewer saw it" in contested and "<dt>Decided</dt>" in contested
