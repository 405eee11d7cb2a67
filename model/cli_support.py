"""Small helpers shared by the CLI's command modules."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``: no traceback for a user's mistake."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
