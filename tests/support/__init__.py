"""Helpers the tests share (never fixtures, never tests): import them from here, not from another test module
or a conftest.py.

- ``tests.support.server``: a free port, waiting for ``/ready``, a live ``python -m triage serve`` process.
- ``tests.support.cli``: running ``python -m triage`` as a subprocess.
- ``tests.support.api``: an app in a TestClient with an API key of each role (``Keys``).
- ``tests.support.database``: a throwaway PostgreSQL database.
- ``tests.support.redis_server``: a Redis server (skipped where none answers, failed in CI).
- ``tests.support.registry``: an MLflow registry holding given artifact folders.
- ``tests.support.bulk``: the reports and file formats of the bulk scoring tests.
- ``tests.support.docker``: the Dockerfiles' instructions, parsed.

Fixtures shared across folders live in ``tests/conftest.py``; the test data factory is ``tests.factories``.
"""

from __future__ import annotations

from pathlib import Path

#: The repository root (the working directory of every ``python -m triage`` a test starts).
REPO = Path(__file__).resolve().parents[2]
