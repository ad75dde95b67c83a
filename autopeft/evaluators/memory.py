"""Peak memory of one trial: CUDA's max allocated, or on the CPU the rise of the process RSS over
the worker's baseline, sampled in a thread (a reused worker's RSS never goes back down)."""

from __future__ import annotations

import threading
from typing import Any

SAMPLE_S = 0.02


class PeakMemory:
    """Context manager measuring a trial's peak memory in MiB; `kind` says which measure."""

    def __init__(self, device: Any) -> None:
        self.cuda = str(device).startswith("cuda")
        self.kind = "cuda" if self.cuda else "rss-rise"
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
            return self
        import psutil

        self._proc = psutil.Process()
        self._base = self._proc.memory_info().rss
        self._max = self._base
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._max = max(self._max, self._proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            import torch

            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._max = max(self._max, self._proc.memory_info().rss)
        self.peak_mb = (self._max - self._base) / 2**20
