"""lib's shape (issue 14): no import cycles, one-way dependencies, small modules with one job."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib" / "fisherlab"
# the rooms of DESIGN.md that must not reach up into training, the run store or the executors
LOW = ("data", "models", "estimators", "per_example_norms", "penalties")
HIGH = ("training", "runs", "sweep", "notebook", "reproduce")


def _room(module: str) -> str:
    return [*module.split("."), ""][1]


def _module(path: Path) -> str:
    rel = path.relative_to(LIB.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """fisherlab modules imported anywhere in the file (module level or deferred)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fisherlab"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("fisherlab"))
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in LIB.rglob("*.py")}
    return {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if node.startswith(nxt + "."):
                continue  # a module importing its own package's __init__ (re-exports only)
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if not state.get(nxt):
                found = visit(nxt, [*path, node])
                if found:
                    return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if not state.get(start):
            found = visit(start, [])
            if found:
                return found
    return None


def test_no_import_cycles(graph):
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_low_rooms_never_import_training_runs_or_sweep(graph):
    bad = [(m, i) for m, deps in graph.items() if _room(m) in LOW for i in deps if _room(i) in HIGH]
    assert not bad, bad


def test_runs_never_imports_sweep(graph):
    assert "fisherlab.sweep" not in graph["fisherlab.runs"]


@pytest.mark.parametrize("path", sorted(LIB.rglob("*.py")), ids=lambda p: _module(p))
def test_modules_are_small_and_say_their_job(path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc.splitlines()[0]) > 10, f"{path.name}: first docstring line = its job"
    assert len(path.read_text().splitlines()) <= 400, f"{path.name} is over 400 lines"
