"""Hot reload: a running server follows the registry alias without a restart, and a version that fails to
load never replaces the one being served."""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from model.artifact import REGISTERED_MODEL
from model.settings import Settings
from tests.support.api import Keys, create_keys
from tests.support.registry import register_versions, registry_client
from tests.support.server import Condition, free_port, wait_ready

API = tuple[TestClient, Keys]
POLL_SECONDS = 0.2
DEADLINE_SECONDS = 30.0  # generous: a loaded CI machine; a passing test returns as soon as it sees the change


@pytest.fixture(scope="module")
def broken_version(registry: Settings, tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registry version (the third) whose artifact passes every download step but whose model file is
    garbage, as a botched export would leave it."""
    folder = tmp_path_factory.mktemp("broken") / "artifact"
    shutil.copytree(tiny_artifact, folder, ignore=shutil.ignore_patterns("model.fp32.onnx"))
    (folder / "model.onnx").write_bytes(b"truncated" * 100)
    [version] = register_versions(registry, folder)
    assert version == "3"
    return version


@pytest.fixture(autouse=True)
def _aliases_put_back(registry: Settings) -> Iterator[None]:
    """Tests move the aliases; every test starts from champion = 1, challenger = 2."""
    yield
    client = registry_client(registry)
    client.set_registered_model_alias(REGISTERED_MODEL, "champion", "1")
    client.set_registered_model_alias(REGISTERED_MODEL, "challenger", "2")


def move(registry: Settings, alias: str, version: str) -> None:
    registry_client(registry).set_registered_model_alias(REGISTERED_MODEL, alias, version)


def serving(registry: Settings, tmp_path: Path, **overrides: Any) -> Settings:
    """A server on the registry: its own download cache and database, polling every POLL_SECONDS."""
    return registry.model_copy(update={
        "work_dir": tmp_path / "var", "database_url": f"sqlite:///{tmp_path / 'triage.db'}", "log_format": "text",
        "model_poll_seconds": POLL_SECONDS, **overrides})


@contextmanager
def running(settings: Settings) -> Iterator[API]:
    """The app started as `triage serve` starts it (no preloaded model), with a key of each role; the model
    may not be loaded yet."""
    from serving.app import create_app

    app = create_app(settings)
    with TestClient(app) as client:
        yield client, create_keys(app)


def ready_when(client: TestClient, condition: Condition) -> dict[str, Any]:
    """The /ready body once ``condition(status, body)`` holds; fails after DEADLINE_SECONDS."""
    body: dict[str, Any] = wait_ready(client, DEADLINE_SECONDS, until=condition).json()
    return body


def serves(version: str) -> Condition:
    return lambda status, body: status == 200 and body["model"]["version"] == version


def scored_by(api: API, report_id: str) -> str:
    """The registry version that scored a new report."""
    client, keys = api
    response = client.post("/v1/reports:score", json={"report_id": report_id, "text": "you are a wonderful person"},
                           headers=keys.intake)
    assert response.status_code == 200, response.text
    version: str = response.json()["model"]["version"]
    return version


def reload_failures(api: API) -> float:
    client, keys = api
    text = client.get("/metrics", headers=keys.admin).text
    match = re.search(r"^triage_model_reload_failures_total (\S+)$", text, re.MULTILINE)
    assert match, "the reload failure counter is exported from the start"
    return float(match.group(1))


def test_a_new_champion_is_served_without_a_restart(
    registry: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="serving")
    with running(serving(registry, tmp_path)) as api:
        client, _ = api
        body = ready_when(client, serves("1"))
        assert body["model"]["source"] == "models:/triage-classifier@champion"
        assert "reload_error" not in body["model"]
        assert scored_by(api, "before") == "1"

        move(registry, "champion", "2")
        body = ready_when(client, serves("2"))
        assert body["model"]["source"] == "models:/triage-classifier@champion"
        assert scored_by(api, "after") == "2"
        assert reload_failures(api) == 0

    [reloaded] = [r for r in caplog.records if r.getMessage() == "model reloaded"]
    assert (reloaded.previous_version, reloaded.version) == ("1", "2")  # type: ignore[attr-defined]
    assert reloaded.source == "models:/triage-classifier@champion"  # type: ignore[attr-defined]


def champion_moved_to(broken_version: str, registry: Settings, client: TestClient) -> dict[str, Any]:
    """Once version 1 serves, move ``champion`` to a version that cannot load; the /ready body that says so."""
    ready_when(client, serves("1"))
    move(registry, "champion", broken_version)
    return ready_when(client, lambda status, body: "reload_error" in body["model"])


@pytest.mark.slow  # about 8 s: downloads and fails to load a version
def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    registry: Settings, broken_version: str, tmp_path: Path
) -> None:
    with running(serving(registry, tmp_path)) as api:
        client, _ = api
        body = champion_moved_to(broken_version, registry, client)
        assert body["status"] == "ready" and body["model"]["version"] == "1"
        assert f"version {broken_version}" in body["model"]["reload_error"]
        assert client.get("/ready").status_code == 200
        assert scored_by(api, "during") == "1"
        assert reload_failures(api) >= 1

        move(registry, "champion", "2")
        body = ready_when(client, serves("2"))
        assert "reload_error" not in body["model"]
        assert scored_by(api, "after") == "2"


@pytest.mark.slow  # about 7 s: downloads and fails to load a version
def test_moving_the_alias_back_clears_the_reload_error(
    registry: Settings, broken_version: str, tmp_path: Path
) -> None:
    with running(serving(registry, tmp_path)) as api:
        client, _ = api
        champion_moved_to(broken_version, registry, client)

        move(registry, "champion", "1")
        body = ready_when(client, lambda status, body: "reload_error" not in body["model"])
        assert body["status"] == "ready" and body["model"]["version"] == "1"


def test_a_server_started_before_any_promotion_becomes_ready_once_champion_is_set(
    registry: Settings, tmp_path: Path
) -> None:
    registry_client(registry).delete_registered_model_alias(REGISTERED_MODEL, "champion")
    with running(serving(registry, tmp_path)) as api:
        client, _ = api
        body = ready_when(client, lambda status, body: body["model"]["status"] == "error")
        assert client.get("/ready").status_code == 503
        assert "champion" in body["model"]["error"]

        move(registry, "champion", "2")
        ready_when(client, serves("2"))
        assert scored_by(api, "first") == "2"


def test_an_unreachable_registry_leaves_the_model_serving_and_its_password_unlogged(
    registry: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    caplog.set_level(logging.DEBUG)
    with running(serving(registry, tmp_path)) as api:
        client, _ = api
        ready_when(client, serves("1"))
        state = client.app.state.triage  # type: ignore[attr-defined]
        # The registry moves to a server that is down (nothing listens on the port).
        gone = f"http://triage:hunter2-secret@127.0.0.1:{free_port()}"
        state.settings = state.settings.model_copy(update={"mlflow_tracking_uri": gone})

        deadline = time.monotonic() + DEADLINE_SECONDS
        while not [r for r in caplog.records if r.getMessage().startswith("registry unavailable")]:
            assert time.monotonic() < deadline, "no warning about the registry"
            time.sleep(0.05)
        body = ready_when(client, serves("1"))
        assert "reload_error" not in body["model"]
        assert scored_by(api, "meanwhile") == "1"

    [warning, *_] = [r for r in caplog.records if r.getMessage().startswith("registry unavailable")]
    assert warning.levelno == logging.WARNING
    assert "127.0.0.1" in warning.getMessage()
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "hunter2" not in logged


@pytest.mark.slow  # about 6 s: the app started twice (two downloads), and a 1 s wait
def test_with_polling_off_the_served_model_stays_until_a_restart(
    registry: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="serving")
    with running(serving(registry, tmp_path, model_poll_seconds=0)) as api:
        client, _ = api
        ready_when(client, serves("1"))
        move(registry, "champion", "2")
        time.sleep(1.0)  # five intervals of the other tests' polling
        assert client.get("/ready").json()["model"]["version"] == "1"
        assert scored_by(api, "still") == "1"
    assert not [r for r in caplog.records if r.getMessage().startswith("watching the registry")]
    assert not [r for r in caplog.records if r.getMessage() == "model reloaded"]

    restarted = tmp_path / "restarted"
    restarted.mkdir()
    with running(serving(registry, restarted, model_poll_seconds=0)) as api:
        ready_when(api[0], serves("2"))


def test_polling_needs_a_nonnegative_interval() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(model_poll_seconds=-1)
    assert Settings.model_fields["model_poll_seconds"].default == 30
