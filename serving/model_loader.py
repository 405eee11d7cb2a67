"""Finding and loading the model to serve: an artifact folder by path, or a version from the MLflow
registry by alias (``champion``; ``challenger`` or another alias only when configured as the fallback).

The registry itself (resolving an alias, downloading a version once into the work folder) is
``model.registry``; this module checks what it loads against the service's taxonomy. A running server polls
the registry (``serving.app``): ``resolve_alias`` answers cheaply which version the alias chain names now,
``load_registry_version`` downloads and checks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.artifact import ARTIFACT_FILE
from model.registry import ModelLoadError, download_version, registry_source, resolve_alias
from model.scorer import ArtifactError, Scorer
from model.settings import Settings
from model.taxonomy import get_taxonomy


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
    folder = download_version(version, settings)
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
