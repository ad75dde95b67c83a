"""`noah-paper`: the NOAH recipe (Zhang et al., Neural Prompt Search) as a faithful baseline.

A supernet over the `noah` space (adapter, LoRA and VPT dimensions with depths) is trained with
one uniformly random sub-network per batch; an evolutionary search (population, top-k parents,
mutations and crossovers, over-budget children rejected) scores candidates with inherited weights;
the best are then retrained standalone, best first (NOAH retrains the best one; each further
trial here is the next of the ranking). Proxy scores are recorded and reused on resume, so a
resumed search retraces the same evolution without scoring again."""

from __future__ import annotations

import math
import random
from typing import Any

from autopeft.search.evolution import EvolutionConfig, Scored, evolve
from autopeft.search.proxy import ProxyPlan, plan_for, start_scorer
from autopeft.search.proxy_record import cached_scores, record_proxy
from autopeft.search.strategies.base import Context, Proposal, Strategy

# the recipe's evolution at what each fidelity affords on a CPU (paper: NOAH's own settings)
SCALE = {
    "smoke": EvolutionConfig(population=8, parents=3, mutations=4, crossovers=4, generations=2),
    "quick": EvolutionConfig(population=20, parents=5, mutations=10, crossovers=10, generations=4),
    "standard": EvolutionConfig(population=50, parents=10, mutations=25, crossovers=25, generations=8),
    "paper": EvolutionConfig(),
}


class NOAHPaperStrategy(Strategy):
    """Supernet + evolution under the budget, then standalone retraining of the best."""

    name = "noah-paper"
    uses_proxy = True
    default_space = "noah"

    @staticmethod
    def deviations(fidelity: str) -> list[str]:
        """What differs from the paper at this fidelity (recorded in run.json)."""
        cfg, plan = SCALE.get(fidelity, SCALE["quick"]), plan_for(fidelity)
        out = [f"supernet trained {plan.steps} steps (one random sub-network per batch) instead of 500 epochs",
               f"proxy scores on {plan.eval} held-out examples"]
        if cfg != EvolutionConfig():
            out.append(f"evolution with population {cfg.population}, top {cfg.parents}, {cfg.mutations} mutations "
                       f"+ {cfg.crossovers} crossovers, {cfg.generations} generations (paper: 50, 10, 25 + 25, 15)")
        out.append("retraining at the search's fidelity, not 100 epochs")
        return out

    def __init__(self, ctx: Context, supernet_steps: int | None = None, proxy_eval: int | None = None,
                 **options: Any):
        super().__init__(ctx, supernet_steps=supernet_steps, proxy_eval=proxy_eval, **options)
        self.cfg = SCALE.get(ctx.fidelity, SCALE["quick"])
        plan = plan_for(ctx.fidelity, supernet_steps, proxy_eval)
        self.plan = ProxyPlan(steps=plan.steps, eval=plan.eval, batch=plan.batch, sampling="random")
        self.ranking: list[Scored] | None = None
        self.scorer: Any = None

    def ask(self, n: int) -> list[Proposal]:
        """The next best candidates of the evolution's ranking not yet trained standalone."""
        if self.ranking is None:
            self.ranking = [s for s in self._evolve() if math.isfinite(s[0])]
        out: list[Proposal] = []
        while self.ranking and len(out) < n:
            score, assignment, cand = self.ranking.pop(0)
            if self.ctx.is_new(cand):
                out.append(self.open_trial(cand, assignment, proxy_score=score))
        return out

    def _evolve(self) -> list[Scored]:
        cache = cached_scores(self.ctx.proxy_study)

        def score(batch: list[tuple[dict[str, Any], Any]]) -> list[float]:
            todo = [(a, c) for a, c in batch if c.key not in cache]
            self.ctx.status(f"evolution: scoring {len(todo)} candidates with the supernet")
            if todo:
                scorer = self._scorer()
                for (a, c), r in zip(todo, scorer.score([c for _, c in todo]), strict=True):
                    record_proxy(self.ctx.proxy_study, self.ctx.space, c, a, r, self.name,
                                 self.ctx.budget)
                    cache[c.key] = (r.score if r.ok else None, a)
            return [-math.inf if (value := cache[c.key][0]) is None else value for _, c in batch]

        try:
            return evolve(self.ctx.space, self.ctx.budget, score, random.Random(self.ctx.seed), self.cfg)
        finally:
            if self.scorer is not None:
                self.scorer.close()
                self.scorer = None

    def _scorer(self) -> Any:
        if self.scorer is None:
            # NOAH trains its supernet over the whole space; the budget applies in the search
            self.scorer = start_scorer(self.ctx, self.name, None, self.plan)
        return self.scorer

    def info(self) -> dict[str, Any]:
        """Settings for run.json."""
        return super().info() | {"evolution": self.cfg.__dict__, "supernet": self.plan.__dict__}

    def close(self) -> None:
        """Free the supernet's worker."""
        if self.scorer is not None:
            self.scorer.close()
            self.scorer = None
