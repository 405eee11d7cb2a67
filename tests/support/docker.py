"""The Dockerfiles of the deployment checks, and their instructions parsed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support import REPO

DOCKERFILES = [REPO / "Dockerfile", REPO / "deploy" / "mlflow" / "Dockerfile"]
INSTALL_SCRIPT = "deploy/install-serving.sh"


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    arguments: str


def instructions(path: Path) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped; ``stage`` counts FROMs."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    out = []
    stage = -1
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        out.append(Instruction(stage, keyword.upper(), " ".join(arguments.split())))
    return out
