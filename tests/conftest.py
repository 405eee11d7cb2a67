"""Shared fixtures: a small synthetic datasets folder in the sources' real formats, and the real one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.factories import write_mini_datasets

if TYPE_CHECKING:
    from training.data.build import BuildResult

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_work_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own TRIAGE_WORK_DIR, so nothing a developer built in ./var (a corpus, decisions,
    a tracking store) leaks into a test, and no test writes there."""
    from model.settings import get_settings

    monkeypatch.setenv("TRIAGE_WORK_DIR", str(tmp_path_factory.mktemp("work")))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def mini_datasets(tmp_path: Path) -> Path:
    """A datasets folder holding four sources with a handful of rows each, quirks included."""
    return write_mini_datasets(tmp_path / "datasets")


@pytest.fixture(scope="session")
def real_datasets() -> Path:
    """The bundled datasets (../shared/datasets or TRIAGE_DATASETS_DIR).

    Skipped where they are absent, except in CI (TRIAGE_REQUIRE_DATASETS=1), where that is a failure.
    """
    path = Path(os.environ.get("TRIAGE_DATASETS_DIR", REPO.parent / "shared" / "datasets"))
    if not path.is_dir():
        if os.environ.get("TRIAGE_REQUIRE_DATASETS") == "1":
            pytest.fail(f"{path}: bundled datasets not found, and TRIAGE_REQUIRE_DATASETS=1")
        pytest.skip(f"{path}: bundled datasets not found")
    return path


@pytest.fixture(scope="session")
def real_corpus(real_datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The corpus built from the real datasets, once per test session (about 25 s)."""
    from training.data.build import BuildConfig, build_corpus

    return build_corpus(BuildConfig(datasets_dir=real_datasets, out_dir=tmp_path_factory.mktemp("corpus")))


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete artifact folder: a randomly initialised 2-layer model with the real tokenizer (about 5 s)."""
    from tests.factories import make_tiny_artifact

    folder, _ = make_tiny_artifact(tmp_path_factory.mktemp("tiny") / "artifact")
    return folder
