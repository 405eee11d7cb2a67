"""Serving fixtures: a tiny exported model (once per session), a database per test (SQLite always,
PostgreSQL when TRIAGE_TEST_POSTGRES_URL is set), an app with keys of each role, an MLflow registry
holding the tiny model (once per module that asks for it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from model.settings import Settings
from serving.model_loader import LoadedModel, load_model

if TYPE_CHECKING:
    from mlflow import MlflowClient

POSTGRES_URL = os.environ.get("TRIAGE_TEST_POSTGRES_URL")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tiny_model(tiny_artifact: Path) -> LoadedModel:
    return load_model(Settings(model_path=tiny_artifact, work_dir=tiny_artifact.parent / "var"))


@pytest.fixture(scope="module")
def _no_global_tracking_uri() -> Iterator[None]:
    """Registering models sets MLflow's process-wide tracking URI (and MLFLOW_TRACKING_URI, for child
    processes): put both back as they were for the other tests."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    import mlflow

    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets it and unsets MLFLOW_TRACKING_URI
    if before is not None:
        os.environ["MLFLOW_TRACKING_URI"] = before


def registry_client(settings: Settings) -> MlflowClient:
    """A client of ``settings``' registry (explicit URIs: never MLflow's process-wide one)."""
    from mlflow import MlflowClient

    uri = settings.resolved_mlflow_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def register_versions(settings: Settings, *artifacts: Path) -> list[str]:
    """Log each artifact folder as the next registry version of triage-classifier in ``settings``' store;
    returns the versions. MLflow's process-wide tracking URI is back to the default afterwards."""
    import mlflow

    from training import tracking
    from training.pyfunc import log_pyfunc

    experiment = tracking.configure(settings)  # a local store keeps its artifacts in the work folder
    try:
        versions = []
        for artifact in artifacts:
            with mlflow.start_run(experiment_id=experiment):
                versions.append(log_pyfunc(artifact))
        return versions
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None: back to the default


@pytest.fixture(scope="module")
def registry(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory, _no_global_tracking_uri: None) -> Settings:
    """An MLflow store holding the tiny artifact twice: version 1 (alias champion), version 2 (challenger).

    Module-scoped (each module gets its own store): logging the ~40 MB artifact twice takes a few seconds."""
    from model.artifact import REGISTERED_MODEL

    root = tmp_path_factory.mktemp("registry")
    settings = Settings(work_dir=root / "var", mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    versions = register_versions(settings, tiny_artifact, tiny_artifact)
    assert versions == ["1", "2"]
    client = registry_client(settings)
    client.set_registered_model_alias(REGISTERED_MODEL, "champion", versions[0])
    client.set_registered_model_alias(REGISTERED_MODEL, "challenger", versions[1])
    assert client.get_model_version_download_uri(REGISTERED_MODEL, "1").startswith(root.resolve().as_uri())
    return settings


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
def api_on_each_database(database_url: str, tmp_path: Path, tiny_artifact: Path,
                         tiny_model: LoadedModel) -> Iterator[tuple[TestClient, Keys]]:
    """A running app with one key of each role, on SQLite and (when available) on PostgreSQL."""
    settings = Settings(work_dir=tmp_path / "var", model_path=tiny_artifact, database_url=database_url,
                        log_format="text")
    client, keys = start_client(settings, tiny_model)
    try:
        yield client, keys
    finally:
        client.__exit__(None, None, None)


@pytest.fixture
def api(settings: Settings, tiny_model: LoadedModel) -> Iterator[tuple[TestClient, Keys]]:
    """A running app (SQLite) with one key of each role."""
    client, keys = start_client(settings, tiny_model)
    try:
        yield client, keys
    finally:
        client.__exit__(None, None, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def triage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "triage", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path, tiny_artifact: Path) -> dict[str, str]:
    """The environment of a server process: its own work folder and database, the tiny model, the console on."""
    return {**os.environ, "TRIAGE_WORK_DIR": str(tmp_path / "var"), "TRIAGE_MODEL_PATH": str(tiny_artifact),
            "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'triage.db'}", "TRIAGE_LOG_FORMAT": "json",
            "TRIAGE_SESSION_SECRET": "test-session-secret-" + "s" * 20}


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    """`triage serve` on a free port, ready: (base URL, process, log file)."""
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "triage", "serve", "--port", str(port)], env=env,
                                   cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail(f"server not ready in 60 s:\n{log_path.read_text()}")
        yield base, process, log_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
