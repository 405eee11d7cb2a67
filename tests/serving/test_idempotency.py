"""Idempotent review actions: with an Idempotency-Key, a retried claim, release, reassign or decide gets its
first answer again, on SQLite and PostgreSQL, and over real HTTP when the first answer was lost on the way."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from serving.db.models import IdempotentActionRow, QueueItemRow
from tests.support.api import Keys, press_reports
from tests.support.cli import triage

API = tuple[TestClient, Keys]
ESCALATION = "/v1/queues/human_escalation:claim"
REMOVE = {"risk_tier": "high", "policy_areas": ["violence_incitement"], "action": "remove", "note": "credible"}


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def claimed_items(client: TestClient) -> int:
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).where(QueueItemRow.status == "claimed")) or 0)


def test_a_retried_claim_gets_the_same_item_not_a_second_one(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    press_reports(client, keys.intake, 2)
    first = client.post(ESCALATION, headers=with_key(keys.reviewer, "claim-1"))
    again = client.post(ESCALATION, headers=with_key(keys.reviewer, "claim-1"))
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert claimed_items(client) == 1
    without_a_key = client.post(ESCALATION, headers=keys.reviewer)
    assert without_a_key.json()["id"] != first.json()["id"]  # no key: every claim is a new one


def test_a_retried_decide_returns_the_decision_instead_of_a_conflict(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    press_reports(client, keys.intake, 1)
    item = client.post(ESCALATION, headers=keys.reviewer).json()
    decide = f"/v1/items/{item['id']}:decide"
    first = client.post(decide, json=REMOVE, headers=with_key(keys.reviewer, "decide-1"))
    again = client.post(decide, json=REMOVE, headers=with_key(keys.reviewer, "decide-1"))
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert client.post(decide, json=REMOVE, headers=keys.reviewer).status_code == 409  # no key: judged again


def test_a_retried_release_answers_as_the_first_did(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    press_reports(client, keys.intake, 1)
    item = client.post(ESCALATION, headers=keys.reviewer).json()
    release = f"/v1/items/{item['id']}:release"
    first = client.post(release, headers=with_key(keys.reviewer, "release-1"))
    again = client.post(release, headers=with_key(keys.reviewer, "release-1"))
    assert first.status_code == again.status_code == 200 and first.json()["status"] == "open"
    assert again.json() == first.json()
    assert client.post(release, headers=keys.reviewer).status_code == 409


def test_a_retried_reassign_answers_as_the_first_did(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    item = client.post(ESCALATION, headers=keys.reviewer).json()
    reassign = f"/v1/items/{item['id']}:reassign"
    body = {"to": keys.admin_id}
    first = client.post(reassign, json=body, headers=with_key(keys.reviewer, "reassign-1"))
    again = client.post(reassign, json=body, headers=with_key(keys.reviewer, "reassign-1"))
    assert first.status_code == again.status_code == 200 and again.json()["claimed_by"] == keys.admin_id
    assert again.json() == first.json()


def test_a_key_reused_for_another_request_is_refused_naming_the_header(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 1)
    item = client.post(ESCALATION, headers=with_key(keys.reviewer, "k")).json()
    other = {**REMOVE, "note": "another body"}
    assert client.post(f"/v1/items/{item['id']}:decide", json=REMOVE,
                       headers=with_key(keys.reviewer, "d")).status_code == 200
    refused = client.post(f"/v1/items/{item['id']}:decide", json=other, headers=with_key(keys.reviewer, "d"))
    assert refused.status_code == 422
    assert refused.json()["fields"][0]["field"] == "headers.Idempotency-Key"
    assert client.post("/v1/queues/specialist_review:claim",
                       headers=with_key(keys.reviewer, "k")).status_code == 422  # another queue: another request


def test_keys_belong_to_the_api_key_that_sent_them(api: API) -> None:
    client, keys = api
    press_reports(client, keys.intake, 2)
    mine = client.post(ESCALATION, headers=with_key(keys.reviewer, "same"))
    theirs = client.post(ESCALATION, headers=with_key(keys.admin, "same"))
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_refusal_is_not_stored_so_a_retry_is_judged_again(api: API) -> None:
    client, keys = api
    assert client.post(ESCALATION, headers=with_key(keys.reviewer, "early")).status_code == 204  # nothing yet
    press_reports(client, keys.intake, 1)
    assert client.post(ESCALATION, headers=with_key(keys.reviewer, "early")).status_code == 200
    with client.app.state.triage.sessions() as session:  # type: ignore[attr-defined]
        assert session.scalar(select(func.count()).select_from(IdempotentActionRow)) == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 201, "naïve".encode()])
def test_a_malformed_key_is_refused_by_name(api: API, key: str | bytes) -> None:
    client, keys = api
    response = client.post(ESCALATION, headers={**keys.reviewer, "Idempotency-Key": key})  # type: ignore[dict-item]
    assert response.status_code == 422, response.text
    assert "Idempotency-Key" in response.json()["fields"][0]["field"]


def test_two_copies_of_one_claim_racing_claim_once(api_on_each_database: API) -> None:
    client, keys = api_on_each_database
    press_reports(client, keys.intake, 4)
    barrier = threading.Barrier(4)
    answers: list[Any] = []

    def send() -> None:
        barrier.wait()
        answers.append(client.post(ESCALATION, headers=with_key(keys.reviewer, "race")))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["id"] for a in answers}) == 1
    assert claimed_items(client) == 1


# --- over real HTTP, the first answer lost on the way -------------------------------------------------------

@contextmanager
def answer_dropping_proxy(upstream_port: int) -> Iterator[str]:
    """A TCP proxy that passes one request to the server, reads the whole answer, and closes the client's
    connection without sending it: the server acted, the client saw nothing (a timeout, a dropped link)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one() -> None:
        client, _ = listener.accept()
        with client, socket.create_connection(("127.0.0.1", upstream_port)) as upstream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += client.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += client.recv(65536)
            upstream.sendall(head + b"\r\n\r\n" + body)
            upstream.settimeout(30)
            upstream.recv(65536)  # the server's answer (headers and a small body), thrown away

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        thread.join(timeout=30)
        listener.close()


@pytest.mark.slow  # `triage serve` and `triage keys` as processes
def test_a_claim_whose_answer_was_lost_is_retried_over_http_and_gets_the_first_item(
        env: dict[str, str], server: tuple[str, subprocess.Popen[str], Path]) -> None:
    base, _, _ = server
    made = {role: triage("keys", "create", "--name", role, "--role", role, env=env).stdout.strip()
            for role in ("intake", "reviewer")}
    intake, reviewer = ({"Authorization": f"Bearer {made[r]}"} for r in ("intake", "reviewer"))
    with httpx.Client(base_url=base, timeout=30) as direct:
        press_reports(direct, intake, 2)
        port = int(base.rsplit(":", 1)[1])
        with answer_dropping_proxy(port) as proxied, pytest.raises(httpx.TransportError):
            httpx.post(f"{proxied}{ESCALATION}", headers=with_key(reviewer, "lost-1"), timeout=30)
        retried = direct.post(ESCALATION, headers=with_key(reviewer, "lost-1"))
        assert retried.status_code == 200 and retried.headers["Idempotent-Replayed"] == "true"
        queue = direct.get("/v1/queues", headers=reviewer).json()["queues"]
        [escalation] = [q for q in queue if q["queue"] == "human_escalation"]
        assert (escalation["open"], escalation["claimed"]) == (1, 1)  # one claim, not two

        decide = f"/v1/items/{retried.json()['id']}:decide"
        with answer_dropping_proxy(port) as proxied, pytest.raises(httpx.TransportError):
            httpx.post(f"{proxied}{decide}", json=REMOVE, headers=with_key(reviewer, "lost-2"), timeout=30)
        decided = direct.post(decide, json=REMOVE, headers=with_key(reviewer, "lost-2"))
        assert decided.status_code == 200 and decided.json()["action"] == "remove"
