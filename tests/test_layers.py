"""The package's layers point one way: no import cycles (counting imports inside functions too),
no arrow from `methods/` to `space/`, and a torch-free catalogue (method specs, registry, anatomy,
candidates and their counts) that `space/` builds on."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "autopeft"
CATALOGUE = ("autopeft.methods.registry", "autopeft.methods.candidate", "autopeft.methods.count",
             "autopeft.methods.anatomy", "autopeft.space.space", "autopeft.space.binding", "autopeft.space.loader")


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package modules it imports, anywhere in its file (a lazy import inside a
    function is still a dependency); `from pkg import sub` counts both `pkg` and `pkg.sub`."""
    files = {_name(p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            graph[module] |= {t for t in targets if t in files and t != module}
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, or None."""
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        return list(exc.args[1])
    return None


def test_the_parser_sees_real_imports_and_the_check_sees_a_cycle():
    graph = import_graph()
    assert "autopeft.methods.registry" in graph["autopeft.space.binding"]  # a module-level import
    assert "autopeft.evaluators.ray_runner" in graph["autopeft.evaluators.runners"]  # one inside a function
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None  # negative control
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    assert cycle_in(import_graph()) is None


def test_methods_do_not_import_space():
    graph = import_graph()
    arrows = sorted((m, t) for m, ts in graph.items() if m.startswith("autopeft.methods")
                    for t in ts if t.startswith("autopeft.space"))
    assert arrows == []


@pytest.mark.parametrize("module", CATALOGUE)
def test_the_catalogue_and_spaces_import_without_torch(module):
    code = f"import sys; sys.modules['torch'] = None; import {module}; print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
