"""The ``triage`` command. Each package adds its own sub-commands; heavy imports happen inside commands."""

from __future__ import annotations

import typer

from evaluation.analyse import analyse_app
from evaluation.cli import evaluate_command
from evaluation.promote import promote_command, rollback_command
from serving.bulk.command import score_command
from serving.cli import db_app, decisions_app, keys_app, report_app, retention_app, serve_command
from serving.oncall_cli import oncall_app
from training.cli import data_app, export_command, train_command

app = typer.Typer(
    name="triage",
    help="Triage: ML-assisted risk scoring and routing of content reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Help texts are plain text: "[default: ...]" is not rich markup to drop.
    rich_markup_mode=None,
)
app.add_typer(data_app, name="data")
app.command("train")(train_command)
app.command("export")(export_command)
app.command("evaluate")(evaluate_command)
app.command("promote")(promote_command)
app.command("rollback")(rollback_command)
app.add_typer(analyse_app, name="analyse")
app.command("serve")(serve_command)
app.command("score")(score_command)
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(decisions_app, name="decisions")
app.add_typer(retention_app, name="retention")
app.add_typer(report_app, name="report")
app.add_typer(oncall_app, name="oncall")


@app.command("taxonomy")
def taxonomy() -> None:
    """Print the taxonomy: version, risk tiers, policy areas and their DSA categories."""
    from model.taxonomy import get_taxonomy

    tax = get_taxonomy()
    typer.echo(f"taxonomy {tax.version} (DSA statement-of-reasons schema {tax.dsa.schema_version})\n")
    for tier in tax.tiers:
        typer.echo(f"{tier.name.value:<8} {tier.definition}")
    typer.echo("")
    for area in tax.areas:
        dsa = area.dsa_category or "-"
        typer.echo(f"{area.name.value:<22} {area.default_tier.value:<7} {dsa}")


def main() -> None:
    """The ``triage`` entry point: a bad setting stops any command with one line per invalid variable, naming it
    (the value is not shown: it may be a secret), and exit status 2 — no traceback."""
    from pydantic import ValidationError

    try:
        app()
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        for error in exc.errors():
            name = "TRIAGE_" + "_".join(str(part) for part in error["loc"]).upper() if error["loc"] else "settings"
            typer.echo(f"error: {name}: {error['msg']}", err=True)
        raise SystemExit(2) from None
