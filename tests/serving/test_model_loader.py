"""Which model a server loads: a folder by path, or a registry version by alias; refusals say why."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from model.registry import ModelLoadError
from model.settings import Settings
from model.taxonomy import get_taxonomy
from serving.model_loader import load_model

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_champion(registry: Settings) -> Iterator[Settings]:
    """The registry with only the challenger alias, as before any promotion; champion is put back after."""
    from mlflow import MlflowClient

    from model.artifact import REGISTERED_MODEL

    uri = registry.resolved_mlflow_tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.delete_registered_model_alias(REGISTERED_MODEL, "champion")
    try:
        yield registry
    finally:
        client.set_registered_model_alias(REGISTERED_MODEL, "champion", "1")


def serving(registry: Settings, tmp_path: Path, **overrides: object) -> Settings:
    """The registry's settings with a fresh download cache."""
    return registry.model_copy(update={"work_dir": tmp_path / "var", **overrides})


def test_a_folder_is_served_by_path(tiny_artifact: Path, tmp_path: Path) -> None:
    meta = json.loads((tiny_artifact / "artifact.json").read_text())
    model = load_model(Settings(work_dir=tmp_path, model_path=tiny_artifact))
    assert model.version == meta["version"] == "tiny"
    assert model.source == str(tiny_artifact)
    assert model.languages == frozenset(meta["languages"])
    assert model.scorer.score(["hello"])[0].tier in get_taxonomy().tier_names


def test_the_champion_is_served_from_the_registry(registry: Settings, tmp_path: Path) -> None:
    model = load_model(serving(registry, tmp_path))
    assert model.version == "1"
    assert model.source == "models:/triage-classifier@champion"
    assert model.languages == {"en"}
    cached = tmp_path / "var" / "serving" / "models" / "v1"
    # Only what serving reads: not the fp32 model, not the pyfunc wrapper.
    assert sorted(p.name for p in cached.iterdir()) == ["artifact.json", "model.onnx", "tokenizer.json"]
    assert model.scorer.score(["hello"])[0].tier in get_taxonomy().tier_names


def test_a_downloaded_version_is_reused_on_restart(
    registry: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow.artifacts

    settings = serving(registry, tmp_path)
    load_model(settings)
    cached = tmp_path / "var" / "serving" / "models" / "v1"
    before = {p.name: p.stat().st_mtime_ns for p in cached.iterdir()}

    def no_download(**kwargs: object) -> str:
        raise AssertionError(f"downloaded again: {kwargs}")

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", no_download)
    model = load_model(settings)
    assert model.version == "1"
    assert {p.name: p.stat().st_mtime_ns for p in cached.iterdir()} == before
    assert sorted(p.name for p in cached.parent.iterdir()) == ["v1"]  # no leftover staging folder


def test_without_a_champion_the_fallback_must_be_configured(no_champion: Settings, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as error:
        load_model(serving(no_champion, tmp_path))
    message = str(error.value)
    assert "champion" in message and "TRIAGE_MODEL_FALLBACK_ALIAS" in message
    assert not (tmp_path / "var" / "serving" / "models").exists()  # nothing downloaded

    model = load_model(serving(no_champion, tmp_path, model_fallback_alias="challenger"))
    assert model.version == "2"
    assert model.source == "models:/triage-classifier@challenger"


def test_a_configured_fallback_that_names_nothing_is_refused(no_champion: Settings, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as error:
        load_model(serving(no_champion, tmp_path, model_fallback_alias="staging"))
    assert "champion or staging" in str(error.value)
    assert "TRIAGE_MODEL_PATH" in str(error.value)


def test_the_alias_wins_over_the_fallback(registry: Settings, tmp_path: Path) -> None:
    model = load_model(serving(registry, tmp_path, model_fallback_alias="challenger"))
    assert model.version == "1"
    assert model.source == "models:/triage-classifier@champion"


def test_a_folder_without_artifact_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a model artifact") as error:
        load_model(Settings(work_dir=tmp_path / "var", model_path=tmp_path))
    assert str(tmp_path) in str(error.value)


def copy_of(tiny_artifact: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "artifact"
    shutil.copytree(tiny_artifact, folder, ignore=shutil.ignore_patterns("model.fp32.onnx"))
    return folder


def test_a_corrupt_model_file_is_refused_naming_the_folder(tiny_artifact: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_artifact, tmp_path)
    (folder / "model.onnx").write_bytes(b"not an onnx model at all")
    with pytest.raises(ModelLoadError) as error:
        load_model(Settings(work_dir=tmp_path / "var", model_path=folder))
    assert str(folder) in str(error.value)


def test_a_model_of_another_taxonomy_is_refused(tiny_artifact: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny_artifact, tmp_path)
    meta = json.loads((folder / "artifact.json").read_text())
    current = get_taxonomy().version
    assert meta["taxonomy_version"] == current != "0.9.0"
    (folder / "artifact.json").write_text(json.dumps({**meta, "taxonomy_version": "0.9.0"}))
    with pytest.raises(ModelLoadError) as error:
        load_model(Settings(work_dir=tmp_path / "var", model_path=folder))
    assert "0.9.0" in str(error.value) and current in str(error.value)


def test_serving_imports_no_torch(tiny_artifact: Path, tmp_path: Path) -> None:
    script = f"""
import sys
from pathlib import Path
from model.settings import Settings
from serving.app import create_app
from serving.model_loader import load_model
settings = Settings(work_dir=Path({str(tmp_path / "var")!r}), model_path=Path({str(tiny_artifact)!r}),
                    database_url={f"sqlite:///{tmp_path / 't.db'}"!r})
create_app(settings)
print(load_model(settings).scorer.score(["hello"])[0].tier)
print(sorted(m for m in ("torch", "transformers", "pandas") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    tier, imported = result.stdout.strip().splitlines()[-2:]
    assert tier in get_taxonomy().tier_names
    assert imported == "[]"
