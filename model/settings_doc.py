"""The configuration reference, generated from the settings class:
``python -m model.settings_doc > docs/configuration.md``.

``render(Settings)`` is pure: every field with its environment variable, type (and allowed range), default and
description, secrets marked. A test compares ``docs/configuration.md`` with it, so the reference cannot go
stale: add or change a setting, then run the command above.
"""

from __future__ import annotations

import enum
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import AnyUrl, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

REGENERATE = "python -m model.settings_doc > docs/configuration.md"
#: Defaults that are paths inside the checkout are shown relative to it, so the file is the same everywhere.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

_SIMPLE = {str: "string", bool: "boolean", int: "integer", float: "number", Path: "path"}


def env_name(settings_cls: type[BaseSettings], name: str) -> str:
    """The environment variable that sets field ``name``."""
    prefix = settings_cls.model_config.get("env_prefix", "")
    field = settings_cls.model_fields[name]
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    variable = f"{prefix}{alias or name}"
    return variable if settings_cls.model_config.get("case_sensitive", False) else variable.upper()


def is_secret(field: FieldInfo) -> bool:
    return any(t in (SecretStr, SecretBytes) for t in _leaves(field.annotation))


def describe_type(field: FieldInfo) -> str:
    """``number, >= 0, <= 300``; ``one of: json, text``; ``string, optional`` (when it may be unset)."""
    optional = type(None) in _leaves(field.annotation)
    kinds = [_type_name(t) for t in _members(field.annotation) if t is not type(None)]
    text = " or ".join(kinds) or "any"
    text += "".join(f", {c}" for c in _constraints(field))
    return f"{text}, optional" if optional else text


def describe_default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "computed"
    default = field.default
    if default is PydanticUndefined:
        return "required"
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, Path):
        if default.is_absolute() and default.is_relative_to(PROJECT_ROOT):
            return f"`{default.relative_to(PROJECT_ROOT).as_posix()}` in the installation"
        return f"`{default.as_posix()}`"
    if isinstance(default, enum.Enum):
        return f"`{default.value}`"
    if isinstance(default, (SecretStr, SecretBytes)):
        return "(secret)"
    return f"`{default}`"


def render(settings_cls: type[BaseSettings]) -> str:
    """The Markdown configuration reference of ``settings_cls``, its fields in declaration order."""
    prefix = settings_cls.model_config.get("env_prefix", "")
    env_file = settings_cls.model_config.get("env_file")
    hidden = settings_cls.model_config.get("hide_input_in_errors", False)
    fields = settings_cls.model_fields
    secrets = [env_name(settings_cls, name) for name, field in fields.items() if is_secret(field)]
    lines = [
        "# Configuration reference",
        "",
        f"<!-- Generated from `{settings_cls.__module__}.{settings_cls.__qualname__}` by `{REGENERATE}`. "
        "Do not edit by hand: a test fails when this file and the settings disagree. -->",
        "",
        f"Every setting is read once, at start, from an environment variable (prefix `{prefix}`)"
        + (f" or from a `{env_file}` file in the working directory" if isinstance(env_file, str) else "")
        + "; the environment wins. A value that is out of range or of the wrong type stops the process at start "
        "with the variable named" + (" (the value itself is never echoed)" if hidden else "") + ". Booleans accept "
        "`true`/`false`, `1`/`0`, `yes`/`no`. Relative paths are taken from the working directory.",
        "",
    ]
    if secrets:
        lines += [
            "**Secrets** (marked *secret* below): " + ", ".join(f"`{s}`" for s in secrets) + ". The process holds "
            "them as masked values (printed as `**********`); pass them from a secret store and never commit them. "
            "URLs (database, MLflow, webhooks) may also carry a password or token: treat them alike.",
            "",
        ]
    lines += [f"{len(fields)} settings.", "", "| variable | type | default | description |", "|---|---|---|---|"]
    for name, field in fields.items():
        variable = f"`{env_name(settings_cls, name)}`"
        kind = describe_type(field) + (", *secret*" if is_secret(field) else "")
        description = field.description or "(no description)"
        lines.append(f"| {variable} | {_cell(kind)} | {_cell(describe_default(field))} | {_cell(description)} |")
    return "\n".join(lines) + "\n"


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a union (``X | None``), else the annotation itself."""
    if get_origin(annotation) in (Union, types.UnionType):
        return list(get_args(annotation))
    return [annotation]


def _leaves(annotation: Any) -> list[Any]:
    return [leaf for member in _members(annotation) for leaf in ([member] if not get_args(member) else
                                                                  [member, *get_args(member)])]


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "one of: " + ", ".join(f"`{v}`" for v in get_args(annotation))
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return "one of: " + ", ".join(f"`{m.value}`" for m in annotation)
        if issubclass(annotation, (SecretStr, SecretBytes)):
            return "string"
        if issubclass(annotation, AnyUrl):
            schemes = getattr(annotation, "_constraints", None)
            allowed = getattr(schemes, "allowed_schemes", None)
            return f"URL ({', '.join(allowed)})" if allowed else "URL"
        for kind, label in _SIMPLE.items():
            if issubclass(annotation, kind):
                return label
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _constraints(field: FieldInfo) -> list[str]:
    out = []
    for item in field.metadata:
        if isinstance(item, Ge):
            out.append(f">= {item.ge}")
        elif isinstance(item, Gt):
            out.append(f"> {item.gt}")
        elif isinstance(item, Le):
            out.append(f"<= {item.le}")
        elif isinstance(item, Lt):
            out.append(f"< {item.lt}")
        elif isinstance(item, MinLen):
            out.append(f"at least {item.min_length} characters")
        elif isinstance(item, MaxLen):
            out.append(f"at most {item.max_length} characters")
        elif getattr(item, "pattern", None):
            out.append(f"matching `{item.pattern}`")
    return out


def _cell(text: str) -> str:
    """One Markdown table cell: no line breaks, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def main() -> None:
    from model.settings import Settings

    print(render(Settings), end="")


if __name__ == "__main__":
    main()
