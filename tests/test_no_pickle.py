"""Nothing in the package reads or writes pickle (issue 24): a pickle loaded from a run directory or an
export someone sent is code run on load. Weights, checkpoints and caches are safetensors; records
are JSON, CSV and the Optuna study. A static check over every module, with a negative control."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "autopeft"
MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}
CALLS = {("torch", "load"), ("torch", "save"), ("pd", "read_pickle"), ("pandas", "read_pickle")}
METHODS = {"to_pickle"}


def pickle_uses(source: str) -> list[str]:
    """What in `source` reads or writes pickle: imports, torch.load/save, pandas' pickle I/O,
    numpy loads with allow_pickle=True."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in MODULES:
            found.append(node.module or "")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
            if (owner, node.func.attr) in CALLS or node.func.attr in METHODS:
                found.append(f"{owner}.{node.func.attr}")
            if any(k.arg == "allow_pickle" and isinstance(k.value, ast.Constant) and k.value.value
                   for k in node.keywords):
                found.append(f"{owner}.{node.func.attr}(allow_pickle=True)")
    return found


def test_the_check_finds_what_it_looks_for():
    assert pickle_uses("import pickle\nfrom joblib import dump\ntorch.save(x, p)\ndf.to_pickle(p)\n"
                       "np.load(p, allow_pickle=True)\n") == [
        "pickle", "joblib", "torch.save", "df.to_pickle", "np.load(allow_pickle=True)"]
    assert pickle_uses("from safetensors.torch import load_file\nload_file(p)\n") == []


def test_no_module_reads_or_writes_pickle():
    offenders = {str(p.relative_to(PACKAGE)): uses for p in sorted(PACKAGE.rglob("*.py"))
                 if (uses := pickle_uses(p.read_text()))}
    assert offenders == {}
