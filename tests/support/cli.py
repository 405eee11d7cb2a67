"""The command line, as a user runs it: ``python -m triage`` in a subprocess, from the repository root."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO


def triage(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m triage ARGS`` with ``env``, its output captured as text; fails after ``timeout`` seconds."""
    return subprocess.run([sys.executable, "-m", "triage", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
