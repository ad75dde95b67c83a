"""A lock of BoTorch's kernel build that a killed process left never makes a search wait."""

import os
import threading
import time

import pytest

from autopeft.search.strategies import fused_kernel


@pytest.fixture
def logei(monkeypatch, tmp_path):
    """BoTorch's logei module as a fresh process sees it, its build folder in `tmp_path`."""
    from botorch.acquisition.multi_objective import logei

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(logei, "_load_attempted", False)
    monkeypatch.setattr(logei, "_C", None)
    return logei


def _lock(tmp_path, age_s: float):
    lock = tmp_path / fused_kernel.NAME / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    os.utime(lock, (time.time() - age_s, time.time() - age_s))
    return lock


def test_a_recent_lock_sends_the_process_to_the_pure_pytorch_path(logei, tmp_path):
    lock = _lock(tmp_path, age_s=5)
    assert fused_kernel.guard() == "python" and logei._load_attempted and lock.exists()
    done = threading.Thread(target=logei._try_load_fused_kernel, daemon=True)
    done.start()
    done.join(timeout=10)
    assert not done.is_alive() and logei._C is None  # returned at once: nothing waited on the lock
    assert fused_kernel.guard() == "decided"


def test_a_stale_lock_is_removed_and_botorch_left_to_load_as_usual(logei, tmp_path):
    """The negative control: an old lock is a dead process's, not a reason to give up the kernel."""
    lock = _lock(tmp_path, age_s=fused_kernel.STALE_S + 60)
    assert fused_kernel.guard() == "unguarded" and not lock.exists() and not logei._load_attempted
    assert fused_kernel.guard() == "unguarded"  # and without any lock, the same
