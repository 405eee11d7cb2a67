"""Logging the exported artifact to MLflow as a pyfunc model (defined in ``training/pyfunc_model.py``)."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc

from model.artifact import REGISTERED_MODEL
from model.artifact import REGISTRY_ARTIFACT_KEY as ARTIFACT_KEY

MODEL_FILE = Path(__file__).with_name("pyfunc_model.py")
MODEL_PATH = "model"
#: What loading the pyfunc needs; listed explicitly so MLflow does not import-scan the environment.
PIP_REQUIREMENTS = ["onnxruntime", "tokenizers", "numpy", "pandas", "pydantic"]


def log_pyfunc(artifact_dir: Path) -> str:
    """Log the artifact folder as a pyfunc model in the active run and register it; returns the version."""

    info = mlflow.pyfunc.log_model(
        name=MODEL_PATH,
        python_model=str(MODEL_FILE),
        artifacts={ARTIFACT_KEY: str(artifact_dir)},
        pip_requirements=PIP_REQUIREMENTS,
        registered_model_name=REGISTERED_MODEL,
    )
    return str(info.registered_model_version)
