"""API fuzzing: schemathesis generates requests for every operation of the OpenAPI schema, valid ones and
invalid ones, and each is sent twice over HTTP to a real `triage serve` (uvicorn, the tiny model, a real
database): with an admin key, then with no key.

With the admin key (admitted everywhere) every answer must be documented: no 5xx at all, each status code
listed for its route, each body valid against its schema, each content type the one declared, invalid input
refused with a 4xx, and the security headers on every response. Without a key nothing but /health and /ready
may answer anything but 401 (or 404 / 405 for a path or method the API does not have), whatever the body.

Bounded for CI: a fixed number of examples per operation and mode (valid, invalid), a fixed seed, no deadline.
A longer run prints the requests sent and the server errors found, and fails on any finding::

    TRIAGE_FUZZ_EXAMPLES=500 TRIAGE_FUZZ_SEED=7 python -m pytest -s tests/reliability/test_fuzz.py

(``TRIAGE_TEST_POSTGRES_URL`` set: on PostgreSQL too.) Not used: schemathesis' check that schema-valid requests
are accepted (``positive_data_acceptance``). The schema cannot say everything the API validates (a text empty
once normalised, the reviewer-decision label rules, a reassignment to a key that is not a reviewer), and those
answers are documented 422s.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, Verbosity
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from sqlalchemy import create_engine

from serving.auth import Role, create_key
from serving.db.engine import make_sessionmaker, transaction
from tests.support.api import Keys

EXAMPLES = int(os.environ.get("TRIAGE_FUZZ_EXAMPLES", "10"))
SEED = int(os.environ.get("TRIAGE_FUZZ_SEED", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
#: Routes anyone may call.
PUBLIC = {"/health", "/ready"}
#: What a request without a key may get anywhere else: refused, or no such route or method.
NO_KEY_STATUSES = {401, 404, 405}

Server = tuple[str, subprocess.Popen[str], Path]
Case = schemathesis.Case[Any]
Operation = schemathesis.APIOperation[Any, Any, Any, Any]
Check = Callable[[Case, Any], None]


@dataclass
class Pass:
    """One way of sending every generated request (headers, and what the answer must be), and what it found."""

    name: str
    headers: dict[str, str]
    check: Check
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    #: One example of each kind of finding: "METHOD /path/{template} -> status: what" -> the full message.
    findings: dict[str, str] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        codes = ", ".join(f"{status}: {n}" for status, n in sorted(self.statuses.items()))
        return (f"fuzz, {self.name}: {self.sent} requests ({EXAMPLES} examples per operation and mode, seed "
                f"{SEED}), {self.server_errors} server errors, {len(self.findings)} kinds of finding; {codes}")

    def send(self, base: str, case: Case, mode: GenerationMode) -> None:
        query = case.query
        if not self.headers and query and "key" in query:  # no key at all: not Perspective's ?key= either
            case.query = {name: value for name, value in query.items() if name != "key"}
        try:
            response = case.call(base_url=base, headers=self.headers, timeout=60)
        finally:
            case.query = query
        self.sent += 1
        self.statuses[response.status_code] += 1
        where = f"{case.operation.label} -> {response.status_code}"
        try:
            self.check(case, response)
        except FailureGroup as exc:  # schemathesis' checks (its messages leave the Authorization header out)
            titles = ", ".join(sorted({failure.title for failure in exc.exceptions}))
            self.findings.setdefault(f"{where}: {titles}", str(exc))
        except AssertionError as exc:
            self.findings.setdefault(f"{where}: {str(exc).splitlines()[0]}",
                                     f"{mode.value} case: {case.method} {case.formatted_path}")


def fuzz(base: str, passes: list[Pass]) -> None:
    """Every operation of the schema ``base`` serves, valid and invalid cases, each sent once in every pass."""
    for result in schemathesis.openapi.from_url(f"{base}/openapi.json").get_all_operations():
        assert isinstance(result, Ok), f"the schema describes an operation badly: {result.err()}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz_operation(base, passes, result.ok(), mode)


def fuzz_operation(base: str, passes: list[Pass], operation: Operation,
                   mode: GenerationMode) -> None:
    @hypothesis.seed(SEED)
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
                         suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Case) -> None:
        for each in passes:
            each.send(base, case, mode)

    try:
        send()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to make invalid: the operation takes no parameters and no body (GET /health).
        assert mode is GenerationMode.NEGATIVE, f"no valid request for {operation.label}"


def header(response: Any, name: str) -> str | None:
    """One header of a schemathesis response (it keeps every header as a list of values)."""
    values = response.headers.get(name)
    return values[0] if values else None


def logged_errors(log: Path) -> list[str]:
    """Each error the server logged: its message and the last line of its traceback (the exception)."""
    errors = []
    for line in log.read_text().splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if record.get("level") == "ERROR":
            exc = str(record.get("exc", "")).strip().splitlines()
            errors.append(f"{record.get('msg', '').strip()} {exc[-1] if exc else ''}")
    return errors


@pytest.fixture
def env(env: dict[str, str], database_url: str) -> dict[str, str]:
    # One key sends thousands of requests here: the per-key rate limit would answer most of them 429.
    return {**env, "TRIAGE_DATABASE_URL": database_url, "TRIAGE_RATE_LIMIT_PER_SECOND": "0"}


def admin_key(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            return create_key(session, "fuzz-admin", Role.ADMIN).secret
    finally:
        engine.dispose()


@pytest.mark.slow  # schemathesis fuzzing of a `triage serve` process
def test_every_answer_is_documented_none_is_a_server_error_and_without_a_key_all_are_refused(
        server: Server, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    base, _, log = server
    admin = {"Authorization": f"Bearer {admin_key(env['TRIAGE_DATABASE_URL'])}"}

    def documented(case: Case, response: Any) -> None:
        case.validate_response(response, checks=CHECKS, headers=admin)
        assert header(response, "x-content-type-options") == "nosniff", "no X-Content-Type-Options: nosniff"
        if case.path.startswith("/v1"):
            assert header(response, "cache-control") == "no-store", "no Cache-Control: no-store"

    def refused(case: Case, response: Any) -> None:
        if case.path in PUBLIC:
            assert response.status_code < 500, f"{case.path} answered {response.status_code}"
        else:
            assert response.status_code in NO_KEY_STATUSES, f"answered without a key: {response.text[:300]}"

    passes = [Pass("admin key", admin, documented), Pass("no key", {}, refused)]
    fuzz(base, passes)

    with capsys.disabled():
        print("", *(each.summary() for each in passes), sep="\n")
    for each in passes:
        kinds = "\n".join(f"- {kind}" for kind in each.findings)
        examples = "\n\n".join(list(each.findings.values())[:3])
        errors = "\n".join(logged_errors(log)[:10])
        assert not each.findings, f"{each.summary()}\n{kinds}\n\nexamples:\n{examples}\n\nserver errors:\n{errors}"
        assert each.sent >= 10 * EXAMPLES  # every operation was reached


@pytest.mark.parametrize(("method", "path", "field"), [
    # Over 64 bits: was a 500 (SQLite's OverflowError).
    ("GET", "/v1/items/9223372036854775808", "item_id"),
    ("POST", "/v1/items/99999999999999999999:release", "item_id"),
    # A NUL character: was a 503 "the database is unavailable" on PostgreSQL, which refuses NUL in a query.
    ("GET", "/v1/reports/a%00b", "report_id"),
    ("POST", "/v1/queues/a%00b:claim", "queue"),
    ("POST", "/v1/webhooks/events/evt_a%00b:retry", "event_id"),
])
def test_what_fuzzing_found_is_now_a_422_naming_the_field(api_on_each_database: tuple[TestClient, Keys],
                                                         method: str, path: str, field: str) -> None:
    client, keys = api_on_each_database
    response = client.request(method, path, headers=keys.admin)
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["fields"]] == [field]


def test_a_nul_in_a_review_note_is_refused_naming_the_note(api_on_each_database: tuple[TestClient, Keys]) -> None:
    client, keys = api_on_each_database
    decision = {"risk_tier": "low", "policy_areas": ["none"], "action": "no_violation", "note": "fine\x00print"}
    response = client.post("/v1/items/1:decide", json=decision, headers=keys.admin)
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["fields"]] == ["note"]
