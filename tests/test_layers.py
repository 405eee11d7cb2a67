"""The packages are layers: each imports only the ones below it, lazily imported modules included.

    model  <-  serving  <-  evaluation  <-  training  <-  triage (the CLI root)

``model`` is the ground floor (taxonomy, schemas, settings, the artifact and its scorer, the corpus reader,
the MLflow registry); serving needs only it; evaluation measures models with serving's decision pipeline;
training uses evaluation's metrics; ``triage`` wires every command. ``benchmarks`` may import anything and
nothing imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("model", "serving", "evaluation", "training", "triage")
TOP = "benchmarks"


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(first-party package, line) of every absolute import in ``path``, inside functions too."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            package = name.split(".")[0]
            if package in (*LAYERS, TOP):
                found.add((package, node.lineno))
    return found


def upward_imports(package: str) -> list[str]:
    allowed = set(LAYERS[: LAYERS.index(package) + 1])
    return sorted(f"{path.relative_to(REPO)}:{line} imports {imported}"
                  for path in (REPO / package).rglob("*.py")
                  for imported, line in imported_packages(path) if imported not in allowed)


@pytest.mark.parametrize("package", LAYERS)
def test_a_layer_imports_only_the_layers_below_it(package: str) -> None:
    assert upward_imports(package) == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from serving.app import create_app\n    import training.train\n")
    assert imported_packages(module) == {("serving", 2), ("training", 3)}


def test_the_layers_are_the_installed_packages() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", TOP}
    assert packages == set(LAYERS)
