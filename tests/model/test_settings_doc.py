"""The docs stay true: the configuration reference is generated from the settings class (and the committed file
matches it), and every `triage` command the guides show exists with the options they use."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from model.settings import Settings
from model.settings_doc import PROJECT_ROOT, REGENERATE, env_name, render

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "docs" / "configuration.md"
#: `triage` and its subcommands, then the rest of the command up to a comment, a table cell or a closing backtick.
COMMAND = re.compile(r"(?:^|[`\s(])triage ((?:[a-z][\w-]*)(?: [a-z][\w-]*)?)([^`|#\n]*)")


class Example(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", hide_input_in_errors=True)

    threads: int | None = Field(default=None, ge=1, le=8, description="Worker threads; by default one per core.")
    mode: Literal["fast", "safe"] = Field(default="safe", description="Which | way\nto go.")
    token: SecretStr | None = Field(default=None, min_length=32, description="Signs things.")
    policy: Path = Field(default=PROJECT_ROOT / "serving" / "routing_policy.toml", description="Policy file.")
    hook: AnyHttpUrl | None = Field(default=None, description="Where events go.")
    strict: bool = Field(default=True, description="Refuse doubtful input.")
    undocumented: int = 3


def row(markdown: str, variable: str) -> list[str]:
    [line] = [line for line in markdown.splitlines() if line.startswith(f"| `{variable}` |")]
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_the_committed_reference_is_what_the_settings_class_generates() -> None:
    assert REFERENCE.is_file(), f"docs/configuration.md is missing: run `{REGENERATE}`"
    assert REFERENCE.read_text(encoding="utf-8") == render(Settings), (
        f"docs/configuration.md is out of date with model/settings.py: run `{REGENERATE}`")


def test_every_setting_is_in_the_reference_with_a_description() -> None:
    markdown = render(Settings)
    for name, field in Settings.model_fields.items():
        assert field.description, f"Settings.{name} has no description: add one (it is the operator's documentation)"
        assert row(markdown, env_name(Settings, name))[3] == " ".join(field.description.split()).replace("|", "\\|")


def test_each_field_shows_its_variable_type_range_default_and_whether_it_is_secret() -> None:
    markdown = render(Example)
    assert row(markdown, "DEMO_THREADS") == ["`DEMO_THREADS`", "integer, >= 1, <= 8, optional", "unset",
                                             "Worker threads; by default one per core."]
    assert row(markdown, "DEMO_MODE")[1:3] == ["one of: `fast`, `safe`", "`safe`"]
    assert row(markdown, "DEMO_MODE")[3] == "Which \\| way to go.", "one table row: pipes escaped, lines joined"
    assert row(markdown, "DEMO_TOKEN")[1] == "string, at least 32 characters, optional, *secret*"
    assert "Secrets** (marked *secret* below): `DEMO_TOKEN`." in markdown
    assert row(markdown, "DEMO_POLICY")[2] == "`serving/routing_policy.toml` in the installation", (
        "a default inside the checkout is shown relative to it, so the file is the same on every machine")
    assert row(markdown, "DEMO_HOOK")[1] == "URL (http, https), optional"
    assert row(markdown, "DEMO_STRICT")[1:3] == ["boolean", "true"]
    assert row(markdown, "DEMO_UNDOCUMENTED")[3] == "(no description)"
    assert "7 settings." in markdown and "never echoed" in markdown
    assert str(PROJECT_ROOT) not in markdown


def test_the_module_prints_the_reference() -> None:
    result = subprocess.run([sys.executable, "-m", "model.settings_doc"], cwd=REPO, capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", "TRIAGE_LOG_LEVEL": "DEBUG"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == render(Settings), "the environment does not change the reference"


def test_every_triage_command_in_the_guides_exists_with_its_options() -> None:
    import typer

    from triage.cli import app

    root = typer.main.get_command(app)
    checked, problems = 0, []
    for doc in sorted((REPO / "docs").glob("*.md")):
        for line in doc.read_text(encoding="utf-8").splitlines():
            for match in COMMAND.finditer(line):
                command: Any = root
                for word in match.group(1).split():
                    if word not in getattr(command, "commands", {}):
                        break
                    command = command.commands[word]
                where = f"{doc.name}: {match.group(0).strip()}"
                if command is root or hasattr(command, "commands"):
                    problems.append(f"{where}: no such command")
                    continue
                options = {o for param in command.params for o in (*param.opts, *param.secondary_opts)}
                problems += [f"{where}: no option {o}" for o in re.findall(r"(?<![\w-])--[a-z][\w-]*", match.group(2))
                             if o not in options]
                checked += 1
    assert checked > 40, "the guides show the commands"
    assert not problems, "\n".join(problems)
