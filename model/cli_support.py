"""Small helpers shared by the CLI's command modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``: no traceback for a user's mistake."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_instant(option: str, value: str) -> datetime:
    """``value``, given to ``option``, as an ISO 8601 date (midnight) or datetime, UTC unless it names a zone; a
    CLI error naming the option when it is neither."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not an ISO 8601 date or datetime (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
