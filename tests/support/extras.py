"""Tests that need an optional extra (Ray from ``batch``, ...): skipped, visibly and naming the extra, where it
is not installed; never skipped in CI (``CI=true``: CI installs the dev extra, which includes every extra),
where a missing extra fails them instead."""

from __future__ import annotations

import importlib.util
import os
from functools import cache

import pytest


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


@cache
def missing(module: str, extra: str) -> str | None:
    """Why ``module`` cannot be used here (it is not installed), or None when it is. Only looked up, not
    imported: collecting the tests stays quick, and an installed module that fails to import is a failure."""
    try:
        if importlib.util.find_spec(module) is not None:
            return None
    except (ImportError, ValueError):
        pass
    return (f"{module} is not installed: it comes with the `{extra}` extra "
            f"(pip install -e '.[{extra}]', or the dev extra, which includes it)")


def needs_extra(module: str, *, extra: str) -> pytest.MarkDecorator:
    """A mark for tests that need ``module``: where it is missing they are skipped with the reason, except in
    CI, where they run (and ``require_extra`` in their fixture fails them)."""
    reason = missing(module, extra)
    return pytest.mark.skipif(reason is not None and not in_ci(), reason=reason or f"{module} is installed")


def require_extra(module: str, *, extra: str) -> None:
    """Fail (in CI, where ``needs_extra`` does not skip) when ``module`` is missing, naming the extra."""
    reason = missing(module, extra)
    if reason is not None:
        pytest.fail(f"CI=true, and {reason}" if in_ci() else reason, pytrace=False)
