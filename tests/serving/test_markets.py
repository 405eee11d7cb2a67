"""Language markets: the routing policy splits queues per market, a reviewer's key lists their languages, "claim
next" gives them items in their languages first, and the queue overview shows backlog and SLA per market."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from model.settings import DEFAULT_ROUTING_POLICY
from serving.auth import Role, create_key, parse_languages
from serving.db.engine import transaction
from serving.db.models import QueueItemRow, ReportRow
from serving.policy import PolicyError, load_policy
from serving.routing import LanguageView, page_at
from tests.serving.test_policy import shipped, write
from tests.serving.test_routing import decide, model
from tests.support.api import Keys

API = tuple[TestClient, Keys]
POLICY = load_policy(DEFAULT_ROUTING_POLICY)
TEXTS = {
    "en": "The article quotes this post about the election and the city council meeting yesterday evening.",
    "de": "Der Artikel zitiert diesen Beitrag über die Wahl und die Sitzung des Stadtrats gestern Abend.",
    "fr": "L'article cite ce message sur les élections et la réunion du conseil municipal d'hier soir.",
}


# --- the policy and the routing rules ---------------------------------------------------------------------------


def test_a_split_queue_routes_each_language_to_its_market_and_the_rest_to_other() -> None:
    high = model("high", (0.05, 0.1, 0.85), violence_incitement=0.9)
    german = decide(high, lang=LanguageView(detected="de", confidence=0.99))
    assert (german.queue, german.market) == ("human_escalation", "dach")
    assert decide(high, lang=LanguageView(detected="sw", confidence=0.99)).market == "other"
    assert decide(high, lang=LanguageView(detected=None, confidence=0.0)).market == "other"


def test_a_queue_not_split_by_market_has_no_market() -> None:
    spam = model("medium", (0.1, 0.8, 0.1), spam_fraud=0.9)
    decided = decide(spam, lang=LanguageView(detected="de", confidence=0.99))
    assert (decided.queue, decided.market) == ("spam_fraud", None)


@pytest.mark.parametrize(("change", "named"), [
    (lambda p: p["markets"]["languages"].update(austria=["de"]), "language 'de' is in two markets"),
    (lambda p: p["markets"].update(split_queues=["human_escalation", "nowhere"]), "markets.split_queues"),
    (lambda p: p["markets"]["languages"].update(other=["sw"]), "is also a market"),
    (lambda p: p["markets"]["languages"].update(latam=["Spanish"]), "markets.languages"),
    (lambda p: p["on_call"].update(queues=["nowhere"]), "on_call.queues"),
    (lambda p: p["appeals"].update(window_days=30), "appeals.window_days"),
])
def test_a_bad_markets_section_is_refused_naming_the_key(tmp_path: Path, change: Any, named: str) -> None:
    data = shipped()
    change(data)
    with pytest.raises(PolicyError) as error:
        load_policy(write(tmp_path, data))
    assert named in str(error.value)


def test_an_unclaimed_item_pages_after_its_share_of_the_sla_in_paging_queues_only() -> None:
    created = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    due = created + timedelta(minutes=240)
    assert page_at("human_escalation", created, due, POLICY) == created + timedelta(minutes=60)  # share 0.25
    assert page_at("spam_fraud", created, due, POLICY) is None
    assert page_at("human_escalation", created, None, POLICY) is None


@pytest.mark.parametrize(("given", "parsed"), [("de, fr", ["de", "fr"]), ("FR,de,fr", ["de", "fr"]), ("", [])])
def test_a_reviewers_languages_are_parsed_from_a_comma_separated_list(given: str, parsed: list[str]) -> None:
    assert parse_languages(given) == parsed


def test_a_language_that_is_not_a_code_is_refused() -> None:
    with pytest.raises(ValueError, match="'german' is not an ISO 639-1 language code"):
        parse_languages("de,german")


# --- claiming and the queue overview ----------------------------------------------------------------------------


def press(client: TestClient, keys: Keys, language: str, n: int = 1, start: int = 0) -> list[str]:
    """Press reports in ``language``: they always reach human_escalation, which is split by market."""
    reports = [{"report_id": f"{language}-{i}", "text": TEXTS[language] + f" ({i})", "reporter_type": "press"}
               for i in range(start, start + n)]
    response = client.post("/v1/reports:batchScore", json={"reports": reports}, headers=keys.intake)
    assert response.status_code == 200
    assert {r["route"]["market"] for r in response.json()["results"]} <= {"english", "dach", "france"}
    return [r["report_id"] for r in reports]


def reviewer_speaking(client: TestClient, *languages: str) -> dict[str, str]:
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        key = create_key(session, f"reviewer-{'-'.join(languages)}", Role.REVIEWER, list(languages))
    return {"Authorization": f"Bearer {key.secret}"}


def item_language(client: TestClient, item: dict[str, Any]) -> str:
    return str(item["language"])


def test_claim_next_gives_a_reviewer_items_in_their_languages_first(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    press(client, keys, "en", 2)
    press(client, keys, "de", 1)
    german_speaker = reviewer_speaking(client, "de")
    first = client.post("/v1/queues/human_escalation:claim", headers=german_speaker).json()
    assert (first["language"], first["market"]) == ("de", "dach")
    # Nothing left in their languages: the most urgent of the rest, not nothing.
    assert client.post("/v1/queues/human_escalation:claim", headers=german_speaker).json()["language"] == "en"


def test_claim_next_can_be_limited_to_one_market(api: API) -> None:
    client, keys = api
    press(client, keys, "en", 1)
    press(client, keys, "fr", 1)
    item = client.post("/v1/queues/human_escalation:claim?market=france", headers=keys.reviewer).json()
    assert item["market"] == "france"
    assert client.post("/v1/queues/human_escalation:claim?market=france", headers=keys.reviewer).status_code == 204
    bad = client.post("/v1/queues/human_escalation:claim?market=Fr%20ance", headers=keys.reviewer)
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "market"


def test_the_queue_overview_shows_backlog_and_sla_per_market(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    press(client, keys, "en", 2)
    press(client, keys, "de", 1)
    client.post("/v1/queues/human_escalation:claim?market=english", headers=keys.reviewer)
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        german = session.scalars(select(QueueItemRow).join(ReportRow, ReportRow.id == QueueItemRow.report_pk)
                                 .where(ReportRow.report_id == "de-0")).one()
        german.due_at = datetime.now(UTC) - timedelta(minutes=1)
    [queue] = [q for q in client.get("/v1/queues", headers=keys.reviewer).json()["queues"]
               if q["queue"] == "human_escalation"]
    markets = {m["market"]: (m["open"], m["claimed"], m["overdue"], m["sla_status"]) for m in queue["markets"]}
    assert markets == {"dach": (1, 0, 1, "breached"), "english": (1, 1, 0, "ok")}
    assert (queue["open"], queue["claimed"], queue["overdue"], queue["sla_status"]) == (2, 1, 1, "breached")


def test_keys_carry_their_languages_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from triage.cli import app

    monkeypatch.setenv("TRIAGE_DATABASE_URL", f"sqlite:///{tmp_path / 'keys.db'}")
    from model.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--name", "ana", "--role", "reviewer", "--languages", "pt,es"])
    assert created.exit_code == 0, created.output
    key_id = created.stdout.strip().split("_")[1]
    assert "es,pt" in runner.invoke(app, ["keys", "list"]).stdout
    assert runner.invoke(app, ["keys", "languages", key_id, "de"]).exit_code == 0
    assert "de " in runner.invoke(app, ["keys", "list"]).stdout
    refused = runner.invoke(app, ["keys", "create", "--name", "bo", "--role", "reviewer", "--languages", "german"])
    assert refused.exit_code != 0 and "--languages" in refused.output
