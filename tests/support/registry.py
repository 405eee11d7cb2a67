"""An MLflow registry for the tests: given artifact folders registered as versions of triage-classifier."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from model.settings import Settings


def registry_client(settings: Settings) -> MlflowClient:
    """A client of ``settings``' registry (explicit URIs: never MLflow's process-wide one)."""
    from mlflow import MlflowClient

    uri = settings.resolved_mlflow_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def register_versions(settings: Settings, *artifacts: Path) -> list[str]:
    """Log each artifact folder as the next registry version of triage-classifier in ``settings``' store;
    returns the versions. MLflow's process-wide tracking URI is back to the default afterwards."""
    import mlflow

    from model import registry

    experiment = registry.configure(settings)  # a local store keeps its artifacts in the work folder
    try:
        versions = []
        for artifact in artifacts:
            with mlflow.start_run(experiment_id=experiment):
                versions.append(registry.register_artifact(artifact))
        return versions
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None: back to the default
