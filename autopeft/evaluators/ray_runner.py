"""Ray runner: one actor per worker, each holding a loaded backbone, with its CPU (and GPU) share
and its torch thread count set from that share. A job whose actor dies is retried once on a
fresh actor, then recorded as failed."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.request import url2pathname

from autopeft.errors import UserError
from autopeft.evaluators.job import Job, MoreJobs, OnResult
from autopeft.evaluators.result import FAILED, EvalResult
from autopeft.evaluators.worker import Worker, WorkerSpec

MAX_ATTEMPTS = 2  # the first try and one retry


class _WorkerActor:
    """The body of a Ray actor: a Worker built inside the actor's process."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.worker = Worker(spec)

    def evaluate(self, job: Job) -> EvalResult:
        return self.worker.evaluate(job)

    def threads(self) -> int:
        return self.worker.threads()

    def pid(self) -> int:
        return os.getpid()


class RayRunner:
    """Evaluates jobs on `workers` Ray actors (a local cluster of workers × cpus, or `address`)."""

    def __init__(self, spec: WorkerSpec, workers: int = 2, address: str | None = None,
                 cpus_per_worker: int | None = None, gpus_per_worker: float = 0.0,
                 actor_body: type = _WorkerActor) -> None:
        try:
            import ray
        except ImportError:
            raise UserError("--workers/--ray-address need Ray: pip install 'ray[tune]>=2.60,<2.61'") from None
        self.ray = ray
        local = address is None
        cpus = cpus_per_worker or (max(1, (os.cpu_count() or 1) // workers) if local else 1)
        self.spec = dataclasses.replace(spec, threads=spec.threads or cpus)
        if not ray.is_initialized():
            env = {"OMP_NUM_THREADS": str(self.spec.threads), "TOKENIZERS_PARALLELISM": "false"}
            checkout = _uninstalled_checkout()
            if checkout is not None:  # an installed autopeft is imported by the workers as it is
                env["PYTHONPATH"] = os.pathsep.join(p for p in (checkout, os.environ.get("PYTHONPATH")) if p)
            for key in ("AUTOPEFT_CACHE", "HF_HOME", "HF_HUB_OFFLINE"):
                if key in os.environ:
                    env[key] = os.environ[key]
            kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "include_dashboard": False,
                                      "log_to_driver": False, "configure_logging": False}
            if local:
                # address="local" starts a fresh cluster: a stale one is never joined by accident
                ray.init(address="local", num_cpus=workers * cpus, num_gpus=None, **kwargs)
            else:
                try:
                    ray.init(address=address, **kwargs)
                except Exception as exc:
                    raise UserError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
            self._owns_ray = True
        else:
            self._owns_ray = False
        self._actor_cls: Any = ray.remote(num_cpus=cpus, num_gpus=gpus_per_worker)(actor_body)
        self.actors = [self._new_actor() for _ in range(workers)]

    def _new_actor(self) -> Any:
        return self._actor_cls.remote(self.spec)

    def run(self, jobs: Sequence[Job], on_result: OnResult | None = None,
            more: MoreJobs | None = None) -> list[EvalResult]:
        """Evaluate jobs, one at a time per actor; each free actor takes the next job, or what
        `more()` hands over when none is queued, so no actor waits for the others to finish."""
        ray = self.ray
        jobs = list(jobs)
        results: list[EvalResult | None] = [None] * len(jobs)
        attempts = [0] * len(jobs)
        queue = list(range(len(jobs)))
        running: dict[Any, tuple[int, int]] = {}  # ref -> (job index, actor index)
        free = list(range(len(self.actors)))

        def submit() -> None:
            while free:
                if not queue:
                    new = more() if more is not None else []
                    if not new:
                        break
                    queue.extend(range(len(jobs), len(jobs) + len(new)))
                    jobs.extend(new)
                    results.extend([None] * len(new))
                    attempts.extend([0] * len(new))
                i, a = queue.pop(0), free.pop(0)
                attempts[i] += 1
                running[self.actors[a].evaluate.remote(jobs[i])] = (i, a)

        submit()
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            i, a = running.pop(ref)
            try:
                result = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                self.actors[a] = self._new_actor()  # the process died: its backbone is gone too
                if attempts[i] < MAX_ATTEMPTS:
                    queue.insert(0, i)
                    free.append(a)
                    submit()
                    continue
                result = _died(jobs[i], exc)
            except ray.exceptions.RayTaskError as exc:  # a bug outside the trainer's own guard
                result = _died(jobs[i], exc.cause if exc.cause is not None else exc)
            results[i] = result
            free.append(a)
            if on_result is not None:
                on_result(jobs[i], result)
            submit()
        return [r for r in results if r is not None]

    def threads(self) -> list[int]:
        """torch's thread count in each actor."""
        return self.ray.get([a.threads.remote() for a in self.actors])

    def close(self) -> None:
        """Kill the actors and, when this runner started Ray, shut it down."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self._owns_ray:
            self.ray.shutdown()

    def __enter__(self) -> RayRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _uninstalled_checkout() -> str | None:
    """The folder holding the `autopeft` package that this process imported, when no installed
    distribution provides it (a checkout on sys.path): the workers need it on their path. None when
    autopeft is installed, from a wheel or editable: the workers run this interpreter and import it
    the same way (a site-packages folder on PYTHONPATH would go ahead of the standard library)."""
    package = Path(__file__).resolve().parents[1]
    for dist in metadata.distributions(name="autopeft"):
        if dist.read_text("INSTALLER") is None:  # an egg-info a build left in a source tree
            continue
        if Path(str(dist.locate_file("autopeft"))).resolve() == package:  # a wheel's copy
            return None
        try:  # an editable install names its checkout
            direct = json.loads(dist.read_text("direct_url.json") or "{}")
        except ValueError:
            continue
        url = direct.get("url", "") if direct.get("dir_info", {}).get("editable") else ""
        if url.startswith("file://") and Path(url2pathname(url[len("file://"):])).resolve() == package.parent:
            return None
    return str(package.parent)


def _died(job: Job, exc: BaseException) -> EvalResult:
    first = str(exc).strip().splitlines()
    reason = f"worker died twice: {type(exc).__name__}: {first[0] if first else ''}"
    return EvalResult(status=FAILED, metric="", seed=job.seed, candidate=job.candidate,
                      fidelity=job.fidelity.label(), reason=reason)
