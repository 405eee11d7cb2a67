"""Which model a server loads: a folder by path, or a registry version by alias; refusals say why."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.settings import Settings
from serving.model_loader import ModelLoadError, load_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_global_tracking_uri() -> Iterator[None]:
    """Registering models sets MLflow's process-wide tracking URI: put it back for the other tests."""
    yield
    import mlflow

    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def registry(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An MLflow store holding the tiny artifact twice: version 1 (alias champion), version 2 (challenger)."""
    import mlflow
    from mlflow import MlflowClient

    from model.artifact import REGISTERED_MODEL
    from training import tracking
    from training.pyfunc import log_pyfunc

    root = tmp_path_factory.mktemp("registry")
    settings = Settings(work_dir=root / "var", mlflow_tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    tracking.configure(settings)
    versions = []
    for _ in range(2):
        with mlflow.start_run():
            versions.append(log_pyfunc(tiny_artifact))
    client = MlflowClient()
    client.set_registered_model_alias(REGISTERED_MODEL, "champion", versions[0])
    client.set_registered_model_alias(REGISTERED_MODEL, "challenger", versions[1])
    mlflow.set_tracking_uri(None)
    return settings


def serving(registry: Settings, tmp_path: Path, **overrides: object) -> Settings:
    """The registry's settings with a fresh download cache."""
    return registry.model_copy(update={"work_dir": tmp_path / "var", **overrides})


def test_a_folder_is_served_by_path(tiny_artifact: Path, tmp_path: Path) -> None:
    model = load_model(Settings(work_dir=tmp_path, model_path=tiny_artifact))
    assert model.version == "tiny" and model.source == str(tiny_artifact)
    assert model.languages == {"en"}


def test_the_champion_is_served_from_the_registry(registry: Settings, tmp_path: Path) -> None:
    model = load_model(serving(registry, tmp_path))
    assert model.version == "1"
    assert model.source == "models:/triage-classifier@champion"
    cached = tmp_path / "var" / "serving" / "models" / "v1"
    assert sorted(p.name for p in cached.iterdir()) == ["artifact.json", "model.onnx", "tokenizer.json"]
    assert model.scorer.score(["hello"])[0].tier in {"low", "medium", "high"}


def test_a_downloaded_version_is_reused_on_restart(registry: Settings, tmp_path: Path) -> None:
    settings = serving(registry, tmp_path)
    load_model(settings)
    marker = tmp_path / "var" / "serving" / "models" / "v1" / "model.onnx"
    before = marker.stat().st_mtime_ns
    load_model(settings)
    assert marker.stat().st_mtime_ns == before


def test_no_fallback_unless_configured(registry: Settings, tmp_path: Path) -> None:
    settings = serving(registry, tmp_path, model_alias="production")
    with pytest.raises(ModelLoadError) as error:
        load_model(settings)
    assert "production" in str(error.value) and "TRIAGE_MODEL_FALLBACK_ALIAS" in str(error.value)
    model = load_model(serving(registry, tmp_path, model_alias="production", model_fallback_alias="challenger"))
    assert model.version == "2" and model.source.endswith("@challenger")


def test_the_alias_wins_over_the_fallback(registry: Settings, tmp_path: Path) -> None:
    model = load_model(serving(registry, tmp_path, model_fallback_alias="challenger"))
    assert model.version == "1"


def test_a_folder_without_artifact_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a model artifact"):
        load_model(Settings(work_dir=tmp_path, model_path=tmp_path))


def copy_of(tiny_artifact: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "artifact"
    shutil.copytree(tiny_artifact, folder, ignore=shutil.ignore_patterns("model.fp32.onnx"))
    return folder


def test_a_corrupt_model_file_is_refused_naming_the_folder(tiny_artifact: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_artifact, tmp_path)
    (folder / "model.onnx").write_bytes(b"not an onnx model at all")
    with pytest.raises(ModelLoadError) as error:
        load_model(Settings(work_dir=tmp_path, model_path=folder))
    assert str(folder) in str(error.value)


def test_a_model_of_another_taxonomy_is_refused(tiny_artifact: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_artifact, tmp_path)
    meta = json.loads((folder / "artifact.json").read_text())
    (folder / "artifact.json").write_text(json.dumps({**meta, "taxonomy_version": "0.9.0"}))
    with pytest.raises(ModelLoadError) as error:
        load_model(Settings(work_dir=tmp_path, model_path=folder))
    assert "0.9.0" in str(error.value) and "1.0.0" in str(error.value)


def test_serving_imports_no_torch(tiny_artifact: Path, tmp_path: Path) -> None:
    script = f"""
import sys
from pathlib import Path
from model.settings import Settings
from serving.app import create_app
from serving.model_loader import load_model
settings = Settings(work_dir=Path({str(tmp_path)!r}), model_path=Path({str(tiny_artifact)!r}),
                    database_url="sqlite:///{tmp_path}/t.db")
create_app(settings)
load_model(settings).scorer.score(["hello"])
print(sorted(m for m in ("torch", "transformers", "pandas") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
