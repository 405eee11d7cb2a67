"""Security headers on every response, no body read without a key, and logs that hold no report text and no key
(captured in process with caplog, and from a real `triage serve` at DEBUG level)."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine

from model.settings import Settings
from serving.app import with_security_headers
from serving.auth import Role, create_key
from serving.console.routes import SECURITY_HEADERS as CONSOLE_HEADERS
from serving.db.engine import make_sessionmaker, transaction
from serving.model_loader import LoadedModel
from tests.support.api import Keys, start_client

#: Report text no log line may hold: distinctive, so that a hit cannot be a coincidence.
TEXT = "Xylophone-Quokka-4417 says the parade on Elm Street must be stopped before anyone gets hurt"
MARK = "Xylophone-Quokka-4417"
API_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
               "content-security-policy": "default-src 'none'; frame-ancestors 'none'"}
Client = TestClient | httpx.Client
#: The loggers of the HTTP client the tests send requests with (TestClient's transport).
CLIENT_LOGGERS = {"httpx", "httpx2", "httpcore"}


def assert_api_headers(response: Any, *, cacheable: bool = False) -> None:
    """``response``: httpx's, from a real server, or TestClient's (the same interface, another package)."""
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    for name, value in API_HEADERS.items():
        assert response.headers.get_list(name) == [value], f"{where}: {name}"
    assert response.headers.get_list("cache-control") == ([] if cacheable else ["no-store"]), where
    assert response.headers.get("x-request-id"), where


@pytest.fixture
def console(settings: Settings, tiny_model: LoadedModel) -> Iterator[tuple[TestClient, Keys]]:
    """The app with the review console on."""
    client, keys = start_client(settings.model_copy(update={"session_secret": SecretStr("s" * 40)}), tiny_model)
    try:
        yield client, keys
    finally:
        client.__exit__(None, None, None)


# --- security headers ---------------------------------------------------------------------------------------

def test_every_api_answer_carries_the_security_headers_once(console: tuple[TestClient, Keys]) -> None:
    client, keys = console
    report = {"report_id": "h-1", "text": "is this listing a scam?"}
    answers = [
        client.post("/v1/reports:score", json=report, headers=keys.intake),  # 200
        client.get("/v1/reports/h-1", headers=keys.intake),  # 200
        client.post("/v1/reports:batchScore", json={"reports": []}, headers=keys.intake),  # 422
        client.post("/v1/reports:score", content=b"{oops", headers={**keys.intake, "content-type": "application/json"}),
        client.get("/v1/reports/h-1"),  # 401
        client.get("/v1/queues", headers=keys.intake),  # 403
        client.get("/v1/reports/nope", headers=keys.reviewer),  # 404
        client.get("/v1/reports:score", headers=keys.intake),  # 405
        client.get("/v1/no-such-route"),  # 404 before any route
        client.get("/metrics", headers=keys.admin),  # text, not JSON: the same headers
        client.get("/ready"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 422, 422, 401, 403, 404, 405, 404, 200, 200]
    for response in answers:
        assert_api_headers(response)
    assert_api_headers(client.get("/health"), cacheable=True)
    assert_api_headers(client.get("/openapi.json"), cacheable=True)


def test_a_body_over_the_limit_gets_413_with_the_security_headers(settings: Settings,
                                                                 tiny_model: LoadedModel) -> None:
    client, keys = start_client(settings.model_copy(update={"max_request_bytes": 1024}), tiny_model)
    try:
        big = {"report_id": "big", "text": "x" * 2000}
        response = client.post("/v1/reports:score", json=big, headers=keys.intake)
        assert response.status_code == 413
        assert_api_headers(response)
    finally:
        client.__exit__(None, None, None)


def test_the_console_keeps_its_own_policy_and_docs_keep_their_scripts(console: tuple[TestClient, Keys]) -> None:
    client, _ = console
    page = client.get("/review/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers.get_list("content-security-policy") == [CONSOLE_HEADERS["Content-Security-Policy"]]
    assert page.headers.get_list("x-frame-options") == ["DENY"]
    assert page.headers.get_list("cache-control") == ["no-store"]

    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    # Swagger UI's page loads its scripts and styles: no policy of ours blocks them.
    assert "content-security-policy" not in docs.headers
    assert docs.headers["x-content-type-options"] == "nosniff" and docs.headers["x-frame-options"] == "DENY"


def test_a_routes_own_header_wins_and_none_is_repeated() -> None:
    own = [(b"content-type", b"application/json"), (b"cache-control", b"max-age=60"),
           (b"X-Frame-Options", b"SAMEORIGIN")]
    headers = with_security_headers("/v1/reports/r-1", own)
    names = [name.lower() for name, _ in headers]
    assert len(names) == len(set(names))
    assert dict(headers)[b"cache-control"] == b"max-age=60" and dict(headers)[b"X-Frame-Options"] == b"SAMEORIGIN"
    assert dict(headers)[b"content-security-policy"] == b"default-src 'none'; frame-ancestors 'none'"
    html = dict(with_security_headers("/somewhere", [(b"content-type", b"text/html; charset=utf-8")]))
    assert b"content-security-policy" not in html and html[b"x-content-type-options"] == b"nosniff"


# --- no body is read without a key --------------------------------------------------------------------------

@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe\x00", json.dumps({"reports": "x"}).encode()])
def test_without_a_key_the_body_is_not_read_and_the_answer_is_401(console: tuple[TestClient, Keys],
                                                                  body: bytes) -> None:
    client, keys = console
    json_type = {"content-type": "application/json"}
    for path in ("/v1/reports:score", "/v1/reports:batchScore", "/v1/items/1:decide"):
        response = client.post(path, content=body, headers=json_type)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"] == "unauthorized" and response.headers["www-authenticate"] == "Bearer"
    perspective = client.post("/v1alpha1/comments:analyze", content=body, headers=json_type)
    assert perspective.status_code == 401
    assert perspective.json()["error"]["status"] == "UNAUTHENTICATED"  # Google's shape, as its clients expect
    # With a key the route reads the body and says what is wrong with it, as before.
    assert client.post("/v1/reports:score", content=b"{not json", headers={**keys.intake, **json_type}
                       ).json()["fields"][0]["field"] == "body"
    # The console's sign-in form carries the key in its body: it is read.
    assert client.post("/review/login", data={"csrf_token": "x", "key": "y"}).status_code == 403  # CSRF, not 401


# --- logs -----------------------------------------------------------------------------------------------------

def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the sign-in form carries a CSRF token"
    return match.group(1)


def exercise(client: Client, intake: str, reviewer: str) -> dict[str, int]:
    """Requests that carry report text and keys, good and bad: scoring, a batch, a read, a wrong key, invalid
    input quoting the text, a Perspective call with the key in the URL, a console sign-in. Their statuses."""
    bearer = {"Authorization": f"Bearer {intake}"}
    report = {"report_id": "leak-1", "text": TEXT, "reporter_type": "user"}
    wrong = intake[:-4] + ("AAAA" if not intake.endswith("AAAA") else "BBBB")
    statuses = {
        "score": client.post("/v1/reports:score", json=report, headers=bearer).status_code,
        "batch": client.post("/v1/reports:batchScore", headers=bearer, json={
            "reports": [{**report, "report_id": "leak-2"}, {**report, "report_id": "leak-3"}]}).status_code,
        "read": client.get("/v1/reports/leak-1", headers=bearer).status_code,
        "wrong key": client.post("/v1/reports:score", json=report, headers={"Authorization": f"Bearer {wrong}"}
                                 ).status_code,
        "key as X-API-Key": client.get("/v1/reports/leak-1", headers={"X-API-Key": intake}).status_code,
        "unknown field": client.post("/v1/reports:score", headers=bearer, json={**report, "report_id": "leak-4",
                                                                               "note": TEXT}).status_code,
        "too long": client.post("/v1/reports:score", headers=bearer, json={
            **report, "report_id": "leak-5", "text": TEXT * 200}).status_code,
        "invalid json": client.post("/v1/reports:score", headers={**bearer, "content-type": "application/json"},
                                    content=('{"text": "' + TEXT + '", oops').encode()).status_code,
        "perspective": client.post(f"/v1alpha1/comments:analyze?key={intake}", json={
            "comment": {"text": TEXT}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]}).status_code,
    }
    login = client.get("/review/login")
    statuses["sign-in"] = client.post("/review/login", data={"csrf_token": csrf(login.text), "key": reviewer},
                                      follow_redirects=False).status_code
    statuses["console"] = client.get("/review").status_code
    return statuses


EXPECTED = {"score": 200, "batch": 200, "read": 200, "wrong key": 401, "key as X-API-Key": 200, "unknown field": 422,
            "too long": 422, "invalid json": 422, "perspective": 200, "sign-in": 303, "console": 200}


def secrets_of(*keys: str) -> list[str]:
    """Each key and its secret part (``trg_<key id>_<secret>``): the key id alone is public."""
    return [part for key in keys for part in (key, key.split("_", 2)[2])]


def assert_clean(log: str, keys: list[str]) -> None:
    assert MARK not in log, "report text in the logs"
    for secret in secrets_of(*keys):
        assert secret not in log, "an API key or its secret in the logs"


def test_logs_in_process_hold_no_report_text_and_no_key(console: tuple[TestClient, Keys],
                                                        caplog: pytest.LogCaptureFixture) -> None:
    client, keys = console
    intake, reviewer = (h["Authorization"].removeprefix("Bearer ") for h in (keys.intake, keys.reviewer))
    caplog.set_level(logging.DEBUG)  # every logger, every level, libraries included
    assert exercise(client, intake, reviewer) == EXPECTED

    # The server's records: not those of the test's own HTTP client (it logs the URLs it requests).
    records = [r for r in caplog.records if r.name.split(".")[0] not in CLIENT_LOGGERS]
    formatter = logging.Formatter()
    captured = "\n".join(f"{r.getMessage()} {vars(r)!r} {formatter.formatException(r.exc_info) if r.exc_info else ''}"
                         for r in records)
    access = [r for r in records if r.name == "serving.access"]
    assert len(access) >= len(EXPECTED) and {getattr(r, "key_id", None) for r in access} >= {keys.intake_id}
    assert_clean(captured, [intake, reviewer])


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "TRIAGE_LOG_LEVEL": "DEBUG"}  # whatever logs at any level is checked


def make_keys(database_url: str) -> tuple[str, str]:
    engine = create_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return (create_key(session, "leak-intake", Role.INTAKE).secret,
                    create_key(session, "leak-reviewer", Role.REVIEWER).secret)
    finally:
        engine.dispose()


@pytest.mark.slow  # a `triage serve` process
def test_a_real_servers_logs_hold_no_report_text_and_no_key(
        server: tuple[str, subprocess.Popen[str], Path], env: dict[str, str]) -> None:
    base, process, log_path = server
    intake, reviewer = make_keys(env["TRIAGE_DATABASE_URL"])
    with httpx.Client(base_url=base, timeout=30) as client:
        assert exercise(client, intake, reviewer) == EXPECTED
        assert_api_headers(client.get("/v1/reports/leak-1", headers={"Authorization": f"Bearer {intake}"}))
    process.send_signal(signal.SIGTERM)  # the log is complete once the server has stopped
    process.wait(timeout=30)

    log = log_path.read_text()
    records: list[dict[str, Any]] = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [r for r in records if r["logger"] == "serving.access"]
    assert {r["status"] for r in access} >= {200, 303, 401, 422}
    assert_clean(log, [intake, reviewer])
