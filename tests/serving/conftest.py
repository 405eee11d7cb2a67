"""Serving fixtures: an MLflow registry holding the tiny model (once per module that asks for it). The tiny
model, the databases, the app with keys of each role and the `triage serve` subprocess are in tests/conftest.py
(the reliability tests use them too); helpers that are not fixtures are in tests/support/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.settings import Settings
from tests.support.registry import register_versions, registry_client


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
