"""MLflow, in one place: the tracking store that every training, export, evaluation and promotion run logs to,
and the model registry that holds the exported artifacts.

The default store is a local SQLite database under the work folder (no server needed);
``TRIAGE_MLFLOW_TRACKING_URI`` points at a real MLflow server instead. Training and export runs go to the
experiment ``triage-classifier``; an exported artifact is registered as a version of ``triage-classifier``
(a pyfunc model carrying the artifact folder, ``model/pyfunc_model.py``) and gets the alias ``challenger``.
Promotion moves ``champion`` (the replaced version keeps ``previous_champion``); serving resolves an alias to a
version and downloads only what it reads.

Only MLflow's client is needed here (``mlflow-skinny`` in the serving install), imported inside the functions
so that importing this module costs nothing. The tracking URI may carry a password, so messages name it
through ``redact`` only.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model.artifact import ARTIFACT_FILE, REGISTERED_MODEL, REGISTRY_ARTIFACT_KEY, ArtifactMeta
from model.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: The experiment of training and export runs.
EXPERIMENT = "triage-classifier"
CHALLENGER = "challenger"
#: The pyfunc model logged for each registered version, and where it sits in its run.
PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")
PYFUNC_PATH = "model"
#: What loading the pyfunc needs; listed explicitly so MLflow does not import-scan the environment.
PYFUNC_REQUIREMENTS = ["onnxruntime", "tokenizers", "numpy", "pandas", "pydantic"]

log = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """No model could be loaded; the message says what to do."""


class RegistryUnavailable(ModelLoadError):
    """The registry did not answer (as opposed to answering that no version has the alias)."""


class AliasConflict(RuntimeError):
    """An alias moved between reading it and moving it (another promotion ran meanwhile)."""


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


def previous_alias(champion: str) -> str:
    """The alias a replaced champion keeps: ``previous_champion``."""
    return f"previous_{champion}"


# --- Tracking ---------------------------------------------------------------------------------------------


def tracking_uri(settings: Settings) -> str:
    if not settings.mlflow_tracking_uri:
        settings.work_dir.mkdir(parents=True, exist_ok=True)
    return settings.resolved_mlflow_tracking_uri


def client(settings: Settings) -> MlflowClient:
    """A client of the configured tracking store and registry (the same URI for both)."""
    from mlflow import MlflowClient

    uri = tracking_uri(settings)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def configure(settings: Settings, experiment_name: str = EXPERIMENT) -> str:
    """Point MLflow at the configured store and make sure the experiment exists (``triage-classifier``
    unless named); returns its id."""
    import mlflow

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


# --- Registering ------------------------------------------------------------------------------------------


def register_artifact(artifact_dir: Path) -> str:
    """Log the artifact folder as a pyfunc model in the active run and register it as a new version of
    ``triage-classifier``; returns the version."""
    import mlflow.pyfunc

    info = mlflow.pyfunc.log_model(
        name=PYFUNC_PATH,
        python_model=str(PYFUNC_FILE),
        artifacts={REGISTRY_ARTIFACT_KEY: str(artifact_dir)},
        pip_requirements=PYFUNC_REQUIREMENTS,
        registered_model_name=REGISTERED_MODEL,
    )
    return str(info.registered_model_version)


def set_challenger(version: str, description: str) -> None:
    """Describe a registered version and point the ``challenger`` alias at it (in the active store)."""
    from mlflow import MlflowClient

    registry = MlflowClient()
    registry.update_model_version(REGISTERED_MODEL, version, description=description)
    registry.set_registered_model_alias(REGISTERED_MODEL, CHALLENGER, version)


def tag_version(settings: Settings, version: str, key: str, value: str) -> None:
    client(settings).set_model_version_tag(REGISTERED_MODEL, version, key, value)


# --- Aliases ----------------------------------------------------------------------------------------------


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
        registry = MlflowClient(tracking_uri=uri, registry_uri=uri)
        for alias in aliases:
            try:
                version = registry.get_model_version_by_alias(REGISTERED_MODEL, alias)
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


def alias_version(settings: Settings, alias: str) -> str | None:
    """The version ``alias`` names now, or None when none has it (no fallback, unlike ``resolve_alias``)."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client(settings).get_model_version_by_alias(REGISTERED_MODEL, alias).version)
    except MlflowException:
        return None


def move_champion(settings: Settings, *, expected: str | None, version: str, alias: str) -> None:
    """Point ``alias`` at ``version``, the version it named (``expected``) keeping ``previous_<alias>``.
    Raises ``AliasConflict`` when the alias no longer names ``expected`` (it moved since it was read)."""
    now = alias_version(settings, alias)
    if now != expected:
        raise AliasConflict(f"the {alias} alias moved while the guard was judging (version {expected} "
                            f"then, {now} now); run triage promote again")
    registry = client(settings)
    if expected is not None:  # first, so that a failure here leaves the served model as it was
        registry.set_registered_model_alias(REGISTERED_MODEL, previous_alias(alias), expected)
    registry.set_registered_model_alias(REGISTERED_MODEL, alias, version)


def swap_back(settings: Settings, *, alias: str, previous: str, current: str | None) -> None:
    """Roll ``alias`` back to ``previous``; the version it named (``current``) takes ``previous_<alias>``."""
    registry = client(settings)
    registry.set_registered_model_alias(REGISTERED_MODEL, alias, previous)
    if current is not None:
        registry.set_registered_model_alias(REGISTERED_MODEL, previous_alias(alias), current)


# --- Downloading ------------------------------------------------------------------------------------------


def download_version(version: str, settings: Settings) -> Path:
    """The artifact folder of a registry version, downloaded on first use into
    ``$TRIAGE_WORK_DIR/serving/models/v<version>`` and reused after: only what serving reads
    (``artifact.json``, the int8 model, the tokenizer), not the fp32 model beside them."""
    import yaml
    from mlflow.artifacts import download_artifacts

    dest = settings.serving_cache_dir / f"v{version}"
    if (dest / ARTIFACT_FILE).is_file():
        return dest
    settings.serving_cache_dir.mkdir(parents=True, exist_ok=True)
    uri = settings.resolved_mlflow_tracking_uri
    # The version's own location, not a models:/ URI (MLflow resolves those against the process-wide
    # registry URI, whatever this server was configured with).
    source = client(settings).get_model_version_download_uri(REGISTERED_MODEL, version).rstrip("/")
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
