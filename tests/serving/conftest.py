"""Serving fixtures: a tiny exported model (once per session), a database per test (SQLite always,
PostgreSQL when TRIAGE_TEST_POSTGRES_URL is set), an app with keys of each role."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from model.settings import Settings
from serving.model_loader import LoadedModel, load_model

POSTGRES_URL = os.environ.get("TRIAGE_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def tiny_model(tiny_artifact: Path) -> LoadedModel:
    return load_model(Settings(model_path=tiny_artifact, work_dir=tiny_artifact.parent / "var"))


def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not POSTGRES_URL:
        if os.environ.get("TRIAGE_REQUIRE_POSTGRES") == "1":
            pytest.fail("TRIAGE_REQUIRE_POSTGRES=1 but TRIAGE_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server: set TRIAGE_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    name = f"triage_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs against SQLite and against PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'triage.db'}"
    else:
        yield from postgres_database()


@pytest.fixture
def settings(tmp_path: Path, tiny_artifact: Path) -> Settings:
    return Settings(work_dir=tmp_path / "var", model_path=tiny_artifact,
                    database_url=f"sqlite:///{tmp_path / 'triage.db'}", log_format="text")


@dataclass(frozen=True)
class Keys:
    """Request headers for one key of each role, and the keys' public ids."""

    intake: dict[str, str]
    reviewer: dict[str, str]
    admin: dict[str, str]
    intake_id: str
    reviewer_id: str
    admin_id: str


def wait_ready(client: TestClient, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"not ready after {timeout}s: {client.get('/ready').json()}")


def start_client(settings: Settings, model: LoadedModel) -> tuple[TestClient, Keys]:
    from serving.app import create_app
    from serving.auth import Role, create_key
    from serving.db.engine import transaction

    app = create_app(settings, model=model)
    client = TestClient(app)
    client.__enter__()
    wait_ready(client)
    with transaction(app.state.triage.sessions) as session:
        made = {role: create_key(session, f"test-{role.value}", role) for role in Role}
    keys = Keys(**{role.value: {"Authorization": f"Bearer {key.secret}"} for role, key in made.items()},
                **{f"{role.value}_id": key.key_id for role, key in made.items()})
    return client, keys


@pytest.fixture
def api(settings: Settings, tiny_model: LoadedModel) -> Iterator[tuple[TestClient, Keys]]:
    """A running app (SQLite) with one key of each role."""
    client, keys = start_client(settings, tiny_model)
    try:
        yield client, keys
    finally:
        client.__exit__(None, None, None)
