"""Shared fixtures: a small synthetic datasets folder in the sources' real formats, and the real one; a tiny
exported model (once per session); and the serving fixtures the serving and reliability tests share: a database
per test (SQLite always, PostgreSQL when TRIAGE_TEST_POSTGRES_URL is set), an app with keys of each role, a real
`triage serve` subprocess. Helpers that are not fixtures are in tests/support/."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.factories import write_mini_datasets
from tests.support import REPO
from tests.support.api import Keys, start_client
from tests.support.database import postgres_database
from tests.support.server import live_server

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from model.settings import Settings
    from serving.model_loader import LoadedModel
    from training.data.build import BuildResult


@pytest.fixture(autouse=True)
def _isolated_work_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own TRIAGE_WORK_DIR, so nothing a developer built in ./var (a corpus, decisions,
    a tracking store) leaks into a test, and no test writes there."""
    from model.settings import get_settings

    monkeypatch.setenv("TRIAGE_WORK_DIR", str(tmp_path_factory.mktemp("work")))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def mini_datasets(tmp_path: Path) -> Path:
    """A datasets folder holding four sources with a handful of rows each, quirks included."""
    return write_mini_datasets(tmp_path / "datasets")


@pytest.fixture(scope="session")
def real_datasets() -> Path:
    """The bundled datasets (../shared/datasets or TRIAGE_DATASETS_DIR).

    Skipped where they are absent, except in CI (TRIAGE_REQUIRE_DATASETS=1), where that is a failure.
    """
    path = Path(os.environ.get("TRIAGE_DATASETS_DIR", REPO.parent / "shared" / "datasets"))
    if not path.is_dir():
        if os.environ.get("TRIAGE_REQUIRE_DATASETS") == "1":
            pytest.fail(f"{path}: bundled datasets not found, and TRIAGE_REQUIRE_DATASETS=1")
        pytest.skip(f"{path}: bundled datasets not found")
    return path


@pytest.fixture(scope="session")
def real_corpus(real_datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The corpus built from the real datasets, once per test session (about 25 s)."""
    from training.data.build import BuildConfig, build_corpus

    return build_corpus(BuildConfig(datasets_dir=real_datasets, out_dir=tmp_path_factory.mktemp("corpus")))


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete artifact folder: a randomly initialised 2-layer model with the real tokenizer (about 5 s)."""
    from tests.factories import make_tiny_artifact

    folder, _ = make_tiny_artifact(tmp_path_factory.mktemp("tiny") / "artifact")
    return folder


# --- serving ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_model(tiny_artifact: Path) -> LoadedModel:
    from model.settings import Settings
    from serving.model_loader import load_model

    return load_model(Settings(model_path=tiny_artifact, work_dir=tiny_artifact.parent / "var"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs against SQLite and against PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'triage.db'}"
    else:
        yield from postgres_database()


@pytest.fixture
def settings(tmp_path: Path, tiny_artifact: Path) -> Settings:
    from model.settings import Settings

    return Settings(work_dir=tmp_path / "var", model_path=tiny_artifact,
                    database_url=f"sqlite:///{tmp_path / 'triage.db'}", log_format="text")


@pytest.fixture
def api_on_each_database(database_url: str, tmp_path: Path, tiny_artifact: Path,
                         tiny_model: LoadedModel) -> Iterator[tuple[TestClient, Keys]]:
    """A running app with one key of each role, on SQLite and (when available) on PostgreSQL."""
    from model.settings import Settings

    settings = Settings(work_dir=tmp_path / "var", model_path=tiny_artifact, database_url=database_url,
                        log_format="text")
    yield from _running_app(settings, tiny_model)


@pytest.fixture
def api(settings: Settings, tiny_model: LoadedModel) -> Iterator[tuple[TestClient, Keys]]:
    """A running app (SQLite) with one key of each role."""
    yield from _running_app(settings, tiny_model)


def _running_app(settings: Settings, model: LoadedModel) -> Iterator[tuple[TestClient, Keys]]:
    client, keys = start_client(settings, model)
    try:
        yield client, keys
    finally:
        client.__exit__(None, None, None)


@pytest.fixture
def env(tmp_path: Path, tiny_artifact: Path) -> dict[str, str]:
    """The environment of a server process: its own work folder and database, the tiny model, the console on."""
    return {**os.environ, "TRIAGE_WORK_DIR": str(tmp_path / "var"), "TRIAGE_MODEL_PATH": str(tiny_artifact),
            "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'triage.db'}", "TRIAGE_LOG_FORMAT": "json",
            "TRIAGE_SESSION_SECRET": "test-session-secret-" + "s" * 20}


@pytest.fixture
def server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    """`triage serve` on a free port, ready: (base URL, process, log file)."""
    with live_server(env, tmp_path / "server.log") as live:
        yield live.base, live.process, live.log_path
