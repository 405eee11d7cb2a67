"""Finding and loading the model to serve: an artifact folder by path, or a version from the MLflow
registry by alias (``champion``; ``challenger`` or another alias only when configured as the fallback).

Registry versions are downloaded once into ``$TRIAGE_WORK_DIR/serving/models/v<version>`` and reused on
restart. Only MLflow's client is needed (no torch): the registered pyfunc model carries the artifact
folder as its ``artifact`` artifact.

A running server polls the registry (``serving.app``): ``resolve_alias`` answers cheaply which version the
alias chain names now, ``load_registry_version`` downloads and checks one. The tracking URI may carry a
password, so messages name it through ``redact`` only.
"""

from __future__ import annotations

import logging
import re
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


class RegistryUnavailable(ModelLoadError):
    """The registry did not answer (as opposed to answering that no version has the alias)."""


#: MLflow's answers to "no such alias" and "no such registered model"; any other error is the registry failing.
_NOT_FOUND = frozenset({"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]+@")


def redact(text: str) -> str:
    """``text`` with the user and password of any URL in it replaced by ``***`` (the tracking URI may hold a
    password, and MLflow repeats the URL in its error messages)."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def registry_source(alias: str) -> str:
    """How a registry model's origin is reported: ``models:/triage-classifier@champion``."""
    return f"models:/{REGISTERED_MODEL}@{alias}"


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
    version, alias = resolve_alias(settings)
    return load_registry_version(settings, version, alias)


def load_registry_version(settings: Settings, version: str, alias: str) -> LoadedModel:
    """Registry ``version`` (reached through ``alias``), downloaded on first use and checked like any model."""
    folder = _download(version, settings)
    return _load(folder, version=version, source=registry_source(alias), settings=settings)


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


def resolve_alias(settings: Settings, *, quiet: bool = False) -> tuple[str, str]:
    """(registry version, alias) that ``model_alias``, else the configured fallback, names now; nothing is
    downloaded. ``quiet`` (the poller, every few seconds) logs the lookups at DEBUG.

    Raises ``ModelLoadError`` when neither alias names a version, ``RegistryUnavailable`` when the registry
    fails to answer."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    _quiet_mlflow()
    info, warning = (logging.DEBUG, logging.DEBUG) if quiet else (logging.INFO, logging.WARNING)

    uri = settings.resolved_mlflow_tracking_uri
    aliases = [settings.model_alias]
    if settings.model_fallback_alias and settings.model_fallback_alias != settings.model_alias:
        aliases.append(settings.model_fallback_alias)
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        for alias in aliases:
            try:
                version = client.get_model_version_by_alias(REGISTERED_MODEL, alias)
            except MlflowException as exc:
                if exc.error_code not in _NOT_FOUND:
                    raise
                log.log(info, "registry: no %s@%s (%s)", REGISTERED_MODEL, alias, exc.error_code)
                continue
            if alias != settings.model_alias:
                log.log(warning, "registry: no %s@%s; serving the fallback alias %s (version %s)",
                        REGISTERED_MODEL, settings.model_alias, alias, version.version)
            return str(version.version), alias
    except Exception as exc:  # MLflow, SQLAlchemy or network errors: the registry itself is failing
        raise RegistryUnavailable(f"the MLflow registry at {redact(uri)} did not answer: "
                                  f"{type(exc).__name__}: {redact(str(exc))}") from exc
    hint = "" if settings.model_fallback_alias else " or set TRIAGE_MODEL_FALLBACK_ALIAS=challenger"
    raise ModelLoadError(
        f"the MLflow registry at {redact(uri)} has no version of {REGISTERED_MODEL} "
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
