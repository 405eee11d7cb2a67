"""``triage oncall check`` and ``triage oncall show``: the on-call rotas of ``TRIAGE_ON_CALL_ROTA_DIR``, checked as
the server checks them at start-up, and asked who is on call. Registered in ``triage/cli.py`` as ``oncall``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from model.cli_support import fail, parse_instant
from model.settings import get_settings

if TYPE_CHECKING:
    from serving.oncall import Rota

oncall_app = typer.Typer(help="On-call rotas (TRIAGE_ON_CALL_ROTA_DIR): check them, ask who is on call.",
                         no_args_is_help=True)


def _rotas() -> dict[str, Rota]:
    """The rotas as the server loads them; a bad policy or rota file ends the command with its message."""
    from serving.oncall import RotaError, load_rotas
    from serving.policy import PolicyError, load_policy

    settings = get_settings()
    try:
        return load_rotas(settings.on_call_rota_dir, load_policy(settings.routing_policy))
    except (PolicyError, RotaError) as exc:
        fail(str(exc))


def _instant(value: str | None) -> datetime:
    return datetime.now(UTC) if value is None else parse_instant("--at", value)


@oncall_app.command("check")
def oncall_check() -> None:
    """Validate every rota file against the routing policy, as the server does at start-up (exit status 2 and
    the file and key when one is wrong)."""
    settings = get_settings()
    rotas = _rotas()
    if settings.on_call_rota_dir is None:
        typer.echo("TRIAGE_ON_CALL_ROTA_DIR is unset: pages are sent with no on-call contact")
        return
    for queue, rota in sorted(rotas.items()):
        typer.echo(f"{queue}: {len(rota.contacts)} contacts, {len(rota.shifts)} shifts, "
                   f"{len(rota.overrides)} overrides, timezone {rota.timezone}")


@oncall_app.command("show")
def oncall_show(
    queue: Annotated[str, typer.Option(help="The queue (its rota file is QUEUE.toml).")],
    at: Annotated[str | None, typer.Option(help="When, ISO 8601 (without an offset: UTC). Default: now.")] = None,
) -> None:
    """Who is on call for a queue, now or at --at, and why (override, shift or fallback)."""
    from serving.oncall import on_call

    rotas = _rotas()
    if queue not in rotas:
        fail(f"no rota for queue {queue!r} (rotas: {', '.join(sorted(rotas)) or 'none'})")
    when = _instant(at)
    duty = on_call(rotas[queue], when)
    local = when.astimezone(rotas[queue].zone)
    typer.echo(f"{queue} at {local.isoformat(timespec='minutes')} ({rotas[queue].timezone}): {duty.name} "
               f"<{duty.handle}> via {duty.via}")
