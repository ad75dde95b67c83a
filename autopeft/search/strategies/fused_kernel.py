"""BoTorch's fused qLogNEHVI kernel, without the hang a killed process can leave behind.

BoTorch 0.18 builds a C++ kernel for qLogNEHVI the first time a process uses it
(`torch.utils.cpp_extension.load`, into ~/.cache/torch_extensions), and every process then takes that
build folder's lock file (torch's `FileBaton`) to check the build, waiting for as long as the file is
there. The lock names no process: one killed while it holds it (Ctrl-C during a search's first
acquisition; tests/reliability/test_kills.py kills searches on purpose) leaves it behind, and every
later `mobo` search on the machine then waits for it forever (seen on a fresh machine: two searches
sharing a study hung until the test's 300 s ran out).

So before BoTorch loads the kernel, `guard` looks for that lock. Where one is there, this process
does not wait: it tells BoTorch its one load was attempted, and BoTorch keeps its pure-PyTorch path
(the same quantity, its inner loop slower) for this process. A lock older than `STALE_S` is a dead
process's (building takes about a minute on 2 cores) and is removed, so later processes build or
load the kernel again. BoTorch offers no switch for this; `_load_attempted` is its own once-only flag.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

NAME = "logei_fused_ext"  # BoTorch's extension (botorch/acquisition/multi_objective/logei.py)
STALE_S = 600.0


def locks() -> list[Path]:
    """The extension's lock files, where torch puts its build folder (TORCH_EXTENSIONS_DIR/NAME, or
    the default root/<python>_<accelerator>/NAME)."""
    env = os.environ.get("TORCH_EXTENSIONS_DIR")
    if env:
        root = Path(env)
        return [p for p in (root / NAME / "lock",) if p.exists()]
    from torch.utils.cpp_extension import get_default_build_root

    return sorted(Path(get_default_build_root()).glob(f"*/{NAME}/lock"))


def guard() -> str:
    """Keep this process from waiting on a lock: "python" when it now uses BoTorch's pure-PyTorch path
    because a recent lock is there, "unguarded" when BoTorch may load (or build) the kernel as usual,
    "decided" when BoTorch already made its once-only attempt."""
    from botorch.acquisition.multi_objective import logei

    if logei._load_attempted:
        return "decided"
    for lock in locks():
        try:
            age = time.time() - lock.stat().st_mtime
        except FileNotFoundError:  # released meanwhile
            continue
        if age > STALE_S:
            lock.unlink(missing_ok=True)
            continue
        logei._load_attempted = True
        return "python"
    return "unguarded"
