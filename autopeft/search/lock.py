"""One search writes a run directory at a time.

A second `search --resume RUN` while another process still writes RUN would run the same trials
twice and interleave trials.csv: it is refused in one line. The lock is an exclusive `flock` on
`RUN/.lock`, which the kernel releases when its holder exits, however it ends (a SIGKILLed search
leaves no stale lock to clear by hand); the file holds the holder's pid for the message. POSIX
only: where `fcntl` is missing (Windows) no lock is taken.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from autopeft.errors import UserError

LOCK = ".lock"


@contextmanager
def run_dir_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the run directory's lock for the block; one clear error if another process holds it."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    path = Path(run_dir) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise UserError(f"{run_dir} is being written by another search (pid {holder}); "
                            "wait for it to end or stop it, then resume") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def held(run_dir: str | Path) -> bool:
    """Whether a search holds `run_dir`'s lock now (this process's own lock included): a shared
    study's trials are left to their owner while it runs (search/sharing.py)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock is ever taken, so none can be seen
        return False
    try:
        fd = os.open(Path(run_dir) / LOCK, os.O_RDONLY)
    except OSError:  # no lock file: no search ever ran there
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
