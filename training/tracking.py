"""MLflow tracking: every training and export run, and the model registry.

The default store is a local SQLite database under the work folder (no server needed);
``TRIAGE_MLFLOW_TRACKING_URI`` points at a real MLflow server instead. Runs go to the experiment
``triage-classifier``; exported models are registered as ``triage-classifier`` and get the alias
``challenger`` (promotion to ``champion`` is a separate, guarded step).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from model.artifact import REGISTERED_MODEL
from model.settings import Settings

EXPERIMENT = "triage-classifier"
CHALLENGER = "challenger"

log = logging.getLogger(__name__)


def tracking_uri(settings: Settings) -> str:
    if not settings.mlflow_tracking_uri:
        settings.work_dir.mkdir(parents=True, exist_ok=True)
    return settings.resolved_mlflow_tracking_uri


def configure(settings: Settings, experiment_name: str = EXPERIMENT) -> str:
    """Point MLflow at the configured store and make sure the experiment exists (``triage-classifier``
    unless named); returns its id."""
    for noisy in ("alembic", "mlflow.store.db.utils"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri(settings))
    experiment = mlflow.get_experiment_by_name(experiment_name)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = None
    if not settings.mlflow_tracking_uri or settings.mlflow_tracking_uri.startswith("sqlite"):
        # A local store keeps its artifacts beside it in the work folder; left to MLflow they would land in
        # ./mlruns of whatever folder the command ran in.
        location = (settings.work_dir / "mlartifacts").resolve().as_uri()
    return str(mlflow.create_experiment(experiment_name, artifact_location=location))


def flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested metric dicts as MLflow keys (``test.per_language.de.tier_macro_f1``); Nones dropped."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float) and math.isfinite(float(value)):
            out[name] = float(value)
    return out


def set_challenger(version: str, description: str) -> None:
    """Describe a registered model version and point the ``challenger`` alias at it."""
    client = MlflowClient()
    client.update_model_version(REGISTERED_MODEL, version, description=description)
    client.set_registered_model_alias(REGISTERED_MODEL, CHALLENGER, version)
