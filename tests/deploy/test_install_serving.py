"""What the serving image installs, installed here: the Dockerfile's build stage runs `deploy/install-serving.sh`
on a copy of what it COPYs; this does the same into a temporary folder, then runs the image's commands from the
result (`triage --help`, `triage db upgrade`, `triage keys create`, `triage serve` with the tiny model) and
checks that neither torch nor transformers is there. The install alone took 1.5 to 5 minutes on the shared
2-core machine (pip builds and installs the `serve` extra), hence `slow`: CI runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import REPO
from tests.support.docker import INSTALL_SCRIPT, instructions
from tests.support.server import live_server, wait_ready

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Installed:
    venv: Path
    source: Path
    seconds: float

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would let the checkout leak into the installed one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    return {**env, **extra}


def copy_build_context(dest: Path) -> None:
    """What the Dockerfile's build stage COPYs from the context, copied the same way (``COPY a b ./`` and
    ``COPY dir ./dir``), caches left out as .dockerignore leaves them out."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for instruction in instructions(REPO / "Dockerfile"):
        if instruction.stage != 0 or instruction.keyword != "COPY" or instruction.arguments.startswith("--"):
            continue
        *sources, target = instruction.arguments.split()
        for source in sources:
            origin = REPO / source
            to = dest / target / source if target.endswith("/") else dest / target
            if origin.is_dir():
                shutil.copytree(origin, to, ignore=ignore)
            else:
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, to)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("image")
    source = root / "src"
    copy_build_context(source)
    assert (source / INSTALL_SCRIPT).is_file(), "the Dockerfile copies the install script into the build stage"
    venv = root / "venv"
    started = time.monotonic()
    # Exactly the Dockerfile's `RUN sh deploy/install-serving.sh /opt/venv /src`, run from WORKDIR /src.
    result = subprocess.run(["sh", INSTALL_SCRIPT, str(venv), str(source)], cwd=source,
                            env=clean_env(PYTHON=sys.executable), capture_output=True, text=True, timeout=1200)
    seconds = time.monotonic() - started
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "serving environment ready" in result.stdout
    print(f"\ninstall-serving.sh took {seconds:.0f} s")
    return Installed(venv, source, seconds)


def test_the_script_refuses_a_wrong_source_folder(tmp_path: Path) -> None:
    result = subprocess.run(["sh", str(REPO / INSTALL_SCRIPT), str(tmp_path / "venv"), str(tmp_path)],
                            env=clean_env(PYTHON=sys.executable), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "pyproject.toml not found" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_the_cli_of_the_image_lists_its_commands(installed: Installed, tmp_path: Path) -> None:
    result = subprocess.run([installed.bin("triage"), "--help"], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("serve", "keys", "db"):
        assert command in result.stdout


def test_the_installed_serving_path_has_no_torch_and_no_transformers(installed: Installed, tiny_artifact: Path,
                                                                     tmp_path: Path) -> None:
    script = f"""
import importlib.util, sys
from pathlib import Path
print(sorted(m for m in ("torch", "transformers") if importlib.util.find_spec(m) is not None))
import serving
from model.settings import Settings
from serving.app import create_app
from serving.model_loader import load_model
settings = Settings(work_dir=Path("var"), model_path=Path({str(tiny_artifact)!r}),
                    database_url="sqlite:///" + str(Path("t.db").resolve()))
create_app(settings)
print(load_model(settings).scorer.score(["hello there"])[0].tier)
print(sorted(m for m in ("torch", "transformers", "pyarrow") if m in sys.modules))
print(serving.__file__)
"""
    result = subprocess.run([installed.bin("python"), "-c", script], cwd=tmp_path, env=clean_env(),
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    installable, tier, imported, location = result.stdout.strip().splitlines()[-4:]
    assert installable == "[]", "torch or transformers is installed in the serving environment"
    assert tier in {"low", "medium", "high"}
    assert imported == "[]"
    assert Path(location).is_relative_to(installed.venv), "the installed copy was tested, not the checkout"


@pytest.fixture
def served(installed: Installed, tiny_artifact: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`triage db upgrade`, `triage keys create` and `triage serve` from the installed environment, as the
    image runs them: (base URL, intake key)."""
    env = clean_env(TRIAGE_WORK_DIR=str(tmp_path / "var"), TRIAGE_MODEL_PATH=str(tiny_artifact),
                    TRIAGE_DATABASE_URL=f"sqlite:///{tmp_path / 'triage.db'}", TRIAGE_LOG_FORMAT="json")
    upgrade = subprocess.run([installed.bin("triage"), "db", "upgrade"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    created = subprocess.run([installed.bin("triage"), "keys", "create", "--name", "ci", "--role", "intake"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1].strip()
    assert key.startswith("trg_")
    with live_server(env, tmp_path / "server.log", command=[installed.bin("triage")], cwd=tmp_path,
                     ready_path="/health", timeout=120) as server:
        yield server.base, key


def test_the_installed_server_answers_health_ready_and_scores(served: tuple[str, str]) -> None:
    base, key = served
    assert httpx.get(f"{base}/health", timeout=5).json() == {"status": "ok"}
    wait_ready(base, 60, poll=0.25)
    answer = httpx.post(f"{base}/v1alpha1/comments:analyze", params={"key": key}, timeout=30,
                        json={"comment": {"text": "thanks, that was helpful"}, "languages": ["en"],
                              "requestedAttributes": {"TOXICITY": {}}})
    assert answer.status_code == 200, answer.text
    assert 0 <= answer.json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] <= 1
