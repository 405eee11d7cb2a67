"""On-call paging: who is on call from a queue's rota file (weekly shifts, overnight shifts, clock changes,
overrides, the fallback), rota files refused at start-up with the file and the key, and the sweep that pages an
item still unclaimed at its paging time once (SQLite and PostgreSQL), delivered signed to a real receiver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from model.settings import Settings
from serving import webhooks
from serving.app import create_app
from serving.db.engine import make_engine, make_sessionmaker, transaction
from serving.db.models import QueueItemRow, ReportRow, WebhookEventRow, utcnow
from serving.metrics import Metrics
from serving.model_loader import LoadedModel
from serving.oncall import Rota, RotaError, load_rota, load_rotas, on_call
from serving.policy import load_policy
from tests.serving.test_webhooks import SECRET, Receiver, metric, wait_for
from tests.support import REPO
from tests.support.api import Keys, press_reports, start_client

POLICY = load_policy(Settings().routing_policy)

CONTACTS = """
[contacts]
duty = { name = "Duty manager", handle = "tns-duty@example.com" }
amira = { name = "Amira Haddad", handle = "+49 30 1234 5601" }
jonas = { name = "Jonas Weber", handle = "pager:jonas" }
sam = { name = "Sam Okafor", handle = "pager:sam" }
"""

WEEK = """
timezone = "Europe/Berlin"
fallback = "duty"

[[shifts]]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "08:00"
end = "20:00"
contact = "amira"

[[shifts]]
days = ["fri", "sun"]
start = 20:00:00
end = 08:00:00
contact = "jonas"
""" + CONTACTS


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def rota(tmp_path: Path, text: str = WEEK) -> Rota:
    return load_rota(write(tmp_path, "human_escalation.toml", text))


def who(r: Rota, instant: str) -> tuple[str, str]:
    duty = on_call(r, datetime.fromisoformat(instant))
    return duty.name.split()[0], duty.via


# --- who is on call (pure) ------------------------------------------------------------------------

def test_a_weekday_shift_covers_its_hours_in_the_rotas_timezone_and_the_fallback_the_rest(tmp_path: Path) -> None:
    r = rota(tmp_path)
    # Wednesday 2026-12-09, Berlin is UTC+1 in winter.
    assert who(r, "2026-12-09T07:00:00+00:00") == ("Amira", "shift")  # 08:00 local: the shift starts
    assert who(r, "2026-12-09T18:59:59+00:00") == ("Amira", "shift")
    assert who(r, "2026-12-09T19:00:00+00:00") == ("Duty", "fallback")  # 20:00 local: the shift has ended
    assert who(r, "2026-12-09T06:59:59+00:00") == ("Duty", "fallback")
    assert who(r, "2026-12-09T09:00:00-05:00") == ("Amira", "shift"), "any offset: an instant is an instant"
    duty = on_call(r, datetime(2026, 12, 9, 12, tzinfo=UTC))
    assert duty.as_payload() == {"name": "Amira Haddad", "handle": "+49 30 1234 5601", "via": "shift"}
    with pytest.raises(ValueError, match="aware"):
        on_call(r, datetime(2026, 12, 9, 12))


def test_an_overnight_shift_runs_past_midnight_and_past_the_end_of_the_week(tmp_path: Path) -> None:
    r = rota(tmp_path)
    assert who(r, "2026-12-11T19:00:00+00:00") == ("Jonas", "shift")  # Friday 20:00 local
    assert who(r, "2026-12-11T23:30:00+00:00") == ("Jonas", "shift")  # Saturday 00:30
    assert who(r, "2026-12-12T06:59:59+00:00") == ("Jonas", "shift")  # Saturday 07:59:59
    assert who(r, "2026-12-12T07:00:00+00:00") == ("Duty", "fallback")  # Saturday 08:00: ended
    assert who(r, "2026-12-12T22:00:00+00:00") == ("Duty", "fallback")  # Saturday night: no shift starts then
    # Sunday 20:00 into Monday 08:00: the week wraps around.
    assert who(r, "2026-12-13T23:00:00+00:00") == ("Jonas", "shift")
    assert who(r, "2026-12-14T06:30:00+00:00") == ("Jonas", "shift")
    assert who(r, "2026-12-14T07:00:00+00:00") == ("Amira", "shift")  # Monday 08:00, the day shift


def test_shifts_are_wall_clock_times_when_the_clocks_change(tmp_path: Path) -> None:
    r = rota(tmp_path)
    # Friday 2026-03-27 20:00 CET to Saturday 08:00; Berlin stays on CET (UTC+1) until Sunday 29 March.
    assert who(r, "2026-03-28T06:59:00+00:00") == ("Jonas", "shift")
    # Sunday 29 March 20:00 CEST (UTC+2, clocks went forward that night) to Monday 08:00 CEST = 06:00 UTC.
    assert who(r, "2026-03-29T18:00:00+00:00") == ("Jonas", "shift")
    assert who(r, "2026-03-30T05:59:00+00:00") == ("Jonas", "shift")
    assert who(r, "2026-03-30T06:00:00+00:00") == ("Amira", "shift"), "08:00 local, summer time"


def test_an_override_wins_over_the_shifts_and_of_two_the_one_listed_last(tmp_path: Path) -> None:
    r = rota(tmp_path, WEEK + """
[[overrides]]
start = 2026-12-24T00:00:00
end = 2026-12-27T00:00:00
contact = "sam"
reason = "holidays"

[[overrides]]
start = "2026-12-25T09:00:00+00:00"
end = "2026-12-25T12:00:00+00:00"
contact = "amira"
reason = "swap"
""")
    assert who(r, "2026-12-23T22:59:59+00:00") == ("Duty", "fallback")
    assert who(r, "2026-12-23T23:00:00+00:00") == ("Sam", "override"), "a local start: midnight in Berlin"
    assert who(r, "2026-12-24T10:00:00+00:00") == ("Sam", "override"), "over Amira's Thursday shift"
    assert who(r, "2026-12-25T10:00:00+00:00") == ("Amira", "override"), "the swap, listed last"
    assert who(r, "2026-12-25T12:00:00+00:00") == ("Sam", "override"), "the swap has ended"
    assert who(r, "2026-12-26T22:59:59+00:00") == ("Sam", "override")
    assert who(r, "2026-12-26T23:00:00+00:00") == ("Duty", "fallback"), "over: Sunday 00:00, no shift"


def test_without_shifts_the_fallback_is_on_call(tmp_path: Path) -> None:
    r = rota(tmp_path, 'timezone = "UTC"\nfallback = "duty"\n' + CONTACTS)
    assert who(r, "2026-07-01T12:00:00+00:00") == ("Duty", "fallback")


def test_the_example_rotas_load_with_the_shipped_policy() -> None:
    rotas = load_rotas(REPO / "deploy" / "rota", POLICY)
    assert set(rotas) == set(POLICY.on_call.queues) == {"human_escalation", "appeals"}
    assert on_call(rotas["human_escalation"], datetime(2026, 12, 25, 12, tzinfo=UTC)).via == "override"
    assert "deploy/rota/human_escalation.toml" in (REPO / "docs" / "on-call.md").read_text(encoding="utf-8")


# --- refused at start-up --------------------------------------------------------------------------

BAD = [
    (WEEK.replace("[[shifts]]", "[[shift]]", 1), "shift: Extra inputs are not permitted"),
    (WEEK.replace('contact = "jonas"', 'contact = "jonsa"'), "shifts.1.contact: no contact 'jonsa' in contacts"),
    (WEEK.replace('fallback = "duty"', 'fallback = "nobody"'), "fallback: no contact 'nobody' in contacts"),
    (WEEK.replace("Europe/Berlin", "Europe/Berlinn"), "timezone: Value error, unknown timezone 'Europe/Berlinn'"),
    (WEEK.replace('"mon", "tue"', '"monday", "tue"'), "shifts.0.days.0: Input should be 'mon'"),
    (WEEK.replace('start = "08:00"', 'start = "8 am"'), "shifts.0.start: Input should be in a valid time format"),
    (WEEK.replace('start = "08:00"', 'start = "08:00+01:00"'), "shifts.0.start: Value error, a shift's times are "
                                                               "wall-clock times"),
    (WEEK.replace("start = 20:00:00", "start = 19:00:00"), "shifts.1: overlaps shifts.0 (fri,sun 19:00-08:00 and "
                                                           "mon,tue,wed,thu,fri 08:00-20:00)"),
    (WEEK.replace('fallback = "duty"\n', ''), "fallback: Field required"),
    (WEEK + '[[overrides]]\nstart = 2026-12-24T00:00:00\nend = 2026-12-23T00:00:00\ncontact = "sam"\n',
     "overrides.0.end: must be after its start"),
    (WEEK.replace('handle = "pager:sam"', 'handle = ""'), "contacts.sam.handle: String should have at least 1"),
    (WEEK.replace('contact = "amira"', 'contact = "amira'), "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[message.split(":")[0] for _, message in BAD])
def test_a_bad_rota_is_refused_with_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "human_escalation.toml", text)
    with pytest.raises(RotaError) as refused:
        load_rota(path)
    assert str(refused.value).startswith(f"{path}: ")
    assert message in str(refused.value)


def test_the_rota_folder_must_have_a_file_for_each_paging_queue_and_only_for_known_queues(tmp_path: Path) -> None:
    folder = tmp_path / "rota"
    write(folder, "human_escalation.toml", WEEK)
    with pytest.raises(RotaError, match=r"rota: no rota for appeals, which page \(on_call.queues .*add appeals.toml"):
        load_rotas(folder, POLICY)
    write(folder, "appeals.toml", WEEK)
    assert set(load_rotas(folder, POLICY)) == {"human_escalation", "appeals"}
    write(folder, "wellbeing.toml", WEEK)  # a queue of the policy that does not page: loaded, never used
    assert set(load_rotas(folder, POLICY)) == {"human_escalation", "appeals", "wellbeing"}
    typo = write(folder, "human_escalaton.toml", WEEK)
    with pytest.raises(RotaError, match=rf"{typo}: the routing policy .* has no queue 'human_escalaton'"):
        load_rotas(folder, POLICY)
    with pytest.raises(RotaError, match="TRIAGE_ON_CALL_ROTA_DIR is not a folder"):
        load_rotas(tmp_path / "missing", POLICY)
    assert load_rotas(None, POLICY) == {}, "unset: no contacts"


def test_the_app_does_not_start_with_a_bad_rota(tmp_path: Path) -> None:
    path = write(tmp_path / "rota", "human_escalation.toml", WEEK.replace('fallback = "duty"', 'fallback = "x"'))
    write(tmp_path / "rota", "appeals.toml", WEEK)
    with pytest.raises(RotaError, match=rf"{path}: invalid on-call rota: fallback: no contact 'x'"):
        create_app(Settings(work_dir=tmp_path / "var", on_call_rota_dir=tmp_path / "rota"))


# --- the sweep (SQLite and PostgreSQL) ------------------------------------------------------------

def items(client: TestClient) -> dict[str, QueueItemRow]:
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        return {rid: item for item, rid in session.execute(
            select(QueueItemRow, ReportRow.report_id).join(ReportRow, ReportRow.id == QueueItemRow.report_pk))}


def paged(client: TestClient) -> dict[str, dict[str, Any]]:
    """The report id of each queue_item.unclaimed event, and its payload."""
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        rows = session.scalars(select(WebhookEventRow).where(WebhookEventRow.event_type == webhooks.UNCLAIMED))
        return {row.payload["report_id"]: row.payload for row in rows}


def sweep(client: TestClient, rotas: dict[str, Rota], now: datetime | None = None) -> int:
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        return webhooks.sweep_unclaimed(session, Metrics(), rotas, now=now)


def set_items(client: TestClient, ids: list[int], **values: Any) -> None:
    with transaction(client.app.state.triage.sessions) as session:  # type: ignore[attr-defined]
        session.execute(update(QueueItemRow).where(QueueItemRow.id.in_(ids)).values(**values))


def claim(client: TestClient, keys: Keys) -> dict[str, Any]:
    response = client.post("/v1/queues/human_escalation:claim", headers=keys.reviewer)
    assert response.status_code == 200, response.text
    claimed: dict[str, Any] = response.json()
    return claimed


def test_an_unclaimed_item_pages_once_after_its_page_at_and_a_claimed_one_does_not(
        api_on_each_database: tuple[TestClient, Keys], database_url: str, tmp_path: Path) -> None:
    client, keys = api_on_each_database
    now = utcnow()
    rotas = {"human_escalation": rota(tmp_path, WEEK + f"""
[[overrides]]
start = "{(now - timedelta(hours=2)).isoformat()}"
end = "{(now + timedelta(hours=2)).isoformat()}"
contact = "sam"
""")}
    press_reports(client, keys.intake, 4)
    made = items(client)
    for item in made.values():  # press reports: SLA 240 minutes, paging after a quarter of it
        assert item.due_at is not None and item.page_at is not None and item.status == "open"
        assert item.page_at == item.created_at + (item.due_at - item.created_at) * 0.25
    first = min(item.page_at for item in made.values() if item.page_at)
    assert sweep(client, rotas) == 0, "not before page_at"
    assert sweep(client, rotas, now=first - timedelta(seconds=1)) == 0

    held = claim(client, keys)
    set_items(client, [item.id for item in made.values()], page_at=now - timedelta(minutes=1))
    assert sweep(client, rotas) == 3, "the open items, not the one claimed"
    assert sweep(client, rotas) == 0, "never twice"
    other = make_engine(database_url)  # another process sweeping the same database
    try:
        with transaction(make_sessionmaker(other)) as session:
            assert webhooks.sweep_unclaimed(session, Metrics(), rotas) == 0
    finally:
        other.dispose()
    [held_rid] = [rid for rid, item in made.items() if item.id == held["id"]]
    assert held_rid not in paged(client)

    # Released before anyone was paged about it: unclaimed again, it pages at the next sweep.
    assert client.post(f"/v1/items/{held['id']}:release", headers=keys.reviewer).status_code == 200
    assert sweep(client, rotas) == 1 and held_rid in paged(client)
    # Claimed and released again after it paged: one page per item, ever.
    again = claim(client, keys)
    assert client.post(f"/v1/items/{again['id']}:release", headers=keys.reviewer).status_code == 200
    assert sweep(client, rotas) == 0 and len(paged(client)) == 4

    # A claim whose lease ran out counts as unclaimed (anyone may claim the item): it pages.
    press_reports(client, keys.intake, 1, prefix="late")
    late = items(client)["late-0"]
    set_items(client, [late.id], status="claimed", claimed_by=keys.reviewer_id, page_at=now - timedelta(minutes=1),
              lease_expires_at=now + timedelta(minutes=5))
    assert sweep(client, rotas) == 0, "a live lease"
    set_items(client, [late.id], lease_expires_at=now - timedelta(seconds=1))
    assert sweep(client, rotas) == 1
    # Done items never page.
    press_reports(client, keys.intake, 1, prefix="done")
    set_items(client, [items(client)["done-0"].id], status="done", page_at=now - timedelta(minutes=1))
    assert sweep(client, rotas) == 0

    payload = paged(client)["late-0"]
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        late = session.get(QueueItemRow, late.id)
        assert late is not None and late.due_at is not None and late.page_at is not None
    assert payload["type"] == "queue_item.unclaimed" and payload["id"].startswith("evt_")
    assert payload["queue_item_id"] == late.id and payload["queue_item_kind"] == "primary"
    assert payload["queue_item_status"] == "claimed"
    assert (payload["queue"], payload["market"], payload["language"]) == ("human_escalation", late.market,
                                                                         late.language)
    assert payload["page_at"] == payload["occurred_at"] == webhooks.iso(late.page_at)
    assert payload["due_at"] == payload["sla_deadline"] == webhooks.iso(late.due_at)
    assert 0 <= payload["sla_elapsed"] < 0.25, "swept seconds after it was created (the test moved page_at)"
    assert payload["on_call"] == {"name": "Sam Okafor", "handle": "pager:sam", "via": "override"}
    assert payload["report_id"] == "late-0" and payload["link"] == "/v1/reports/late-0"
    assert "text" not in payload and "quotes this post" not in json.dumps(payload)


def test_a_queue_without_a_rota_pages_with_no_contact_and_the_share_of_the_sla_elapsed(
        api: tuple[TestClient, Keys]) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    item = items(client)["p-0"]
    assert item.page_at is not None and item.due_at is not None
    at_due = item.due_at
    assert sweep(client, {}, now=item.page_at) == 1
    payload = paged(client)["p-0"]
    assert payload["on_call"] is None
    assert payload["sla_elapsed"] == 0.25
    assert webhooks.sla_elapsed(item.created_at, item.due_at, at_due + (at_due - item.created_at)) == 2.0
    assert webhooks.sla_elapsed(item.created_at, None, at_due) is None


# --- delivery -------------------------------------------------------------------------------------

def test_the_page_is_delivered_signed_to_the_receiver_and_counted(
        tmp_path: Path, tiny_artifact: Path, tiny_model: LoadedModel) -> None:
    folder = tmp_path / "rota"
    write(folder, "human_escalation.toml", 'timezone = "UTC"\nfallback = "duty"\n' + CONTACTS)
    write(folder, "appeals.toml", 'timezone = "UTC"\nfallback = "duty"\n' + CONTACTS)
    with Receiver() as receiver:
        settings = Settings(work_dir=tmp_path / "var", model_path=tiny_artifact, log_format="text",
                            database_url=f"sqlite:///{tmp_path / 'triage.db'}", webhook_url=receiver.url,
                            webhook_secret=SECRET, webhook_poll_seconds=0.05, webhook_sla_sweep_seconds=0.1,
                            on_call_rota_dir=folder)
        client, keys = start_client(settings, tiny_model)
        try:
            press_reports(client, keys.intake, 1)
            set_items(client, [items(client)["p-0"].id], page_at=utcnow() - timedelta(seconds=1))
            [(headers, body, _)] = wait_for(lambda: receiver.of_type(webhooks.UNCLAIMED), what="the page delivered")
            assert metric(client, keys, "triage_webhook_events_enqueued_total", webhooks.UNCLAIMED) == 1
        finally:
            client.__exit__(None, None, None)
    assert webhooks.verify_signature(SECRET, headers, body)
    payload = json.loads(body)
    assert payload["report_id"] == "p-0" and payload["type"] == webhooks.UNCLAIMED
    assert payload["on_call"] == {"name": "Duty manager", "handle": "tns-duty@example.com", "via": "fallback"}
    assert b"quotes this post" not in body


# --- the command (oncall_app; `triage oncall` once registered) -------------------------------------

def test_the_oncall_commands_check_the_rotas_and_say_who_is_on_call(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from model.settings import get_settings
    from serving.oncall_cli import oncall_app

    def run(*args: str) -> tuple[int, str]:
        get_settings.cache_clear()
        result = CliRunner().invoke(oncall_app, list(args))
        return result.exit_code, result.output

    monkeypatch.setenv("TRIAGE_ON_CALL_ROTA_DIR", str(REPO / "deploy" / "rota"))
    assert run("check") == (0, "appeals: 2 contacts, 1 shifts, 0 overrides, timezone Europe/Dublin\n"
                               "human_escalation: 5 contacts, 3 shifts, 2 overrides, timezone Europe/Berlin\n")
    assert run("show", "--queue", "human_escalation", "--at", "2026-12-25T21:00:00+01:00") == (
        0, "human_escalation at 2026-12-25T21:00+01:00 (Europe/Berlin): Jonas Weber <+49 30 1234 5602> via override\n")
    assert run("show", "--queue", "appeals", "--at", "2026-07-01T08:30:00")[1].endswith(
        "Noor Ahmed <noor.ahmed@example.com> via shift\n"), "no offset: UTC (09:30 in Dublin)"
    code, output = run("show", "--queue", "general_review")
    assert code == 2 and "no rota for queue 'general_review' (rotas: appeals, human_escalation)" in output
    assert run("show", "--queue", "appeals", "--at", "tomorrow")[0] == 2

    folder = tmp_path / "rota"
    write(folder, "appeals.toml", WEEK)
    bad = write(folder, "human_escalation.toml", WEEK.replace('contact = "jonas"', 'contact = "jonsa"'))
    monkeypatch.setenv("TRIAGE_ON_CALL_ROTA_DIR", str(folder))
    code, output = run("check")
    assert code == 2 and f"error: {bad}: invalid on-call rota: shifts.1.contact: no contact 'jonsa'" in output
    monkeypatch.delenv("TRIAGE_ON_CALL_ROTA_DIR")
    assert run("check") == (0, "TRIAGE_ON_CALL_ROTA_DIR is unset: pages are sent with no on-call contact\n")
