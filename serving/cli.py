"""``triage serve``, ``triage keys ...``, ``triage db ...`` and ``triage decisions ...``. Heavy imports happen
inside commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from model.cli_support import fail
from model.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

keys_app = typer.Typer(help="API keys: create, list, revoke. A key is shown once, when created.",
                       no_args_is_help=True)
db_app = typer.Typer(help="The service database: migrations.", no_args_is_help=True)
decisions_app = typer.Typer(help="Reviewer decisions: export them as training data.", no_args_is_help=True)


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).")] = 1,
) -> None:
    """Run the scoring API under uvicorn (model from TRIAGE_MODEL_PATH or the MLflow registry alias)."""
    import uvicorn

    from serving.logs import configure_logging
    from serving.policy import PolicyError, load_policy

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        load_policy(settings.routing_policy)
    except PolicyError as exc:
        fail(str(exc))
    if settings.model_path is not None and not (settings.model_path / "artifact.json").is_file():
        fail(f"{settings.model_path}: TRIAGE_MODEL_PATH is not a model artifact folder (no artifact.json)")
    uvicorn.run("serving.app:app_from_env", factory=True, host=host, port=port, workers=workers, log_config=None,
                access_log=False, proxy_headers=False, timeout_graceful_shutdown=10)


def _sessions() -> sessionmaker[Session]:
    from serving.db.engine import make_engine, make_sessionmaker, upgrade

    engine = make_engine(get_settings().resolved_database_url)
    upgrade(engine)
    return make_sessionmaker(engine)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key (e.g. intake-web, alice).")],
    role: Annotated[str, typer.Option(help="intake, reviewer or admin.")],
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from serving.auth import Role, create_key
    from serving.db.engine import transaction

    try:
        parsed = Role(role)
    except ValueError:
        fail(f"--role: {role!r} is not a role; choose intake, reviewer or admin")
    if not name.strip() or len(name) > 128:
        fail("--name: give 1 to 128 characters")
    with transaction(_sessions()) as session:
        key = create_key(session, name.strip(), parsed)
    typer.echo(f"created {key.role.value} key {key.key_id} ({key.name}). It is shown once; store it now:",
               err=True)
    typer.echo(key.secret)


@keys_app.command("list")
def keys_list() -> None:
    """Key ids, names, roles and status (never the secrets)."""
    from serving.auth import list_keys

    with _sessions()() as session:
        for row in list_keys(session):
            status = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
            typer.echo(f"{row.key_id}  {row.role:<8}  {status:<24}  {row.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (the part after trg_).")]) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from serving.auth import revoke_key
    from serving.db.engine import transaction

    with transaction(_sessions()) as session:
        if not revoke_key(session, key_id):
            fail(f"no active key with id {key_id!r}")
    typer.echo(f"revoked {key_id}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations to TRIAGE_DATABASE_URL (the server does this at start by default)."""
    from serving.db.engine import current_revision, make_engine, upgrade

    engine = make_engine(get_settings().resolved_database_url)
    upgrade(engine)
    typer.echo(f"database at migration {current_revision(engine)}")


def _parse_since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since: {value!r} is not an ISO 8601 date or datetime (e.g. 2025-01-31 or 2025-01-31T12:00:00Z)")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@decisions_app.command("export")
def decisions_export(
    out: Annotated[Path | None, typer.Option(
        help="JSON Lines file to write [default: $TRIAGE_WORK_DIR/decisions/decisions.jsonl].")] = None,
    since: Annotated[str | None, typer.Option(
        help="Only decisions made at or after this ISO 8601 date or datetime (UTC unless it names a zone).")]
    = None,
) -> None:
    """Write reviewer decisions in the corpus's generic format, for `triage data build --decisions`."""
    from serving.decisions import export_decisions

    since_at = _parse_since(since) if since is not None else None
    path = out or get_settings().work_dir / "decisions" / "decisions.jsonl"
    summary = export_decisions(_sessions(), path, since=since_at)
    typer.echo(f"wrote {summary.written} decisions to {summary.path} ({summary.skipped_no_language} skipped "
               f"without a language, {summary.disagreements} reports with disagreeing reviews at confidence 0.5)")
