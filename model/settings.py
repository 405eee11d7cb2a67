"""Typed settings, read once from the environment (prefix ``TRIAGE_``) and a ``.env`` file.

Paths default to places beside the checkout so that a first run needs no configuration:
``../shared/datasets`` for the bundled datasets, ``./var`` for everything the project writes (ignored by
git). Tests build their own ``Settings`` instead of touching the environment.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", env_file=".env", extra="ignore")

    datasets_dir: Path = Field(
        default=Path("../shared/datasets"),
        description="Folder holding the bundled third-party datasets, one sub-folder per source.",
    )
    work_dir: Path = Field(
        default=Path("var"),
        description="Where the project writes what it builds: corpus, models, tracking store, caches.",
    )
    data_cards_dir: Path = Field(
        default=Path("data_cards"),
        description="Where generated data and model cards are written.",
    )

    mlflow_tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking server URI; by default a SQLite store at $TRIAGE_WORK_DIR/mlflow.db.",
    )

    @property
    def corpus_dir(self) -> Path:
        return self.work_dir / "corpus"

    @property
    def cache_dir(self) -> Path:
        return self.work_dir / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.work_dir / "runs"

    @property
    def models_dir(self) -> Path:
        return self.work_dir / "models"


@cache
def get_settings() -> Settings:
    return Settings()
