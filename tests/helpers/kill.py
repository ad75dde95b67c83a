"""Killing a search with SIGKILL at a chosen moment (the resume tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable


def run_and_kill(args: list[str], ready: Callable[[], bool], timeout_s: float = 180) -> int:
    """Start `args`, SIGKILL it as soon as `ready()` holds (polled every 20 ms); its return code."""
    proc = subprocess.Popen(args)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            assert proc.poll() is None, "the search ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    return proc.returncode
