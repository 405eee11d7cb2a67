"""Finding and loading the model to serve: an artifact folder by path, or a version from the MLflow
registry by alias (``champion``; ``challenger`` or another alias only when configured as the fallback).

Registry versions are downloaded once into ``$TRIAGE_WORK_DIR/serving/models/v<version>`` and reused on
restart. Only MLflow's client is needed (no torch): the registered pyfunc model carries the artifact
folder as its ``artifact`` artifact.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from model.artifact import ARTIFACT_FILE, REGISTERED_MODEL, REGISTRY_ARTIFACT_KEY, ArtifactMeta
from model.scorer import ArtifactError, Scorer
from model.settings import Settings
from model.taxonomy import get_taxonomy

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """No model could be loaded; the message says what to do."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    scorer: Scorer
    name: str
    #: The registry version ("3") when loaded from the registry, else the artifact's own version (run name).
    version: str
    #: Where it came from: ``models:/triage-classifier@champion`` or a folder.
    source: str
    languages: frozenset[str]


def load_model(settings: Settings) -> LoadedModel:
    if settings.model_path is not None:
        folder = settings.model_path
        return _load(folder, version=None, source=str(folder), settings=settings)
    version, alias = _resolve_alias(settings)
    folder = _download(version, settings)
    return _load(folder, version=version, source=f"models:/{REGISTERED_MODEL}@{alias}", settings=settings)


def _load(folder: Path, version: str | None, source: str, settings: Settings) -> LoadedModel:
    if not (folder / ARTIFACT_FILE).is_file():
        raise ModelLoadError(f"{folder}: not a model artifact (no {ARTIFACT_FILE}); "
                             "export one with `triage export` or point TRIAGE_MODEL_PATH at one")
    try:
        scorer = Scorer(folder, threads=settings.score_threads)
    except (ArtifactError, ValueError) as exc:
        raise ModelLoadError(f"{folder}: cannot load the artifact: {exc}") from exc
    except Exception as exc:  # onnxruntime raises its own exception types for a corrupt model file
        raise ModelLoadError(f"{folder}: cannot load the model file: {type(exc).__name__}: {exc}") from exc
    meta = scorer.meta
    taxonomy = get_taxonomy()
    if meta.taxonomy_version != taxonomy.version:
        raise ModelLoadError(f"{folder}: the model was trained on taxonomy {meta.taxonomy_version}; "
                             f"this service has taxonomy {taxonomy.version}")
    if meta.tier_labels != taxonomy.tier_names or sorted(meta.area_labels) != sorted(taxonomy.area_names):
        raise ModelLoadError(f"{folder}: the model's labels do not match taxonomy {taxonomy.version}")
    return LoadedModel(scorer=scorer, name=meta.name, version=version or meta.version, source=source,
                       languages=frozenset(meta.languages))


def _quiet_mlflow() -> None:
    """MLflow installs its own plain-text handler at import; route its warnings through ours instead."""
    logger = logging.getLogger("mlflow")
    logger.handlers[:] = []
    logger.propagate = True
    logger.setLevel(logging.WARNING)


def _resolve_alias(settings: Settings) -> tuple[str, str]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    _quiet_mlflow()

    uri = settings.resolved_mlflow_tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    aliases = [settings.model_alias]
    if settings.model_fallback_alias and settings.model_fallback_alias != settings.model_alias:
        aliases.append(settings.model_fallback_alias)
    for alias in aliases:
        try:
            version = client.get_model_version_by_alias(REGISTERED_MODEL, alias)
        except MlflowException as exc:
            log.info("registry: no %s@%s (%s)", REGISTERED_MODEL, alias, exc.error_code)
            continue
        if alias != settings.model_alias:
            log.warning("registry: no %s@%s; serving the fallback alias %s (version %s)",
                        REGISTERED_MODEL, settings.model_alias, alias, version.version)
        return str(version.version), alias
    hint = "" if settings.model_fallback_alias else " or set TRIAGE_MODEL_FALLBACK_ALIAS=challenger"
    raise ModelLoadError(
        f"the MLflow registry at {settings.resolved_mlflow_tracking_uri} has no version of {REGISTERED_MODEL} "
        f"with alias {' or '.join(aliases)}; promote one{hint}, or set TRIAGE_MODEL_PATH to an artifact folder"
    )


def _download(version: str, settings: Settings) -> Path:
    """The artifact folder of a registry version, downloaded on first use: only what serving reads
    (``artifact.json``, the int8 model, the tokenizer), not the fp32 model beside them."""
    import yaml
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    dest = settings.serving_cache_dir / f"v{version}"
    if (dest / ARTIFACT_FILE).is_file():
        return dest
    settings.serving_cache_dir.mkdir(parents=True, exist_ok=True)
    uri = settings.resolved_mlflow_tracking_uri
    # The version's own location, not a models:/ URI (MLflow resolves those against the process-wide
    # registry URI, whatever this server was configured with).
    source = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_download_uri(REGISTERED_MODEL, version)
    source = source.rstrip("/")
    with tempfile.TemporaryDirectory(dir=settings.serving_cache_dir) as tmp:
        def fetch(path: str) -> Path:
            return Path(download_artifacts(artifact_uri=f"{source}/{path}", dst_path=tmp, tracking_uri=uri))

        mlmodel = yaml.safe_load(fetch("MLmodel").read_text(encoding="utf-8"))
        try:
            folder = mlmodel["flavors"]["python_function"]["artifacts"][REGISTRY_ARTIFACT_KEY]["path"]
        except (KeyError, TypeError) as exc:
            raise ModelLoadError(f"registry version {version} of {REGISTERED_MODEL} holds no "
                                 f"{REGISTRY_ARTIFACT_KEY!r} artifact folder") from exc
        meta = ArtifactMeta.load(fetch(f"{folder}/{ARTIFACT_FILE}").parent)
        staged = Path(tmp) / "staged"
        staged.mkdir()
        for name in (ARTIFACT_FILE, meta.files.model, meta.files.tokenizer):
            shutil.move(fetch(f"{folder}/{name}"), staged / name)
        shutil.rmtree(dest, ignore_errors=True)
        staged.rename(dest)  # same file system: an atomic move, so a half download is never used
    return dest
