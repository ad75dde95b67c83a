"""An export appears whole or not at all.

Every format is written into a hidden sibling of `--out` (`.NAME.partial`), checked there (each
writer reloads what it wrote), and only then moved into place with one rename. A kill, a full disk
or a failed check part-way leaves `--out` as it was: never an export whose config names weights
that are half written. Exporting again over an earlier export replaces it; a directory holding
anything else is refused rather than emptied. Leftovers of a killed export are cleared next time.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autopeft.errors import UserError

# files whose presence marks a directory as an export autopeft wrote (native, peft/adapters, config only)
MARKERS = ("autopeft_config.json", "autopeft_export.json", "candidate.json")


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A fresh directory to write the export into; moved to `out` when the block ends without error."""
    out = Path(out)
    if out.exists() and not _replaceable(out):
        raise UserError(f"--out {out} holds files that are not an autopeft export; give a new or empty directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage, old = out.parent / f".{out.name}.partial", out.parent / f".{out.name}.old"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.rename(out, old)  # a kill between these two renames leaves the new export at .NAME.partial
    os.rename(stage, out)
    shutil.rmtree(old, ignore_errors=True)


def _replaceable(out: Path) -> bool:
    """An empty directory, or an earlier export (one of its marker files)."""
    if not out.is_dir():
        return False
    names = {p.name for p in out.iterdir()}
    return not names or bool(names & set(MARKERS))
