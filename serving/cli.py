"""``triage serve``, ``triage keys ...``, ``triage db ...``, ``triage decisions ...``, ``triage retention ...`` and
``triage report ...``. Heavy imports happen inside commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from model.cli_support import fail, parse_instant
from model.settings import get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

keys_app = typer.Typer(help="API keys: create, list, revoke. A key is shown once, when created.",
                       no_args_is_help=True)
db_app = typer.Typer(help="The service database: migrations.", no_args_is_help=True)
decisions_app = typer.Typer(help="Reviewer decisions: export them as training data.", no_args_is_help=True)
retention_app = typer.Typer(help="Retention: redact report text (and reviewer notes) older than "
                             "TRIAGE_RETENTION_DAYS; decisions, audit and counts are kept.", no_args_is_help=True)
report_app = typer.Typer(help="Transparency reporting: DSA statements of reasons and the transparency report.",
                         no_args_is_help=True)


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).")] = 1,
) -> None:
    """Run the scoring API under uvicorn (model from TRIAGE_MODEL_PATH or the MLflow registry alias)."""
    import uvicorn

    from serving.logs import configure_logging
    from serving.oncall import RotaError, load_rotas
    from serving.policy import PolicyError, load_policy

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        policy = load_policy(settings.routing_policy)
        load_rotas(settings.on_call_rota_dir, policy)
    except (PolicyError, RotaError) as exc:
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
    languages: Annotated[str, typer.Option(
        help="A reviewer's languages, ISO 639-1 codes separated by commas (e.g. de,fr): \"claim next\" gives "
             "them items in these languages first.")] = "",
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
    codes = _languages(languages)
    with transaction(_sessions()) as session:
        key = create_key(session, name.strip(), parsed, codes)
    typer.echo(f"created {key.role.value} key {key.key_id} ({key.name}). It is shown once; store it now:",
               err=True)
    typer.echo(key.secret)


def _languages(value: str) -> list[str]:
    from serving.auth import parse_languages

    try:
        return parse_languages(value)
    except ValueError as exc:
        fail(f"--languages: {exc}")


@keys_app.command("languages")
def keys_languages(
    key_id: Annotated[str, typer.Argument(help="The key id (the part after trg_).")],
    languages: Annotated[str, typer.Argument(help="ISO 639-1 codes separated by commas (e.g. de,fr); \"\" clears "
                                                  "them.")],
) -> None:
    """Set a reviewer's languages: "claim next" gives them items in these languages first."""
    from serving.auth import set_languages
    from serving.db.engine import transaction

    codes = _languages(languages)
    with transaction(_sessions()) as session:
        if not set_languages(session, key_id, codes):
            fail(f"no active key with id {key_id!r}")
    typer.echo(f"{key_id}: languages {', '.join(codes) or 'none'}")


@keys_app.command("list")
def keys_list() -> None:
    """Key ids, names, roles, status and languages (never the secrets)."""
    from serving.auth import list_keys

    with _sessions()() as session:
        for row in list_keys(session):
            status = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
            languages = ",".join(row.languages or []) or "-"
            typer.echo(f"{row.key_id}  {row.role:<8}  {status:<24}  {languages:<12}  {row.name}")


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

    since_at = parse_instant("--since", since) if since is not None else None
    path = out or get_settings().work_dir / "decisions" / "decisions.jsonl"
    summary = export_decisions(_sessions(), path, since=since_at)
    typer.echo(f"wrote {summary.written} decisions to {summary.path} ({summary.skipped_no_language} skipped "
               f"without a language, {summary.skipped_redacted} skipped as redacted by retention, "
               f"{summary.skipped_reversed} skipped as reversed by an appeal, "
               f"{summary.disagreements} reports with disagreeing reviews at confidence 0.5)")


def _retention_days(older_than: int | None) -> int:
    from serving.retention import MAX_DAYS

    if older_than is not None:
        if not 1 <= older_than <= MAX_DAYS:
            fail(f"--older-than: {older_than} is not a number of days from 1 to {MAX_DAYS}")
        return older_than
    days = get_settings().retention_days
    if days is None:
        fail("no retention age: set TRIAGE_RETENTION_DAYS (days) or give --older-than DAYS")
    return days


def _when(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


@retention_app.command("apply")
def retention_apply(
    older_than: Annotated[int | None, typer.Option(
        "--older-than", metavar="DAYS",
        help="Redact reports received more than DAYS days ago [default: TRIAGE_RETENTION_DAYS].")] = None,
    execute: Annotated[bool, typer.Option(
        "--execute", "--yes", help="Act. Without it, a dry run: prints what it would do, changes nothing.")] = False,
    batch_size: Annotated[int, typer.Option(
        metavar="N", help="Reports (and idempotency records) per transaction: a kill loses at most one batch's "
        "work, which the next run does.")] = 500,
    pause: Annotated[float, typer.Option(
        metavar="SECONDS", help="Sleep between batches, to leave a busy database room.")] = 0.0,
) -> None:
    """Redact the text and reviewer notes of reports past retention whose review is closed, in batches, and
    delete idempotency records past their 24 h; a dry run unless --execute."""
    from serving import retention
    from serving.idempotency import KEY_TTL

    days = _retention_days(older_than)
    if not 1 <= batch_size <= retention.MAX_BATCH_SIZE:
        fail(f"--batch-size: {batch_size} is not from 1 to {retention.MAX_BATCH_SIZE}")
    if not 0 <= pause <= 60:
        fail(f"--pause: {pause} is not from 0 to 60 seconds")
    sessions = _sessions()
    with sessions() as session:
        plan = retention.plan(session, days)
    hours = int(KEY_TTL.total_seconds() // 3600)
    typer.echo(f"retention: reports received before {_when(plan.cutoff)} (older than {days} days) whose review "
               "is closed")
    typer.echo(f"  reports             {plan.reports_to_redact:>8} to redact: text becomes "
               f"{retention.REDACTED_TEXT!r} (rows kept; {plan.already_redacted} already redacted)")
    typer.echo(f"  review_decisions    {plan.notes_to_clear:>8} reviewer notes to clear (rows kept)")
    typer.echo(f"  idempotent_actions  {plan.idempotency_keys_to_delete:>8} records older than {hours} h to delete")
    typer.echo("  scores, routes, queue_items, audit_log, webhook_events: untouched")
    typer.echo(f"  held for review     {plan.held_for_review:>8} reports past the cutoff with an open or claimed "
               "queue item: never redacted while waiting for review")
    if not execute:
        typer.echo("dry run: nothing changed; run again with --execute to apply")
        return

    def progress(batch: retention.Batch) -> None:
        if batch.kind == "reports":
            typer.echo(f"batch {batch.number}: redacted {batch.rows} reports (ids {batch.first_id}-{batch.last_id}), "
                       f"cleared {batch.notes_cleared} notes")
        else:
            typer.echo(f"batch {batch.number}: deleted {batch.rows} idempotency records "
                       f"(ids {batch.first_id}-{batch.last_id})")

    done = retention.apply(sessions, days, batch_size=batch_size, pause_seconds=pause, on_batch=progress)
    typer.echo(f"done: redacted {done.reports_redacted} reports in {done.report_batches} batches, cleared "
               f"{done.notes_cleared} notes, deleted {done.idempotency_keys_deleted} idempotency records "
               f"(audit: actor {retention.ACTOR}, {retention.SUBJECT_TYPE} {done.run_id})")


@retention_app.command("status")
def retention_status() -> None:
    """The retention setting, how many reports are redacted, the oldest text kept, and the last run."""
    from serving import retention

    days = get_settings().retention_days
    if days is None:
        typer.echo("retention: TRIAGE_RETENTION_DAYS is not set: report text is kept until "
                   "`triage retention apply --older-than DAYS --execute` removes it")
    else:
        typer.echo(f"retention: TRIAGE_RETENTION_DAYS={days}: `triage retention apply --execute` redacts "
                   f"report text older than {days} days")
    with _sessions()() as session:
        state = retention.status(session)
    typer.echo(f"reports: {state.reports} ({state.redacted} redacted)")
    typer.echo(f"oldest text kept: {_when(state.oldest_kept) if state.oldest_kept else 'none'}")
    if state.last_run is None or state.last_run_at is None:
        typer.echo("last run: none")
    else:
        typer.echo(f"last run: {state.last_run}, last batch committed {_when(state.last_run_at)}, "
                   f"{state.last_run_reports} reports redacted")


# --- triage report ---------------------------------------------------------------------------------------------

_FROM_HELP = "Start of the period, inclusive: an ISO 8601 date (midnight UTC) or datetime (UTC unless it names a zone)."
_TO_HELP = "End of the period, exclusive: an ISO 8601 date (midnight UTC) or datetime (UTC unless it names a zone)."


def _period(start: str, end: str) -> tuple[datetime, datetime]:
    """``--from`` and ``--to`` as UTC datetimes; a clear error naming the option when either is wrong."""
    start_at, end_at = parse_instant("--from", start), parse_instant("--to", end)
    if start_at >= end_at:
        fail(f"--from: {start!r} is not before --to {end!r} (--to is exclusive: --from 2025-01-01 --to 2025-02-01 "
             "is January)")
    return start_at, end_at


def _stamp(at: datetime) -> str:
    """A file-name-safe form of a period bound: ``2025-01-31``, or ``2025-01-31T120000Z`` when not midnight."""
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d") if at == at.replace(hour=0, minute=0, second=0, microsecond=0) \
        else at.strftime("%Y-%m-%dT%H%M%SZ")


@report_app.command("transparency")
def report_transparency(
    start: Annotated[str, typer.Option("--from", metavar="DATE", help=_FROM_HELP)],
    end: Annotated[str, typer.Option("--to", metavar="DATE", help=_TO_HELP)],
    out_dir: Annotated[Path | None, typer.Option(
        "--out-dir", metavar="DIR", help="Folder to write to [default: $TRIAGE_WORK_DIR/reports].")] = None,
) -> None:
    """Counts per DSA category and action, automated vs human, median time to action, appeals and reversals:
    transparency-FROM-TO.csv and .html."""
    from serving.transparency import transparency_report, write_csv, write_html

    start_at, end_at = _period(start, end)
    folder = out_dir or get_settings().work_dir / "reports"
    with _sessions()() as session:
        report = transparency_report(session, start_at, end_at)
    name = f"transparency-{_stamp(start_at)}-{_stamp(end_at)}"
    csv_path, html_path = write_csv(report, folder / f"{name}.csv"), write_html(report, folder / f"{name}.html")
    appeals = report.appeals
    median = report.median_hours_to_action
    rate = appeals.reversal_rate
    typer.echo(f"transparency report {_when(start_at)} to {_when(end_at)} (exclusive)")
    typer.echo(f"  enforcement decisions  {report.enforcement_decisions} "
               f"(median {'n/a' if median is None else f'{median:.1f} h'} from report to action)")
    typer.echo(f"  decisions              {report.automated_decisions} automated, {report.human_decisions} human")
    typer.echo(f"  appeals                {appeals.filed} filed, {appeals.decided} decided, {appeals.upheld} upheld, "
               f"{appeals.reversed} reversed (reversal rate {'n/a' if rate is None else f'{rate:.1%}'})")
    typer.echo(f"wrote {csv_path}")
    typer.echo(f"wrote {html_path}")


@report_app.command("statements")
def report_statements(
    start: Annotated[str, typer.Option("--from", metavar="DATE", help=_FROM_HELP)],
    end: Annotated[str, typer.Option("--to", metavar="DATE", help=_TO_HELP)],
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE",
        help="JSON Lines file to write [default: $TRIAGE_WORK_DIR/reports/statements-FROM-TO.jsonl].")] = None,
) -> None:
    """Every enforcement decision of the period as a DSA Transparency Database statement of reasons (JSON Lines,
    no limit on rows). No report text and no reviewer note is exported."""
    from serving.transparency import export_statements

    start_at, end_at = _period(start, end)
    path = out or get_settings().work_dir / "reports" / f"statements-{_stamp(start_at)}-{_stamp(end_at)}.jsonl"
    summary = export_statements(_sessions(), path, start_at, end_at)
    typer.echo(f"wrote {summary.written} statements of reasons ({_when(start_at)} to {_when(end_at)}, exclusive) "
               f"to {summary.path}")
