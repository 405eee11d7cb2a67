"""TOML configuration files read into pydantic models at start-up (the routing policy, the on-call rotas): a
missing, unparsable or invalid file raises the caller's error type with a message naming the file and each
offending key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def load_toml(path: Path, schema: type[M], what: str, error: type[ValueError]) -> M:
    """``path`` validated as ``schema``; ``error`` ("<path>: invalid <what>: <key>: <problem>; ...") otherwise."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{path}: {what} file not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid TOML: {exc}") from exc
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{path}: invalid {what}: {problems(exc)}") from exc


def problems(exc: ValidationError) -> str:
    """Each error as ``key.path: message``; a whole-model validator's message (no key) as it is, without pydantic's
    "Value error, " prefix (such a message names its keys itself)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" if err["loc"]
        else str(err["msg"]).removeprefix("Value error, ")
        for err in exc.errors())
