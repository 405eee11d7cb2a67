"""A throwaway PostgreSQL database (``TRIAGE_TEST_POSTGRES_URL`` names the server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards (a generator: ``yield from`` it in a
    fixture). Skipped without TRIAGE_TEST_POSTGRES_URL, except with TRIAGE_REQUIRE_POSTGRES=1 (then it fails)."""
    postgres_url = os.environ.get("TRIAGE_TEST_POSTGRES_URL")
    if not postgres_url:
        if os.environ.get("TRIAGE_REQUIRE_POSTGRES") == "1":
            pytest.fail("TRIAGE_REQUIRE_POSTGRES=1 but TRIAGE_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server: set TRIAGE_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"triage_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
