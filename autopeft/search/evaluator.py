"""What the study loop needs from an evaluator, and a synthetic one for tests and experiments.

The loop hands a batch of jobs to `Evaluator.evaluate` and records each result as it arrives
(`on_result`), so a trial finished early in a batch is never lost when a later one is killed.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Protocol

from autopeft.evaluators.job import Job, MoreJobs, OnResult
from autopeft.evaluators.result import FAILED, OK, EvalResult
from autopeft.methods.candidate import Candidate


class Evaluator(Protocol):
    """What the search calls. `evaluate` and `report` call `on_result` once per job, as each finishes."""

    metric: str
    chance: float  # the score of predicting the majority class (0 for MCC/correlations)
    num_labels: int | None  # the task's labels (None: the space's default); sizes the head in the counts

    def evaluate(self, jobs: list[Job], on_result: OnResult, more: MoreJobs | None = None) -> None:
        """Train and score each job on its split (dev), then what `more()` hands over while it has
        any (asked whenever a worker is free and no job is queued)."""

    def report(self, jobs: list[Job], on_result: OnResult) -> None:
        """Score trials on the reporting split (test), from their kept weights where there are some."""

    def proxy(self, space: Any, budget: int | None, plan: Any, seed: int, checkpoint_dir: Path) -> Any:
        """A supernet `ProxyScorer` over `space`, checkpointed in `checkpoint_dir` (strategies that screen)."""

    def weights_metadata(self, candidate: Candidate, state: dict[str, Any]) -> dict[str, str]:
        """What a kept trial's weights file records beside its tensors (export/weights.py)."""

    def close(self) -> None:
        """Release workers and loaded models."""


class SyntheticEvaluator:
    """A known function of the candidate, no training: for tests and strategy benchmarks.

    The score rises with a saturating, method-weighted capacity (each method has its own value per
    parameter and a bonus for being spread across layers), minus a small penalty for mixing too
    many methods, plus optional noise -- enough structure that a model should beat random search.
    A job that stops early (a multi-fidelity rung) scores lower, by the share of the planned steps it
    trained, and hands back a stand-in checkpoint (its step), which a continuing job reports in its
    metrics (`resumed_at`), so tests can follow a candidate up the rungs.
    """

    metric = "accuracy"
    num_labels = None
    proxy_noise = 0.03  # how far the proxy's scores stray from the objective

    def __init__(self, noise: float = 0.0, delay_s: float = 0.0, fail_every: int = 0, chance: float = 0.4,
                 seed: int = 0, keep_state: bool = False):
        self.noise, self.delay_s, self.fail_every, self.chance, self.seed = noise, delay_s, fail_every, chance, seed
        self.keep_state = keep_state  # return a tiny tensor dict, to exercise --keep-weights
        self.calls = 0

    def score(self, cand: Candidate, seed: int = 0) -> float:
        """The noiseless objective plus seeded noise."""
        weights = {"lora": 1.0, "parallel_adapter": 0.8, "serial_adapter": 0.6, "prefix": 0.5,
                   "ia3": 0.9, "bitfit": 0.7, "prompt": 0.3}
        layers = cand.layers
        n = max(1, len(layers))
        cap = 0.0
        for method, w in weights.items():
            sizes = [sum(layer[method].values()) for layer in layers if method in layer]
            if sizes:
                spread = len(sizes) / n
                cap += w * math.log1p(sum(sizes)) * (0.5 + spread)
        quality = 1 - math.exp(-cap / 12)
        penalty = 0.02 * max(0, len(cand.methods) - 3)
        value = self.chance + (0.95 - self.chance) * quality - penalty
        if self.noise:
            import random

            value += random.Random(f"{cand.key}-{seed}-{self.seed}").gauss(0, self.noise)
        return value

    def evaluate(self, jobs: list[Job], on_result: OnResult, more: MoreJobs | None = None) -> None:
        """Score each job in turn (sleeping `delay_s` to mimic training), then `more()`'s."""
        queue = list(jobs)
        while queue or (more is not None and (queue := list(more()))):
            job = queue.pop(0)
            self.calls += 1
            t0 = time.perf_counter()
            if self.delay_s:
                time.sleep(self.delay_s)
            if self.fail_every and self.calls % self.fail_every == 0:
                res = EvalResult(FAILED, self.metric, reason="synthetic failure", fidelity=job.fidelity.label(),
                                 seed=job.seed, candidate=job.candidate)
            else:
                s = self.score(job.parsed(), job.seed)
                planned = job.fidelity.total_steps(1000)
                stop = job.fidelity.stop_steps(1000)
                s = self.chance + (s - self.chance) * (stop / planned) ** 0.3
                metrics = {"accuracy": s, "loss": 1.0 - s}  # a loss as a trainer's (ties are broken on it)
                if job.resume is not None:
                    metrics["resumed_at"] = float(job.resume.decode().removeprefix("synthetic step "))
                res = EvalResult(OK, self.metric, score=s, metrics=metrics, split=job.split, steps=stop,
                                 fidelity=job.fidelity.label(), seed=job.seed, candidate=job.candidate)
                if job.keep_checkpoint:
                    res.checkpoint = f"synthetic step {stop}".encode()
                if self.keep_state:
                    import torch

                    res.state = {"classifier.weight": torch.full((2, 2), s)}
            res.wall_s = time.perf_counter() - t0
            on_result(job, res)

    def report(self, jobs: list[Job], on_result: OnResult) -> None:
        """Scores on the reporting split: the objective with another noise draw (after `delay_s`, like
        a trial's training, so tests can stop a search while it scores its front)."""
        for job in jobs:
            time.sleep(self.delay_s)
            s = self.score(job.parsed(), seed=job.seed + 1000)
            on_result(job, EvalResult(OK, self.metric, score=s, metrics={"accuracy": s}, split=job.split))

    def proxy(self, space, budget, plan, seed, checkpoint_dir):
        """A noisy copy of this objective as the low-fidelity proxy (for tests and benchmarks)."""
        from autopeft.search.proxy import SyntheticProxy

        return SyntheticProxy(self, noise=self.proxy_noise, seed=seed)

    def weights_metadata(self, candidate: Candidate, state: dict[str, Any]) -> dict[str, str]:
        """Only the candidate: there is no model to fingerprint."""
        return {"candidate": candidate.to_json()}

    def close(self) -> None:
        """Nothing to release."""


__all__ = ["Evaluator", "FAILED", "Job", "OK", "OnResult", "SyntheticEvaluator"]
