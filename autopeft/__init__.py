"""autopeft: automated parameter-efficient fine-tuning search.

`import autopeft` stays light: the torch-using entry points are loaded on first use.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "apply": ("autopeft.methods.attach", "apply"),
    "count": ("autopeft.methods.count", "count"),
    "Candidate": ("autopeft.methods.candidate", "Candidate"),
    "load_space": ("autopeft.space.loader", "load_space"),
    "search": ("autopeft.search.api", "search"),
    "load": ("autopeft.export.native", "load"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'autopeft' has no attribute {name!r}")


__all__ = list(_LAZY) + ["__version__"]
