"""Which code a run's numbers came from: a hash of every module the training loop imports.

A run key (``TrainConfig.key()``) names *what* was trained; it cannot see a change in *how*. A
refactor that moves an operation or reorders a reduction changes a run's numbers in the last
digits while its key stays the same, and a run store then mixes runs of both versions silently.
``numerics_fingerprint`` hashes the code of ``fisherlab.training`` and of every fisherlab module
it imports, directly or not (models, data, estimators, penalties, measurements, summary, ...),
one hash per module. The hash is of the module's syntax tree with docstrings removed, so comments,
docstrings and formatting do not count; any change to a statement, name, constant or annotation
does.

The run store records the fingerprint in ``meta.json`` and warns when a run is resumed or reused
by code whose fingerprint differs, naming the modules (``fisherlab.runs``).
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

__all__ = ["changed_modules", "numerics_fingerprint"]

PACKAGE = Path(__file__).resolve().parent
ROOT_MODULE = "fisherlab.training"


def _module_file(name: str) -> Path | None:
    """The source file of the fisherlab module ``name`` (a dotted name), if it is one."""
    parts = name.split(".")
    if parts[0] != "fisherlab":
        return None
    base = PACKAGE.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Dotted names of the fisherlab modules the module ``name`` imports (absolute or relative,
    at any depth of its code)."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            # ``from fisherlab.data import cache`` imports a submodule, not a name
            names.update(f"{module}.{a.name}" for a in node.names)
    return {n for n in names if _module_file(n) is not None}


def _strip_docstrings(tree: ast.Module) -> ast.Module:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _code_hash(tree: ast.Module) -> str:
    return hashlib.sha256(ast.dump(_strip_docstrings(tree)).encode()).hexdigest()[:12]


@cache
def numerics_fingerprint(root: str = ROOT_MODULE) -> dict[str, str]:
    """``{module: hash}`` over ``root`` and the fisherlab modules it imports, transitively.

    Module names are dotted (``fisherlab.step``); a hash is the first 12 hex digits of the
    sha256 of the module's syntax tree without docstrings.
    """
    seen: dict[str, str] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        todo.extend(_imports(tree, name, path.name == "__init__.py"))
        seen[name] = _code_hash(tree)
    return dict(sorted(seen.items()))


def changed_modules(then: dict[str, str], now: dict[str, str]) -> list[str]:
    """Modules added, removed or changed between two fingerprints, sorted."""
    return sorted(m for m in then.keys() | now.keys() if then.get(m) != now.get(m))
