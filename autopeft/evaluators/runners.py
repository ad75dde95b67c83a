"""Runners execute jobs: in-process (the default) or on Ray actors (`--workers N`,
`--ray-address ADDR`). Results come back in job order; `on_result` sees each as it finishes, and
`more()`, when given, is asked for the next jobs whenever a worker is free and none is queued."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from autopeft.evaluators.job import Job, MoreJobs, OnResult
from autopeft.evaluators.result import EvalResult
from autopeft.evaluators.worker import Worker, WorkerSpec


class Runner(Protocol):
    """Evaluates jobs; `close()` frees its workers."""

    def run(self, jobs: Sequence[Job], on_result: OnResult | None = None,
            more: MoreJobs | None = None) -> list[EvalResult]: ...

    def close(self) -> None: ...


class InProcessRunner:
    """One worker in this process, created on first use and reused for every job."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self._worker: Worker | None = None

    @property
    def worker(self) -> Worker:
        """The loaded worker (loads the backbone and the task on first access)."""
        if self._worker is None:
            self._worker = Worker(self.spec)
        return self._worker

    def run(self, jobs: Sequence[Job], on_result: OnResult | None = None, more: MoreJobs | None = None,
            progress: Callable[[int, int, int, float], None] | None = None) -> list[EvalResult]:
        """Evaluate jobs one after another (then what `more()` hands over, until it has none);
        `progress(job, step, total, loss)` follows the training."""
        results: list[EvalResult] = []
        queue = list(jobs)
        while queue or (more is not None and (queue := list(more()))):
            job, i = queue.pop(0), len(results)
            step_cb = (lambda s, t, loss, i=i: progress(i, s, t, loss)) if progress is not None else None
            result = self.worker.evaluate(job, step_cb)
            results.append(result)
            if on_result is not None:
                on_result(job, result)
        return results

    def close(self) -> None:
        self._worker = None

    def __enter__(self) -> InProcessRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_runner(spec: WorkerSpec, workers: int = 1, ray_address: str | None = None,
                gpus_per_worker: float | None = None) -> Runner:
    """In-process for one local worker; Ray for several, or for a cluster address.

    Without `gpus_per_worker`, local workers share this machine's GPUs evenly when the spec may use CUDA."""
    if workers <= 1 and ray_address is None:
        return InProcessRunner(spec)
    from autopeft.evaluators.ray_runner import RayRunner

    if gpus_per_worker is None:
        gpus_per_worker = 0.0
        if spec.device in ("auto", "cuda") and ray_address is None:
            import torch

            if torch.cuda.is_available():
                gpus_per_worker = torch.cuda.device_count() / max(1, workers)

    return RayRunner(spec, workers=max(1, workers), address=ray_address, gpus_per_worker=gpus_per_worker)
