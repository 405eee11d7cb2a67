"""Who may call what: every route of the API against no key and a key of each role.

The table below is the access policy. A route added to the API without a line here fails
``test_every_api_route_is_in_the_access_table``, so no route ships unclassified."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.api import Keys

API = tuple[TestClient, Keys]
PUBLIC, INTAKE, READER, REVIEWER, ADMIN = "public", "intake", "reader", "reviewer", "admin"
#: Roles admitted by each class of route (admins are admitted everywhere).
ADMITTED = {PUBLIC: {"none", "intake", "reviewer", "admin"}, INTAKE: {"intake", "admin"},
            READER: {"intake", "reviewer", "admin"}, REVIEWER: {"reviewer", "admin"}, ADMIN: {"admin"}}

ACCESS = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/metrics"): ADMIN,
    ("POST", "/v1/reports:score"): INTAKE,
    ("POST", "/v1/reports:batchScore"): INTAKE,
    ("GET", "/v1/reports/{report_id}"): READER,
    ("POST", "/v1/reports/{report_id}:appeal"): INTAKE,
    ("GET", "/v1/appeals/{appeal_id}"): READER,
    ("GET", "/v1/queues"): REVIEWER,
    ("POST", "/v1/queues/{queue}:claim"): REVIEWER,
    ("GET", "/v1/items/{item_id}"): REVIEWER,
    ("POST", "/v1/items/{item_id}:release"): REVIEWER,
    ("POST", "/v1/items/{item_id}:reassign"): REVIEWER,
    ("POST", "/v1/items/{item_id}:decide"): REVIEWER,
    ("GET", "/v1/qa/agreement"): REVIEWER,
    ("GET", "/v1/trends"): REVIEWER,
    ("GET", "/v1/webhooks/events"): ADMIN,
    ("POST", "/v1/webhooks/events/{event_id}:retry"): ADMIN,
    ("POST", "/v1alpha1/comments:analyze"): INTAKE,
}
PATH_VALUES = {"report_id": "r-none", "queue": "no_such_queue", "item_id": "999999", "event_id": "evt_none",
               "appeal_id": "ap-none"}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def test_every_api_route_is_in_the_access_table(api: API) -> None:
    client, _ = api
    routes = {(method.upper(), path) for path, ops in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
              for method in ops}
    assert routes == set(ACCESS)


@pytest.mark.parametrize("role", ["none", "intake", "reviewer", "admin"])
@pytest.mark.parametrize(("method", "path"), sorted(ACCESS))
def test_a_key_reaches_only_the_routes_of_its_role(api: API, method: str, path: str, role: str) -> None:
    client, keys = api
    headers: dict[str, Any] = {} if role == "none" else getattr(keys, role)
    # No body: a caller who is let in gets past authentication and fails later (422, 404, ...), never 401/403.
    status = client.request(method, concrete(path), headers=headers).status_code
    if role in ADMITTED[ACCESS[(method, path)]]:
        assert status not in (401, 403), f"{role} should reach {method} {path}, got {status}"
    elif role == "none":
        assert status == 401
    else:
        assert status == 403
