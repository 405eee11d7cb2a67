"""A bad setting stops any ``triage`` command with a line naming the variable, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # `triage` processes


def run_triage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from triage.cli import main; sys.argv[0] = 'triage'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, cwd=Path(__file__).resolve().parents[2])


def test_an_invalid_setting_is_named_without_its_value_or_a_traceback(tmp_path: Path) -> None:
    result = run_triage("keys", "list", TRIAGE_WORK_DIR=str(tmp_path),
                        TRIAGE_DATABASE_URL="mysql://root:hunter2-secret@db/triage")
    assert result.returncode == 2
    assert "error: TRIAGE_DATABASE_URL:" in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout


def test_every_invalid_setting_gets_its_own_line(tmp_path: Path) -> None:
    result = run_triage("keys", "list", TRIAGE_WORK_DIR=str(tmp_path), TRIAGE_SCORE_THREADS="0",
                        TRIAGE_LOG_LEVEL="LOUD")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split(":")[1].strip() for line in lines] == ["TRIAGE_SCORE_THREADS", "TRIAGE_LOG_LEVEL"]
