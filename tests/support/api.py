"""The app in a TestClient, with an API key of each role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.support.server import wait_ready

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from model.settings import Settings
    from serving.model_loader import LoadedModel


@dataclass(frozen=True)
class Keys:
    """Request headers for one key of each role, and the keys' public ids."""

    intake: dict[str, str]
    reviewer: dict[str, str]
    admin: dict[str, str]
    intake_id: str
    reviewer_id: str
    admin_id: str


def create_keys(app: FastAPI) -> Keys:
    """One new key of each role in the running ``app``'s database (``test-intake``, ...)."""
    from serving.auth import Role, create_key
    from serving.db.engine import transaction

    with transaction(app.state.triage.sessions) as session:
        made = {role: create_key(session, f"test-{role.value}", role) for role in Role}
    headers = {role: {"Authorization": f"Bearer {key.secret}"} for role, key in made.items()}
    return Keys(intake=headers[Role.INTAKE], reviewer=headers[Role.REVIEWER], admin=headers[Role.ADMIN],
                intake_id=made[Role.INTAKE].key_id, reviewer_id=made[Role.REVIEWER].key_id,
                admin_id=made[Role.ADMIN].key_id)


def start_client(settings: Settings, model: LoadedModel) -> tuple[TestClient, Keys]:
    """The app on ``settings`` serving ``model``, started (the caller exits the client) and ready, with a key
    of each role."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    app = create_app(settings, model=model)
    client = TestClient(app)
    client.__enter__()
    wait_ready(client)
    return client, create_keys(app)


def press_reports(client: TestClient | httpx.Client, intake: dict[str, str], n: int, prefix: str = "p") -> None:
    """``n`` press reports, scored with the ``intake`` headers: press reports always reach human_escalation, one
    queue item each."""
    reports = [{"report_id": f"{prefix}-{i}", "text": f"article number {i} quotes this post", "reporter_type": "press"}
               for i in range(n)]
    assert client.post("/v1/reports:batchScore", json={"reports": reports}, headers=intake).status_code == 200
