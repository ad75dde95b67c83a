"""Cheap, low-fidelity scores for many candidates: a weight-sharing supernet (the real one) or a
noisy copy of the synthetic objective (tests and strategy benchmarks).

Strategies that screen with a proxy (`auto`, `noah-paper`) get a `ProxyScorer` from the
evaluator (`evaluator.proxy(...)`), train it once, and score candidates in batches."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from autopeft.evaluators.result import OK, EvalResult
from autopeft.methods.candidate import Candidate
from autopeft.space.space import BoundSpace


@dataclass(frozen=True)
class ProxyPlan:
    """How much to invest in the proxy: supernet steps and the dev examples a proxy score uses."""

    steps: int = 200
    eval: int = 500
    batch: int = 32
    sampling: str = "sandwich"  # or "random" (NOAH's one random sub-network per batch)


# Per fidelity: the supernet trains longer, and a proxy reads more dev examples, when each
# standalone trial is longer. A proxy on 200 examples is a small fraction of a `quick` trial on the
# 2-core CPU (bf16); 500 examples rank better but cost more (experiments/supernet/README.md, "Cost").
PLANS = {"smoke": ProxyPlan(steps=20, eval=200), "quick": ProxyPlan(steps=200, eval=200),
         "standard": ProxyPlan(steps=400, eval=500), "paper": ProxyPlan(steps=1500, eval=1000)}


def proxy_value(score: float | None, metrics: dict[str, Any] | None, rank_by: str) -> float | None:
    """What a strategy ranks a proxy-scored candidate by, higher better: the negated dev loss
    (`rank_by="loss"`) or the task metric (`"score"`; also the fallback when there is no loss).

    On a few hundred dev examples the loss ranks candidates like standalone training does far
    better than accuracy (experiments/supernet/README.md, "Rank correlation"): accuracy after a
    short shared training is coarse and nearly flat."""
    if rank_by == "loss":
        loss = (metrics or {}).get("loss")
        if loss is not None and math.isfinite(loss):
            return -float(loss)
    return score


def plan_for(fidelity: str, steps: int | None = None, eval: int | None = None) -> ProxyPlan:
    """The proxy plan that goes with a fidelity label (custom fidelities get `quick`'s), with
    optional overrides of the supernet's steps and the proxy's eval size."""
    plan = PLANS.get(fidelity, PLANS["quick"])
    return ProxyPlan(steps=steps or plan.steps, eval=eval or plan.eval, batch=plan.batch, sampling=plan.sampling)


class ProxyScorer(Protocol):
    """Trains once, then scores candidates with inherited weights."""

    steps_done: int
    train_wall_s: float

    def train(self, on_step: Any = None) -> None: ...

    def score(self, candidates: list[Candidate]) -> list[EvalResult]: ...

    def close(self) -> None: ...


def start_scorer(ctx: Any, strategy: str, budget: int | None, plan: ProxyPlan) -> ProxyScorer:
    """The context's proxy, trained (or restored from its checkpoint), telling the user as it goes."""
    factory = ctx.proxy_factory
    if factory is None:
        raise RuntimeError(f"{strategy} needs an evaluator that provides a supernet proxy")
    ctx.status("loading the supernet")
    scorer = factory(ctx.space, budget, plan, ctx.seed)
    scorer.train(on_step=lambda s, t: ctx.status(f"training the supernet {s}/{t}") if s % 5 == 0 or s == t else None)
    return scorer


class SupernetProxy:
    """A supernet on its own worker (its own copy of the backbone, so standalone trials on the
    evaluator's workers never see the supernet's modules), checkpointed in the run directory."""

    def __init__(self, worker_spec: Any, space: BoundSpace, budget: int | None, plan: ProxyPlan, seed: int,
                 checkpoint_dir: Path):
        from autopeft.evaluators.supernet import SupernetPlan, SupernetTrainer
        from autopeft.evaluators.worker import Worker

        self.worker = Worker(worker_spec)
        self.trainer = SupernetTrainer(
            self.worker.model, self.worker.task, space, budget,
            SupernetPlan(steps=plan.steps, eval=plan.eval, batch=plan.batch, sampling=plan.sampling,
                         head_lr=worker_spec.head_lr),
            seed=seed, device=self.worker.device, checkpoint_dir=checkpoint_dir, kernels=self.worker.kernels,
            attention=worker_spec.attention)

    @property
    def steps_done(self) -> int:
        return self.trainer.step

    @property
    def train_wall_s(self) -> float:
        return self.trainer.train_wall_s

    def train(self, on_step: Any = None) -> None:
        """Train the supernet to its planned steps (continuing a checkpoint)."""
        self.trainer.train(on_step=on_step)

    def score(self, candidates: list[Candidate]) -> list[EvalResult]:
        """Proxy scores with inherited weights; failures come back as failed results."""
        return [self.trainer.proxy(c) for c in candidates]

    def close(self) -> None:
        self.trainer.close()


class SyntheticProxy:
    """The synthetic objective plus noise: a proxy whose rank correlation is known (for tests)."""

    def __init__(self, objective: Any, noise: float = 0.03, seed: int = 0, delay_s: float = 0.0):
        self.objective, self.noise, self.seed, self.delay_s = objective, noise, seed, delay_s
        self.steps_done = 0
        self.train_wall_s = 0.0

    def train(self, on_step: Any = None) -> None:
        self.steps_done = 1

    def score(self, candidates: list[Candidate]) -> list[EvalResult]:
        out = []
        for c in candidates:
            t0 = time.perf_counter()
            if self.delay_s:
                time.sleep(self.delay_s)
            s = self.objective.score(c) + random.Random(f"proxy-{c.key}-{self.seed}").gauss(0, self.noise)
            r = EvalResult(OK, self.objective.metric, score=s, metrics={"score": s}, fidelity="supernet",
                           candidate=c.to_json())
            r.wall_s = time.perf_counter() - t0
            out.append(r)
        return out

    def close(self) -> None:
        """Nothing to release."""
