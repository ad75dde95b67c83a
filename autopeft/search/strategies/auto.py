"""`auto`: a supernet screens many candidates cheaply, Bayesian optimisation on the true
(standalone) objective uses the proxy scores as a low-fidelity source, and only promising, diverse
candidates are trained standalone.

1. The supernet is trained once within the budget (sandwich rule) and scores a pool of feasible
   candidates (the largest, the smallest and a space-filling set of random ones) with inherited
   weights.
2. The first standalone trials are diverse and promising: the pool is cut into bins of the
   (log) parameter range and the best proxy score of each bin is trained, smallest first.
3. Then `mobo`'s acquisition (qLogNEHVI over (score, -params), maximised by local search over the
   whole space) runs on a multi-task GP (BoTorch's `MultiTaskGP`, an ICM kernel): task 0 is every
   proxy score, task 1 the standalone scores, and the model predicts task 1. It learns from the
   data how far the proxy is to be trusted (the inter-task correlation; each task has its own
   mean, scale and noise): where the proxy agrees with standalone training its many points shape
   the model between the few trials, where it does not the model falls back on the trials alone.
   Each pick is proxy-scored before it is trained, so the two tasks share points.

An earlier `auto` read the proxy as an input feature of a GP over the screened pool only;
experiments/search_auto_vs_mobo compares them. Proxy scores are recorded (kind `proxy`,
fidelity `supernet`) and reused on resume.
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import numpy as np

from autopeft.methods.candidate import Candidate
from autopeft.search.proxy import plan_for, proxy_value, start_scorer
from autopeft.search.proxy_record import cached_scores, record_proxy
from autopeft.search.strategies.base import Context, Proposal
from autopeft.search.strategies.mobo import MOBOStrategy

# proxies are ranked by their dev loss (see search.proxy.proxy_value and experiments/supernet)
RANK_BY = "loss"
SCREEN = {"smoke": 16, "quick": 64, "standard": 160, "paper": 400}  # first pool, per fidelity
LOW, HIGH = 0, 1  # the multi-task GP's tasks: proxy scores, standalone scores
Entry = tuple[dict[str, Any], Candidate, float]  # assignment, candidate, proxy score


class AutoStrategy(MOBOStrategy):
    """Supernet screening + multi-fidelity BO (a multi-task GP over proxy and standalone scores)."""

    name = "auto"
    uses_proxy = True
    default_start = "maxmin"  # its first trials are the supernet's diverse, promising proxies (`ask`)

    def __init__(self, ctx: Context, screen: int | None = None, draw: int = 4, n_init: int | None = None,
                 supernet_steps: int | None = None, proxy_eval: int | None = None, multitask: bool = True,
                 **options: Any):
        super().__init__(ctx, n_init=n_init if n_init is not None else 4, **options)
        self.options.update(screen=screen or SCREEN.get(ctx.fidelity, SCREEN["quick"]), draw=draw,
                            multitask=multitask)
        self.plan = plan_for(ctx.fidelity, supernet_steps, proxy_eval)
        self.pool: dict[str, Entry] = {}  # every proxy-scored candidate (the low-fidelity data)
        self.cache: dict[str, tuple[float | None, dict[str, Any] | None]] | None = None
        self.scorer: Any = None
        self.screened = False
        self.initial: list[Entry] | None = None  # the diverse first trials, chosen once

    # --- the proxy ------------------------------------------------------------------------
    def _score(self, items: list[tuple[dict[str, Any], Candidate]]) -> None:
        """Proxy-score candidates not yet in the pool (from the record when it has them)."""
        if self.cache is None:
            self.cache = cached_scores(self.ctx.proxy_study, RANK_BY)
        todo = [(a, c) for a, c in items if c.key not in self.pool and c.key not in self.cache]
        if todo:
            scorer = self._scorer()
            for i, (a, c) in enumerate(todo):
                self.ctx.status(f"supernet proxy {i + 1}/{len(todo)}")
                r = scorer.score([c])[0]
                record_proxy(self.ctx.proxy_study, self.ctx.space, c, a, r, self.name,
                             self.ctx.budget)
                self.cache[c.key] = (proxy_value(r.score, r.metrics, RANK_BY) if r.ok else None, a)
        for a, c in items:
            score = self.cache.get(c.key, (None, None))[0]
            if score is not None and math.isfinite(score):
                self.pool[c.key] = (a, c, float(score))

    def _scorer(self) -> Any:
        if self.scorer is None:
            self.scorer = start_scorer(self.ctx, self.name, self.ctx.budget, self.plan)
        return self.scorer

    def _screen(self) -> None:
        """Proxy-score the first pool: the largest and the smallest candidate, then out of `draw`
        times as many random ones a set spread over the (log) parameter range (equal shares of
        `2 * n_init` bins) and, within each bin, space-filling (greedy max-min in the encoding).

        Space-filling rather than the random draws themselves: a random feasible candidate under a
        small budget is mostly sparse (few layers), and candidates spread thinly over many layers
        scored well at `quick` (experiments/search_auto_vs_mobo/cpu_v3: `mobo`'s space-filling
        start found them, `auto`'s random pool did not). Stratified by size: max-min alone picks
        the densest, hence largest, candidates, and the diverse first trials need every size."""
        if self.screened:
            return
        rng = random.Random(self.ctx.seed)
        space, budget, k = self.ctx.space, self.ctx.budget, self.options["screen"]
        fixed = [space.largest_within(budget, rng, tries=100)]
        smallest = space.smallest()
        if smallest is not None:
            fixed.append(smallest)
        seen = {c.key for _, c in fixed}
        draws: list[tuple[dict[str, Any], Candidate]] = []
        for _ in range(k * self.options["draw"] * 20):
            if len(draws) >= k * self.options["draw"]:
                break
            a, c = space.sample(rng, budget, mode="mixed")
            if c.key not in seen:
                seen.add(c.key)
                draws.append((a, c))
        items = fixed + [draws[i] for i in self.stratified_picks(draws, fixed, k - len(fixed), bins=2 * self.n_init)]
        # on resume, the trained candidates' proxies (scored when they were picked) rejoin the pool
        items += [(o.assignment, o.candidate) for o in self.history if o.assignment is not None]
        self._score(items)
        self.screened = True

    # --- proposals ------------------------------------------------------------------------
    def ask(self, n: int) -> list[Proposal]:
        """Diverse, promising proxies first; then acquisition maxima of the multi-task GP."""
        self._screen()
        done = [o for o in self.history if o.assignment is not None]
        out: list[Proposal] = []
        if len(done) < self.n_init:
            if self.initial is None:
                self.initial = self._diverse(self.n_init - len(done))
            while self.initial and len(out) < n:
                a, c, s = self.initial.pop(0)
                if self.ctx.is_new(c):
                    out.append(self.open_trial(c, a, proxy_value=s))
        if len(out) < n:
            picks = self._acquire(n - len(out), pending=list(self.running.values()))
            self._score([(a, c) for a, c in picks if self.ctx.fits(c)])
            for a, c in picks:
                out.append(self.open_trial(c, a, proxy_value=self.pool[c.key][2] if c.key in self.pool else None))
        return out

    def _diverse(self, k: int) -> list[Entry]:
        """The best proxy in each of `n_init` log-parameter bins, smallest bin first (then the rest
        by proxy score). Smallest first: a small trained candidate claims the front's area below
        it at once, so the hypervolume rises from the first trial (the set is the same either way)."""
        entries = [e for e in self.pool.values() if self.ctx.is_new(e[1]) and self.ctx.fits(e[1])]
        if not entries:
            return []
        logs = np.array([math.log1p(self.ctx.space.params(c)) for _, c, _ in entries])
        edges = np.linspace(logs.min(), logs.max() + 1e-9, self.n_init + 1)
        picks: list[Entry] = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            inside = [e for e, v in zip(entries, logs, strict=True) if lo <= v < hi]
            if inside:
                picks.append(max(inside, key=lambda e: e[2]))
        rest = sorted((e for e in entries if e not in picks), key=lambda e: e[2], reverse=True)
        return (picks + rest)[:k]

    # --- the model --------------------------------------------------------------------------
    def fit_model(self, x, y):
        """A multi-task GP: the proxy scores (task 0) beside the standalone ones (task 1); the
        model's output is task 1. With fewer than 3 proxies, or `multitask=False` (an ablation: the
        proxy then only chooses the first trials and scores the picks), `mobo`'s GP on the trials.

        The proxy values (negated dev losses) are put on the standalone scores' mean and spread
        before fitting, so BoTorch's default (joint) standardisation treats both tasks alike;
        its stratified one fails on a posterior without the task column (BoTorch 0.18)."""
        import torch
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import MultiTaskGP
        from gpytorch.mlls import ExactMarginalLogLikelihood

        low = list(self.pool.values())
        if len(low) < 3 or not self.options["multitask"]:
            return super().fit_model(x, y)
        xl = torch.tensor(self.enc.encode_many([(a, c) for a, c, _ in low]), dtype=x.dtype)
        yl = torch.tensor([[s] for _, _, s in low], dtype=y.dtype)
        spread = float(y.std()) if len(y) > 1 and float(y.std()) > 1e-9 else 1.0
        yl = (yl - yl.mean()) / max(float(yl.std()), 1e-9) * spread + y.mean()
        train_x = torch.cat([torch.cat([xl, torch.full_like(xl[:, :1], LOW)], -1),
                             torch.cat([x, torch.full_like(x[:, :1], HIGH)], -1)])
        gp = MultiTaskGP(train_x, torch.cat([yl, y]), task_feature=x.shape[-1], output_tasks=[HIGH])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
        return gp

    def close(self) -> None:
        """Free the supernet's worker."""
        if self.scorer is not None:
            self.scorer.close()
            self.scorer = None

    def info(self) -> dict[str, Any]:
        """Settings for run.json."""
        return super().info() | {"supernet": self.plan.__dict__, "screen": self.options["screen"],
                                 "model": "MultiTaskGP (proxy scores, standalone scores)" if self.options["multitask"]
                                 else "SingleTaskGP (standalone scores)"}

